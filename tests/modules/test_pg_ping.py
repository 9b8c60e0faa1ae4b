"""upkeep_pg_ping and the upkeep_postgres role through real ansible-playbook runs against a real
PostgreSQL cluster on loopback."""

from __future__ import annotations

import json
import pathlib
import sys

import pytest

from tests.support.fixtures_pg import APP_DB, APP_PASSWORD, APP_ROLE, app_dsn
from tests.support.playbook import run_tasks

pytestmark = pytest.mark.slow

PING = "Ping the databases"
ROLE_TASK = "Connect to every database of the play and time a trivial query"
WRONG_PASSWORD = "wrong-pg-pw-5a1f9c"


def _local(**host_vars):
    return dict({"ansible_connection": "local", "ansible_python_interpreter": sys.executable}, **host_vars)


def _everything_said(run):
    """stdout, every task result and every file ansible-runner left behind, as one text."""
    files = [path.read_text(errors="replace") for path in pathlib.Path(run.artifacts_dir).rglob("*") if path.is_file()]
    return "\n".join([run.stdout, json.dumps([item.res for item in run.results])] + files)


@pytest.fixture(scope="module")
def fleet_run(pg_cluster, tmp_path_factory):
    """One module run over several databases: a dsn with the password in it, discrete options,
    a wrong password and a missing database."""
    task = {"name": PING, "upkeep_pg_ping": {
        "host": pg_cluster.host, "port": pg_cluster.port, "user": APP_ROLE, "samples": 3,
        "databases": [
            {"inventory_host": "web1", "name": "app-db", "dsn": app_dsn(pg_cluster)},
            {"inventory_host": "web2", "database": APP_DB, "password": APP_PASSWORD},
            {"inventory_host": "web3", "database": APP_DB, "password": WRONG_PASSWORD},
            {"inventory_host": "web3", "database": "nope", "password": APP_PASSWORD},
        ]}}
    return run_tasks([task], tmp_path=tmp_path_factory.mktemp("pg-run"))


def test_module_returns_one_check_per_database_mapped_to_hosts(fleet_run, pg_cluster):
    result = fleet_run.one(PING)
    assert not result.failed, fleet_run.stdout[-3000:]
    checks = result.res["checks"]
    assert [(c["host"], c["target"], c["status"], c.get("connect_error")) for c in checks] == [
        ("web1", "app-db", "ok", None),
        ("web2", "%s@127.0.0.1:%d/%s" % (APP_ROLE, pg_cluster.port, APP_DB), "ok", None),
        ("web3", "%s@127.0.0.1:%d/%s" % (APP_ROLE, pg_cluster.port, APP_DB), "critical", "auth_failed"),
        ("web3", "%s@127.0.0.1:%d/nope" % (APP_ROLE, pg_cluster.port), "critical", "database_missing")]
    assert checks[0]["metrics"]["query_samples"] == 3 and checks[0]["metrics"]["server_version_num"] >= 150000
    assert result.res["changed"] is False and result.res["status"] == "critical"
    assert result.res["counts"] == {"ok": 2, "warning": 0, "critical": 2, "unknown": 0}


def test_passwords_appear_nowhere(fleet_run):
    assert fleet_run.one(PING).res["checks"][1]["status"] == "ok"  # the password was really used
    said = _everything_said(fleet_run)
    assert APP_PASSWORD not in said and WRONG_PASSWORD not in said


def test_check_mode_probes_and_reports_no_change(pg_app, tmp_path):
    run = run_tasks([{"name": PING, "upkeep_pg_ping": pg_app}], check=True, tmp_path=tmp_path)
    result = run.one(PING)
    assert not result.failed and result.res["changed"] is False
    assert result.res["checks"][0]["status"] == "ok"


def test_pgpassfile_from_the_task_environment(pg_cluster, pg_app, tmp_path):
    passfile = tmp_path / "pgpass"
    passfile.write_text("127.0.0.1:%d:*:%s:%s\n" % (pg_cluster.port, APP_ROLE, APP_PASSWORD))
    passfile.chmod(0o600)
    options = {key: value for key, value in pg_app.items() if key != "password"}
    task = {"name": PING, "upkeep_pg_ping": options, "environment": {"PGPASSFILE": str(passfile)}}
    result = run_tasks([task], tmp_path=tmp_path).one(PING)
    assert not result.failed and result.res["checks"][0]["status"] == "ok", result.res


@pytest.mark.parametrize("item, message", [
    ({"port": 70000}, "databases[1].port: must be a port number 1-65535, got 70000"),
    ({"dsn": "host=x password=%s junk" % APP_PASSWORD}, "databases[1].dsn: not a valid connection string"),
])
def test_a_bad_database_item_is_an_unknown_check_with_a_clear_message(pg_app, item, message, tmp_path):
    run = run_tasks([{"name": PING, "upkeep_pg_ping": dict(pg_app, samples=1, databases=[{}, item])}],
                    tmp_path=tmp_path)
    result = run.one(PING)
    assert not result.failed, run.stdout[-3000:]
    assert [c["status"] for c in result.res["checks"]] == ["ok", "unknown"]
    assert result.res["checks"][1]["summary"].startswith(message)
    assert "Traceback (most recent call last)" not in run.stdout + json.dumps(result.res)
    assert APP_PASSWORD not in _everything_said(run)


