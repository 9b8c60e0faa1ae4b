"""upkeep_app_recovery, upkeep_dr_summary and the upkeep_dr_drill role through real
ansible-playbook runs: the sandbox web app over HTTPS (https_app), a real PostgreSQL cluster
(pg_cluster) backed up with upkeep_pg_backup and restored into a scratch database."""

from __future__ import annotations

import contextlib
import json
import pathlib
import shutil
import sys
import tempfile

import psycopg
import pytest
import yaml

from tests.support.fixtures_pg import APP_PASSWORD, SUPERUSER_PASSWORD
from tests.support.playbook import run_tasks

pytestmark = pytest.mark.slow

TASK = "Recover the app"
ROLE_RESTORE = "Restore the newest backup into a scratch database on the staging server and verify it"
ROLE_APP = "Run the application recovery procedure and time the return to healthy"
ROLE_SUMMARY = "Summarise the drill against its recovery objectives"


@contextlib.contextmanager
def health(app, status):
    before = app.state.health_status
    app.state.health_status = status
    try:
        yield
    finally:
        app.state.health_status = before


def _recovery(app, **extra):
    options = {"command": ["true"], "health_url": app.url.rstrip("/") + "/api/health", "ca_file": app.ca_file,
               "json_field": "status", "json_value": "healthy", "poll_interval_s": 0.1, "health_deadline_s": 3}
    options.update(extra)
    return options


def _everything_said(run):
    files = [p.read_text(errors="replace") for p in pathlib.Path(run.artifacts_dir).rglob("*") if p.is_file()]
    return "\n".join([run.stdout, json.dumps([item.res for item in run.results])] + files)


def test_module_measures_time_to_healthy_and_reports_the_action(https_app, tmp_path):
    with health(https_app, "healthy"):
        run = run_tasks([{"name": TASK, "upkeep_app_recovery": _recovery(https_app)}], tmp_path=tmp_path)
    result = run.one(TASK)
    assert not result.failed, run.stdout[-3000:]
    check = result.res["checks"][0]
    assert (check["id"], check["status"]) == ("dr.app_recovery", "ok")
    assert check["metrics"]["time_to_healthy_ms"] > 0 and check["dr"]["passed"] is True
    assert result.res["changed"] is True  # a recovery command ran


def test_never_healthy_is_a_critical_result_not_a_failed_task(https_app, tmp_path):
    with health(https_app, "degraded"):
        run = run_tasks([{"name": TASK, "upkeep_app_recovery": _recovery(https_app, health_deadline_s=0.5)}],
                        tmp_path=tmp_path)
    result = run.one(TASK)
    assert not result.failed and result.res["checks"][0]["status"] == "critical"


def test_check_mode_runs_no_command_and_says_so(https_app, tmp_path):
    marker = tmp_path / "recovered"
    run = run_tasks([{"name": TASK, "upkeep_app_recovery": _recovery(https_app, command=["touch", str(marker)])}],
                    check=True, tmp_path=tmp_path / "run")
    result = run.one(TASK)
    assert not marker.exists()
    assert result.res["changed"] is False and result.res["checks"][0]["status"] == "unknown"
    assert "not run" in result.res["checks"][0]["summary"]


def test_bad_parameters_fail_with_a_message_naming_them(https_app, tmp_path):
    run = run_tasks([{"name": TASK, "upkeep_app_recovery": _recovery(https_app, health_url="ftp://x/health")}],
                    tmp_path=tmp_path)
    result = run.one(TASK)
    assert result.failed and result.res["msg"].startswith("health_url: must be an http(s) URL")
    assert "Traceback" not in run.stdout


# -- the drill role ---------------------------------------------------------------------------

@pytest.fixture
def drill_source(pg_cluster, pg_database):
    """A database with a little data, its connection options, and a backup directory."""
    with psycopg.connect(pg_cluster.dsn(pg_database, "upkeep_app", APP_PASSWORD)) as conn:
        conn.execute("CREATE TABLE orders (id serial PRIMARY KEY, item text, qty int)")
        conn.execute("INSERT INTO orders (item, qty) SELECT 'item ' || g, g FROM generate_series(1, 500) g")
    backups = tempfile.mkdtemp(prefix="upkeep-drill-")
    source = {"host": pg_cluster.host, "port": pg_cluster.port, "user": "upkeep_app", "password": APP_PASSWORD,
              "database": pg_database}
    yield source, backups
    shutil.rmtree(backups, ignore_errors=True)


