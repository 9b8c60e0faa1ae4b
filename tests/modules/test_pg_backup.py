"""upkeep_pg_backup through real ansible-playbook runs against a real PostgreSQL cluster."""

from __future__ import annotations

import json
import os
import pathlib

import pytest

from tests.support.fixtures_pg import APP_PASSWORD
from tests.support.playbook import run_tasks
from tests.unit.backup.support import restore_server, source_db  # noqa: F401 (fixtures)

pytestmark = pytest.mark.slow
TASK = "Back up the database"


def _everything_said(run):
    files = [p.read_text(errors="replace") for p in pathlib.Path(run.artifacts_dir).rglob("*") if p.is_file()]
    return "\n".join([run.stdout, json.dumps([r.res for r in run.results])] + files)


def test_backup_with_manifest_and_no_password_anywhere(source_db, tmp_path):  # noqa: F811
    store = tmp_path / "store"
    store.mkdir()
    task = {"name": TASK, "upkeep_pg_backup": dict(source_db, name="app-db", directory=str(store), backup_name="app",
                                                   retention={"keep_last": 2})}
    run = run_tasks([task, task, task], tmp_path=tmp_path / "run")
    results = run.for_task(TASK)
    assert len(results) == 3 and not any(r.failed for r in results), run.stdout[-3000:]
    res = results[-1].res
    assert res["changed"] is True and res["status"] == "ok"
    check = res["checks"][0]
    assert check["id"] == "backup.run" and check["target"] == "app-db" and check["metrics"]["tables"] == 3
    manifests = sorted(p.name for p in store.iterdir() if p.name.endswith(".manifest.json"))
    assert len(manifests) == 2  # keep_last 2 (+ the newest good one, which is among them)
    assert APP_PASSWORD not in _everything_said(run)


def test_check_mode_makes_no_backup(source_db, tmp_path):  # noqa: F811
    store = tmp_path / "store"
    store.mkdir()
    task = {"name": TASK, "upkeep_pg_backup": dict(source_db, directory=str(store), backup_name="app")}
    run = run_tasks([task], check=True, tmp_path=tmp_path / "run")
    res = run.one(TASK).res
    assert not run.one(TASK).failed and res["changed"] is False
    assert res["checks"][0]["summary"].startswith("check mode: would dump")
    assert os.listdir(store) == []


def test_bad_parameters_fail_with_a_clear_message(source_db, tmp_path):  # noqa: F811
    task = {"name": TASK, "upkeep_pg_backup": dict(source_db, directory=str(tmp_path), backup_name="no/slashes")}
    run = run_tasks([task], tmp_path=tmp_path / "run")
    result = run.one(TASK)
    assert result.failed
    assert result.res["msg"].startswith("backup_name: must be 1-64 letters")
    assert "Traceback" not in run.stdout
    task = {"name": TASK, "upkeep_pg_backup": dict(source_db, directory=str(tmp_path), jobs=4)}
    result = run_tasks([task], tmp_path=tmp_path / "run2").one(TASK)
    assert result.failed and "jobs: pg_dump runs parallel jobs only with format=directory" in result.res["msg"]
