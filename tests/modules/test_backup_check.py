"""upkeep_backup_check through real ansible-playbook runs: a directory of real dumps and a local
HTTPS server in the Supabase Management API's shape, with the token kept out of every output."""

from __future__ import annotations

import json
import pathlib

import pytest

from ansible.module_utils.upkeep import backup
from tests.support.playbook import run_tasks
from tests.unit.backup.support import source_db, supabase_api  # noqa: F401 (fixtures)

pytestmark = pytest.mark.slow
TASK = "Check the backups"


def _everything_said(run):
    files = [p.read_text(errors="replace") for p in pathlib.Path(run.artifacts_dir).rglob("*") if p.is_file()]
    return "\n".join([run.stdout, json.dumps([r.res for r in run.results])] + files)


def test_directory_and_supabase_sources_in_one_call(source_db, supabase_api, tmp_path):  # noqa: F811
    store = tmp_path / "store"
    store.mkdir()
    backup.make_backup(dict(source_db, directory=str(store), backup_name="app"))
    task = {"name": TASK, "upkeep_backup_check": {"rpo_hours": 24, "sources": [
        {"inventory_host": "db1", "name": "nightly", "path": str(store)},
        {"inventory_host": "db2", "name": "supabase", "type": "supabase", "project_ref": supabase_api.project_ref,
         "access_token": supabase_api.token, "api_url": supabase_api.url, "ca_file": supabase_api.ca_file}]}}
    for check_mode in (False, True):
        run = run_tasks([task], check=check_mode, tmp_path=tmp_path / ("run%d" % check_mode))
        result = run.one(TASK)
        assert not result.failed, run.stdout[-3000:]
        got = [(c["host"], c["id"], c["status"]) for c in result.res["checks"]]
        assert got == [("db1", "backup.freshness", "ok"), ("db1", "backup.integrity", "ok"), ("db1", "backup.size", "ok"),
                       ("db1", "backup.encryption", "ok"), ("db2", "backup.freshness", "critical"),
                       ("db2", "backup.integrity", "critical")]
        assert result.res["changed"] is False
        assert supabase_api.token not in _everything_said(run)


def test_bad_parameters_fail_with_a_clear_message(tmp_path):
    task = {"name": TASK, "upkeep_backup_check": {"sources": [{"type": "supabase", "project_ref": "x"}]}}
    run = run_tasks([task], tmp_path=tmp_path / "run")
    result = run.one(TASK)
    assert result.failed and result.res["msg"] == \
        "sources[0].project_ref and access_token: both required for a supabase source"
    assert "Traceback" not in run.stdout