@pytest.mark.parametrize("arguments, message", [
    ({"port": 70000}, "port: must be a port number 1-65535, got 70000"),
    ({"databases": [{"sslmode": "bogus"}]},
     "value of sslmode must be one of: disable, allow, prefer, require, verify-ca, verify-full, got: bogus"),
    ({"databases": [{"samples": "many"}]}, "samples"),
    ({"dsn": "host=x password=%s junk" % APP_PASSWORD}, "dsn: not a valid connection string"),
])
def test_bad_top_level_parameters_fail_with_a_clear_message_and_no_traceback(arguments, message, tmp_path):
    run = run_tasks([{"name": PING, "upkeep_pg_ping": arguments}], tmp_path=tmp_path)
    result = run.one(PING)
    assert result.failed
    assert message in result.res["msg"]
    assert "Traceback (most recent call last)" not in run.stdout + json.dumps(result.res)
    assert "module_stderr" not in result.res
    assert APP_PASSWORD not in _everything_said(run)


def test_role_pings_each_hosts_databases_in_one_call(pg_cluster, tmp_path):
    database = {"host": pg_cluster.host, "port": pg_cluster.port, "user": APP_ROLE, "password": APP_PASSWORD,
                "database": APP_DB}
    inventory = {"all": {
        "vars": {"upkeep_postgres_samples": 2, "upkeep_postgres_query_critical_ms": 400},
        "hosts": {
            "web1": _local(upkeep_postgres_databases=[dict(database, name="web1-db")]),
            "web2": _local(upkeep_postgres_databases=[dict(database, name="web2-db", query_warning_ms=0),
                                                      dict(database, name="web2-gone", database="gone")]),
            "web3": _local(),
        },
    }}
    tasks = [{"name": "Run the role", "ansible.builtin.include_role": {"name": "upkeep_postgres"}},
             {"name": "Show the registered result", "ansible.builtin.assert": {
                 "that": ["upkeep_postgres_ping_result.checks | length == 3"], "quiet": True}}]
    run = run_tasks(tasks, hosts="all", inventory=inventory, tmp_path=tmp_path)
    pings = run.for_task(ROLE_TASK)
    assert len(pings) == 1 and not pings[0].failed, run.stdout[-3000:]  # one call for the fleet
    checks = pings[0].res["checks"]
    assert [(c["host"], c["target"], c["status"]) for c in checks] == [
        ("web1", "web1-db", "ok"), ("web2", "web2-db", "warning"), ("web2", "web2-gone", "critical")]
    assert checks[0]["metrics"]["query_samples"] == 2
    assert checks[0]["thresholds"]["query_p50_ms"]["critical"] == 400
    assert all(not r.failed for r in run.for_task("Show the registered result"))
    assert APP_PASSWORD not in _everything_said(run)


def test_role_files_a_bad_item_under_its_own_host_and_pings_the_rest(pg_cluster, tmp_path):
    """A roles: playbook over two hosts, one of which has a broken database item: the healthy
    host keeps its checks, the broken one gets exactly one unknown naming its variable and index."""
    database = {"host": pg_cluster.host, "port": pg_cluster.port, "user": APP_ROLE, "password": APP_PASSWORD,
                "database": APP_DB}
    inventory = {"all": {
        "vars": {"upkeep_postgres_samples": 1},
        "hosts": {
            "web1": _local(upkeep_postgres_databases=[dict(database, name="web1-db")]),
            "web2": _local(upkeep_postgres_databases=[dict(database, name="web2-db"),
                                                      dict(database, name="web2-bad", port=70000)]),
        },
    }}
    playbook = tmp_path / "site.yml"
    playbook.write_text(json.dumps([{"name": "Upkeep", "hosts": "all", "gather_facts": False,
                                     "roles": ["upkeep_postgres"]}]))
    run = run_tasks(None, inventory=inventory, playbook=playbook, tmp_path=tmp_path)
    pings = run.for_task(ROLE_TASK)
    assert len(pings) == 1 and not pings[0].failed, run.stdout[-3000:]
    checks = pings[0].res["checks"]
    assert [(c["host"], c["target"], c["status"]) for c in checks] == [
        ("web1", "web1-db", "ok"), ("web2", "web2-db", "ok"), ("web2", "web2-bad", "unknown")]
    assert checks[2]["summary"] == "web2: upkeep_postgres_databases[1].port: must be a port number 1-65535, got 70000"
    assert APP_PASSWORD not in _everything_said(run)


def test_role_skips_cleanly_when_no_host_has_databases(tmp_path):
    inventory = {"all": {"hosts": {"web1": _local()}}}
    tasks = [{"name": "Run the role", "ansible.builtin.include_role": {"name": "upkeep_postgres"}}]
    run = run_tasks(tasks, hosts="all", inventory=inventory, tmp_path=tmp_path)
    assert run.rc == 0, run.stdout[-3000:]
    assert all(item.event == "runner_on_skipped" for item in run.for_task(ROLE_TASK))
