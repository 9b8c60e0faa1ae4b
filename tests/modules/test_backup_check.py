"""upkeep_backup_check through real ansible-playbook runs: a directory of real dumps and a local
HTTPS server in the Supabase Management API's shape, with the token kept out of every output."""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import time

import pytest

from ansible.module_utils.upkeep import backup
from tests.support.playbook import run_tasks
from tests.unit.backup.support import restore_server, source_db, supabase_api  # noqa: F401 (fixtures)

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


def test_a_failed_restore_verification_makes_that_backup_critical(source_db, restore_server, pg_cluster,  # noqa: F811
                                                                   tmp_path):
    # Supabase-style databases carry event triggers; only a superuser may create one, so a restore
    # by an ordinary CREATEDB role fails on it although every byte of the archive is intact.
    with pg_cluster.connect(source_db["database"]) as conn:
        conn.execute("CREATE FUNCTION public.ddl_watch() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN END $$")
        conn.execute("CREATE EVENT TRIGGER ddl_watch ON ddl_command_end EXECUTE FUNCTION public.ddl_watch()")
    store = tmp_path / "store"
    store.mkdir()
    backup.make_backup(dict(source_db, directory=str(store), backup_name="app"))
    tasks = [{"name": "Restore-verify", "upkeep_restore_verify": dict(restore_server, backup=str(store))},
             {"name": TASK, "upkeep_backup_check": {"sources": [{"name": "nightly", "path": str(store)}]}}]
    run = run_tasks(tasks, tmp_path=tmp_path / "run")
    verified = run.one("Restore-verify").res["checks"][0]
    assert verified["status"] == "critical" and 'permission denied to create event trigger "ddl_watch"' \
        in verified["summary"], verified
    integrity = {c["id"]: c for c in run.one(TASK).res["checks"]}["backup.integrity"]
    assert integrity["status"] == "critical", integrity
    title = integrity["findings"][0]["title"]
    assert title.startswith("The last restore verification of app-") and " failed (20" in title
    assert 'permission denied to create event trigger "ddl_watch"' in title


def test_a_backup_minutes_old_says_minutes(source_db, tmp_path):  # noqa: F811
    store = tmp_path / "store"
    store.mkdir()
    dump = store / "nightly.dump"
    subprocess.run([backup.find_tool("pg_dump"), "-Fc", "-h", source_db["host"], "-p", str(source_db["port"]),
                    "-U", source_db["user"], "-f", str(dump), source_db["database"]],
                   env=dict(os.environ, PGPASSWORD=source_db["password"]), check=True)
    stamp = time.time() - 0.034 * 3600  # 2 min 2 s
    os.utime(dump, (stamp, stamp))
    task = {"name": TASK, "upkeep_backup_check": {"sources": [{"name": "nightly", "path": str(store)}]}}
    started = time.time()
    freshness = run_tasks([task], tmp_path=tmp_path / "run").one(TASK).res["checks"][0]
    finished = time.time()
    # The age is taken during the playbook run, which a loaded machine can stretch past the half
    # minute that turns "2 min" into "3 min": expect the whole minutes the run spanned.
    minutes = re.fullmatch(r"newest backup is (\d+) min old \(RPO objective 24 h\)", freshness["summary"])
    assert minutes, freshness
    assert round((started - stamp) / 60) <= int(minutes.group(1)) <= round((finished - stamp) / 60), freshness
    assert freshness["metrics"]["newest_age_hours"] < 0.1
