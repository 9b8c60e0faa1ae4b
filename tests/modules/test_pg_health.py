"""upkeep_pg_health and the upkeep_postgres role's health task through real ansible-playbook runs
against a real PostgreSQL cluster on loopback."""

from __future__ import annotations

import json
import pathlib
import sys
import time

import psycopg
import pytest
import yaml

from tests.support.fixtures_pg import APP_PASSWORD, APP_ROLE
from tests.support.playbook import run_tasks

pytestmark = pytest.mark.slow

HEALTH = "Check database health"
ROLE_TASK = "Check the deep health of every database of the play"
WRONG_PASSWORD = "wrong-pg-pw-83c1d2"


def _local(**host_vars):
    return dict({"ansible_connection": "local", "ansible_python_interpreter": sys.executable}, **host_vars)


def _everything_said(run):
    files = [path.read_text(errors="replace") for path in pathlib.Path(run.artifacts_dir).rglob("*") if path.is_file()]
    return "\n".join([run.stdout, json.dumps([item.res for item in run.results])] + files)


@pytest.fixture
def idle_session(pg_cluster, pg_database):
    """A session of the test database left idle in a transaction (a real leak)."""
    conn = psycopg.connect(pg_cluster.dsn(pg_database, APP_ROLE, APP_PASSWORD), application_name="leaky-worker")
    conn.execute("SELECT 1")
    time.sleep(0.6)
    yield conn.info.backend_pid
    conn.close()


@pytest.mark.parametrize("check_mode", [False, True])
def test_fleet_run_finds_the_idle_transaction_and_the_bad_password(pg_app, pg_database, idle_session, check_mode, tmp_path):
    task = {"name": HEALTH, "upkeep_pg_health": dict(pg_app, database=pg_database, idle_in_transaction_warning_s=0.3, databases=[
        {"inventory_host": "db1", "name": "app-db"},
        {"inventory_host": "db2", "name": "app-db-wrong", "password": WRONG_PASSWORD}])}
    run = run_tasks([task], check=check_mode, tmp_path=tmp_path)
    result = run.one(HEALTH)
    assert not result.failed, run.stdout[-3000:]
    checks = result.res["checks"]
    assert result.res["changed"] is False
    good = {c["id"]: c for c in checks if c["target"] == "app-db"}
    assert len(good) == 10 and all(c["host"] == "db1" for c in good.values())
    idle = good["pg.idle_in_transaction"]
    assert idle["status"] == "warning" and idle["findings"][0]["resource"] == "pid %d" % idle_session
    bad = [c for c in checks if c["target"] == "app-db-wrong"]
    assert [(c["id"], c["status"], c["host"], c["connect_error"]) for c in bad] == [("pg.health", "critical", "db2", "auth_failed")]
    assert result.res["status"] == "critical"
    said = _everything_said(run)
    assert APP_PASSWORD not in said and WRONG_PASSWORD not in said


@pytest.mark.parametrize("options, message", [
    ({"long_query_warning_s": 600, "long_query_critical_s": 60}, "long_query_warning_s (600) must not exceed long_query_critical_s (60)"),
    ({"checks": ["pg.nope"]}, "value of checks must be one or more of"),
    ({"databases": [{"port": 0}]}, "databases[0].port: must be a port number 1-65535, got 0"),
])
def test_bad_parameters_fail_with_a_clear_message(pg_app, options, message, tmp_path):
    run = run_tasks([{"name": HEALTH, "upkeep_pg_health": dict(pg_app, **options)}], tmp_path=tmp_path)
    result = run.one(HEALTH)
    assert result.failed and message in result.res["msg"], result.res
    assert "Traceback (most recent call last)" not in run.stdout + json.dumps(result.res)
    assert APP_PASSWORD not in _everything_said(run)


def test_role_runs_ping_then_health_once_for_the_fleet_with_per_database_overrides(pg_cluster, pg_database, tmp_path):
    database = {"host": pg_cluster.host, "port": pg_cluster.port, "user": APP_ROLE, "password": APP_PASSWORD,
                "database": pg_database}
    inventory = {"all": {
        "vars": {"upkeep_postgres_health_long_query_warning_s": 45},
        "hosts": {
            # One item carries options of both modules: each task passes on its own.
            "web1": _local(upkeep_postgres_databases=[dict(database, name="web1-db", samples=2, long_query_warning_s=30,
                                                           vacuum_dead_ratio_pct=20)]),
            "web2": _local(upkeep_postgres_databases=[dict(database, name="web2-db")]),
            "web3": _local(),
        }}}
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump([{"name": "Daily", "hosts": "all", "gather_facts": False,
                                         "roles": [{"role": "upkeep_postgres"}]}]))
    run = run_tasks(None, inventory=inventory, playbook=playbook, tmp_path=tmp_path / "run")
    health = run.for_task(ROLE_TASK)
    assert len(health) == 1 and not health[0].failed, run.stdout[-3000:]
    checks = health[0].res["checks"]
    assert len(checks) == 20
    long_queries = {c["target"]: c for c in checks if c["id"] == "pg.long_queries"}
    assert long_queries["web1-db"]["thresholds"]["long_query_max_s"]["warning"] == 30
    assert long_queries["web2-db"]["thresholds"]["long_query_max_s"]["warning"] == 45
    assert {c["host"] for c in checks} == {"web1", "web2"}
    ping = run.for_task("Connect to every database of the play and time a trivial query")
    assert len(ping) == 1 and [c["status"] for c in ping[0].res["checks"]] == ["ok", "ok"]
    assert APP_PASSWORD not in _everything_said(run)


def test_wraparound_counts_template0_which_nobody_can_vacuum_by_hand(pg_cluster, pg_app, tmp_path):
    # Transactions age every database; a manual VACUUM FREEZE (what a person runs when the check
    # warns) reaches each database that accepts connections, never template0, which stays oldest.
    with pg_cluster.connect() as conn:
        for _ in range(30):
            conn.execute("SELECT txid_current()")
        names = [r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datallowconn")]
    for name in names:
        with pg_cluster.connect(name) as conn:
            conn.execute("VACUUM FREEZE")
    with pg_cluster.connect() as conn:
        oldest, age = conn.execute("SELECT datname, age(datfrozenxid) FROM pg_database ORDER BY 2 DESC LIMIT 1").fetchone()
        databases = conn.execute("SELECT count(*) FROM pg_database").fetchone()[0]
    assert oldest == "template0"
    task = {"name": HEALTH, "upkeep_pg_health": dict(pg_app, checks=["pg.wraparound"], wraparound_warning_pct=1e-9)}
    check = run_tasks([task], tmp_path=tmp_path).one(HEALTH).res["checks"][0]
    assert check["id"] == "pg.wraparound" and check["summary"].endswith("(%d databases)" % databases), check
    assert check["metrics"]["xid_age_max"] >= age
    worst = check["findings"][0]
    assert worst["resource"] == "template0" and worst["detail"].endswith("; accepts no connections"), worst
    assert "ALLOW_CONNECTIONS" in worst["remediation"]