def _drill(https_app, pg_cluster, source, backups, tmp_path, check=False, command=("true",)):
    staging = {"name": "staging", "host": pg_cluster.host, "port": pg_cluster.port, "user": "postgres",
               "password": SUPERUSER_PASSWORD, "database": "postgres"}
    play = [{"name": "DR drill", "hosts": "all", "gather_facts": False,
             "pre_tasks": [{"name": "Back up the source", "upkeep_pg_backup": dict(source, directory=backups,
                                                                                   backup_name="app"),
                            # Made for real even in a check-mode run, so the drill has a backup to (not) restore.
                            "check_mode": False, "delegate_to": "localhost", "run_once": True}],
             "roles": ["upkeep_dr_drill"]}]
    playbook = tmp_path / "drill.yml"
    playbook.write_text(yaml.safe_dump(play, sort_keys=False))
    host = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
            "upkeep_dr_drill_backup": backups, "upkeep_dr_drill_staging_server": staging,
            "upkeep_dr_drill_source": source, "upkeep_dr_drill_recovery_command": list(command),
            "upkeep_dr_drill_health_url": https_app.url.rstrip("/") + "/api/health",
            "upkeep_dr_drill_health_ca_file": https_app.ca_file, "upkeep_dr_drill_poll_interval_s": 0.2}
    return run_tasks(None, inventory={"all": {"hosts": {"app1": host}}}, playbook=playbook, check=check,
                     tmp_path=tmp_path / "run")


def _fingerprint(pg_cluster, source):
    with psycopg.connect(pg_cluster.dsn(source["database"], source["user"], source["password"])) as conn:
        return conn.execute("SELECT count(*), md5(string_agg(o::text, ',' ORDER BY id)), "
                            "(SELECT last_value FROM orders_id_seq) FROM orders o").fetchone()


def test_the_drill_measures_every_phase_against_its_objective(https_app, pg_cluster, drill_source, tmp_path):
    source, backups = drill_source
    before = _fingerprint(pg_cluster, source)
    with health(https_app, "healthy"):
        run = _drill(https_app, pg_cluster, source, backups, tmp_path)
    assert _fingerprint(pg_cluster, source) == before  # the drill only ever read the source
    restore = run.one(ROLE_RESTORE)
    assert not restore.failed, run.stdout[-3000:]
    assert restore.res["checks"][0]["status"] == "ok", restore.res["checks"][0]["summary"]
    assert run.one(ROLE_APP).res["checks"][0]["status"] == "ok"
    checks = {c["id"]: c for c in run.one(ROLE_SUMMARY).res["checks"]}
    assert [checks[i]["status"] for i in ("dr.database_recovery", "dr.rpo", "dr.drill")] == ["ok", "ok", "ok"]
    assert checks["dr.database_recovery"]["metrics"]["measured_ms"] > 0
    assert checks["dr.rpo"]["metrics"]["measured_ms"] < 5 * 60000  # the backup was taken moments ago
    assert [p["status"] for p in checks["dr.drill"]["phases"]] == ["ok", "ok", "ok", "unknown", "unknown"]
    assert checks["dr.monitoring"]["status"] == checks["dr.communication"]["status"] == "unknown"
    said = _everything_said(run)
    assert SUPERUSER_PASSWORD not in said and APP_PASSWORD not in said
    assert _scratch_databases(pg_cluster) == 0  # the scratch database was dropped


def _scratch_databases(pg_cluster):
    with psycopg.connect(pg_cluster.dsn("postgres", "postgres", SUPERUSER_PASSWORD)) as conn:
        return conn.execute("SELECT count(*) FROM pg_database WHERE datname LIKE 'upkeep_scratch_%'").fetchone()[0]


def test_the_drill_in_check_mode_measures_nothing_and_passes_nothing(https_app, pg_cluster, drill_source, tmp_path):
    source, backups = drill_source
    marker = tmp_path / "recovered"
    run = _drill(https_app, pg_cluster, source, backups, tmp_path, check=True, command=["touch", str(marker)])
    assert not marker.exists()
    assert run.one(ROLE_RESTORE).res["checks"][0]["summary"].startswith("check mode")
    assert _scratch_databases(pg_cluster) == 0
    assert run.one(ROLE_APP).res["checks"][0]["status"] == "unknown"
    checks = {c["id"]: c for c in run.one(ROLE_SUMMARY).res["checks"]}
    assert checks["dr.database_recovery"]["status"] == "unknown"
    assert checks["dr.drill"]["status"] == "unknown" and checks["dr.drill"]["dr"]["passed"] is None
