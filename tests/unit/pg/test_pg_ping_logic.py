"""pg.ping logic against a real PostgreSQL cluster on loopback (tests/support/fixtures_pg.py)."""

from __future__ import annotations

import json
import os
import time
import urllib.parse

import pytest

from ansible.module_utils.upkeep import pg_ping
from ansible.module_utils.upkeep.pg_ping import ping_databases
from ansible.module_utils.upkeep.result import ParameterError
from tests.support.fixtures_pg import APP_DB, APP_PASSWORD, APP_ROLE, app_dsn
from tests.support.pg_stall import StallingProxy


def _one(params):
    checks = ping_databases(params)
    assert len(checks) == 1
    return checks[0]


def _hanging_port(url):
    return urllib.parse.urlsplit(url).port


def test_healthy_database_is_ok_with_real_measurements(pg_app, pg_cluster):
    result = _one(pg_app)
    assert result["id"] == "pg.ping" and result["status"] == "ok", result
    metrics = result["metrics"]
    assert metrics["connect_ms"] > 0 and 0 < metrics["query_p50_ms"] <= metrics["query_max_ms"]
    assert metrics["query_samples"] == 5
    assert metrics["server_version_num"] // 10000 >= 15 and metrics["in_recovery"] == 0
    assert result["server_version"].split(".")[0] == str(metrics["server_version_num"] // 10000)
    assert result["in_recovery"] is False
    assert result["target"] == "%s@127.0.0.1:%d/%s" % (APP_ROLE, pg_cluster.port, APP_DB)
    assert result["thresholds"]["query_p50_ms"] == {"warning": 50.0, "critical": 500.0}
    assert "host" not in result
    assert APP_PASSWORD not in json.dumps(result)


def test_wrong_password_is_critical_with_auth_finding(pg_app):
    result = _one(dict(pg_app, password="not-the-password", name="app-db"))
    assert result["status"] == "critical" and result["connect_error"] == "auth_failed"
    assert result["target"] == "app-db"
    (item,) = result["findings"]
    assert item["severity"] == "critical" and "authentication failed for user %s" % APP_ROLE in item["title"]
    assert "password" in item["remediation"]
    assert "not-the-password" not in json.dumps(result)


def test_closed_port_is_critical_quickly(pg_app, closed_port):
    result = _one(dict(pg_app, port=closed_port))
    assert result["status"] == "critical" and result["connect_error"] == "refused"
    assert result["duration_ms"] < 1000
    assert "running" in result["findings"][0]["remediation"]


def test_server_that_never_answers_is_cut_off_by_connect_timeout(pg_app, hanging_server):
    result = _one(dict(pg_app, port=_hanging_port(hanging_server), connect_timeout_s=2))
    assert result["status"] == "critical" and result["connect_error"] == "timeout"
    assert 1500 <= result["duration_ms"] < 5000


def test_missing_database_is_named(pg_app):
    result = _one(dict(pg_app, database="no_such_db"))
    assert result["status"] == "critical" and result["connect_error"] == "database_missing"
    assert result["summary"] == "cannot connect: database no_such_db does not exist"


def test_ssl_required_against_server_without_ssl(pg_app):
    result = _one(dict(pg_app, sslmode="require"))
    assert result["status"] == "critical" and result["connect_error"] == "ssl_unsupported"


@pytest.mark.parametrize("limits, status, metric", [
    ({"query_warning_ms": 0, "query_critical_ms": 100000}, "warning", "SELECT 1 p50"),
    ({"query_warning_ms": 0, "query_critical_ms": 0}, "critical", "SELECT 1 p50"),
    ({"connect_warning_ms": 0, "connect_critical_ms": 0}, "critical", "Slow connection"),
])
def test_latency_thresholds_judge_the_measured_values(pg_app, limits, status, metric):
    result = _one(dict(pg_app, **limits))
    assert result["status"] == status
    (item,) = result["findings"]
    assert item["severity"] == status and metric in item["title"]
    measured = result["metrics"]["query_p50_ms" if "SELECT" in metric else "connect_ms"]
    assert "%.1f ms" % measured in item["title"]


def test_expected_role_mismatch_is_critical(pg_app):
    assert _one(dict(pg_app, expected_role="primary"))["status"] == "ok"
    result = _one(dict(pg_app, expected_role="replica"))
    assert result["status"] == "critical"
    assert result["findings"][0]["title"] == "Expected a replica, found a primary"


def test_pgpassfile_environment_is_honoured(pg_app, pg_cluster, tmp_path, monkeypatch):
    passfile = tmp_path / "pgpass"
    passfile.write_text("127.0.0.1:%d:%s:%s:%s\n" % (pg_cluster.port, APP_DB, APP_ROLE, APP_PASSWORD))
    passfile.chmod(0o600)
    options = dict(pg_app)
    del options["password"]
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "missing"))
    assert _one(options)["connect_error"] == "auth_failed"  # proves the password comes from the file
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    assert _one(options)["status"] == "ok"


def test_passfile_option_and_its_permissions(pg_app, pg_cluster, tmp_path, monkeypatch):
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "missing"))
    passfile = tmp_path / "pgpass"
    passfile.write_text("*:*:*:%s:%s\n" % (APP_ROLE, APP_PASSWORD))
    passfile.chmod(0o600)
    options = dict(pg_app, passfile=str(passfile))
    del options["password"]
    assert _one(options)["status"] == "ok"
    passfile.chmod(0o644)
    with pytest.raises(ParameterError, match=r"passfile: .* readable by group or others \(mode 0644\)"):
        ping_databases(options)


def test_dsn_with_discrete_override_and_no_password_in_target(pg_cluster, pg_database):
    result = _one({"dsn": app_dsn(pg_cluster), "database": pg_database})
    assert result["status"] == "ok", result
    assert result["target"] == "%s@127.0.0.1:%d/%s" % (APP_ROLE, pg_cluster.port, pg_database)
    uri = "postgresql://%s:%s@127.0.0.1:%d/%s" % (APP_ROLE, APP_PASSWORD, pg_cluster.port, APP_DB)
    result = _one({"dsn": uri})
    assert result["status"] == "ok" and APP_PASSWORD not in json.dumps(result)


def test_fleet_maps_checks_to_hosts_in_order(pg_app, closed_port):
    params = dict(pg_app, samples=2, name="top-level-label-is-not-inherited", databases=[
        {"inventory_host": "web1", "name": "db-a"},
        {"inventory_host": "web2", "name": "db-b", "query_warning_ms": 0},
        {"inventory_host": "web3", "name": "db-c", "port": closed_port},
        {"database": "postgres"},
    ])
    checks = ping_databases(params)
    assert [(c["target"], c.get("host"), c["status"]) for c in checks] == [
        ("db-a", "web1", "ok"), ("db-b", "web2", "warning"), ("db-c", "web3", "critical"),
        ("%s@127.0.0.1:%d/postgres" % (APP_ROLE, pg_app["port"]), None, "ok")]
    assert checks[0]["metrics"]["query_samples"] == 2
    assert ping_databases(dict(pg_app, databases=[])) == []


def test_many_databases_are_probed_concurrently(pg_app):
    databases = [{"name": "db-%d" % i, "inventory_host": "h%d" % i} for i in range(24)]
    checks = ping_databases(dict(pg_app, databases=databases, samples=1, max_workers=8))
    assert [c["host"] for c in checks] == ["h%d" % i for i in range(24)]
    assert {c["status"] for c in checks} == {"ok"}


@pytest.mark.parametrize("options, message", [
    ({"port": 70000}, "port: must be a port number 1-65535, got 70000"),
    ({"sslmode": "bogus"}, "sslmode: must be one of disable, allow, prefer, require, verify-ca, verify-full, got 'bogus'"),
    ({"samples": 0}, "samples: must be 1-100, got 0"),
    ({"connect_timeout_s": 0}, "connect_timeout_s: must be 1-600 seconds, got 0"),
    ({"query_warning_ms": 10, "query_critical_ms": 5}, "query_warning_ms (10) must not exceed query_critical_ms (5)"),
    ({"sslrootcert": "/nonexistent/ca.pem"}, "sslrootcert: no such file: /nonexistent/ca.pem"),
    ({"passfile": "/nonexistent/pgpass"}, "passfile: cannot read password file /nonexistent/pgpass"),
    ({"expected_role": "leader"}, "expected_role: must be one of any, primary, replica, got 'leader'"),
])
def test_bad_parameters_are_named(pg_app, options, message):
    """In an item: an unknown check naming it, the other items still probed. At the top level
    (it concerns every database): the call fails."""
    ok, bad = ping_databases(dict(pg_app, samples=1, databases=[{}, dict(options)]))
    assert ok["status"] == "ok"
    assert bad["status"] == "unknown" and bad["summary"].startswith("databases[1]." + message), bad
    with pytest.raises(ParameterError) as raised:
        ping_databases(dict(pg_app, databases=[{}], **options))
    assert str(raised.value).startswith(message)


def test_bad_dsn_message_never_quotes_the_password():
    with pytest.raises(ParameterError) as raised:
        ping_databases({"dsn": "postgresql://u:top secret@127.0.0.1:5432/db"})
    assert str(raised.value).startswith("dsn: not a valid connection string")
    assert "top secret" not in str(raised.value) and "secret" not in str(raised.value)


def test_top_level_parameters_are_checked_before_any_database_is_probed(pg_app, pg_cluster):
    def connections():
        with pg_cluster.connect() as conn:
            return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'upkeep-probe-order'"
                                ).fetchone()[0]
    with pytest.raises(ParameterError, match="^port: must be a port number"):
        ping_databases(dict(pg_app, port=0, application_name="upkeep-probe-order", databases=[{"port": pg_app["port"]}]))
    assert connections() == 0
    assert os.environ.get("PGPASSWORD") is None


def test_a_bad_shared_setting_keeps_every_fleet_database_as_an_unknown_check(pg_app, pg_cluster):
    """-e upkeep_postgres_samples=0: no database is probed, and none vanishes from the report."""
    checks = ping_databases(dict(pg_app, samples=0, databases=[{"inventory_host": "web1", "name": "web1-db"},
                                                               {"inventory_host": "web2", "name": "web2-db"}]))
    assert [(c["target"], c["host"], c["status"]) for c in checks] == [("web1-db", "web1", "unknown"),
                                                                       ("web2-db", "web2", "unknown")]
    assert all(c["summary"] == "upkeep_postgres_samples: must be 1-100, got 0" for c in checks)


def test_one_hosts_bad_item_is_its_own_unknown_check_and_the_fleet_is_still_probed(pg_app):
    params = dict(pg_app, samples=1, databases=[
        {"inventory_host": "web1", "name": "web1-db"},
        {"inventory_host": "web2", "name": "web2-db"},
        {"inventory_host": "web2", "name": "web2-tls", "sslmode": "verify-full", "sslrootcert": "/nonexistent/ca.pem"},
        {"inventory_host": "web1", "name": "web1-other", "database": "postgres"},
    ])
    checks = ping_databases(params)
    assert [(c["host"], c["target"], c["status"]) for c in checks] == [
        ("web1", "web1-db", "ok"), ("web2", "web2-db", "ok"), ("web2", "web2-tls", "unknown"),
        ("web1", "web1-other", "ok")]
    assert checks[2]["id"] == "pg.ping"
    assert checks[2]["summary"] == "web2: upkeep_postgres_databases[1].sslrootcert: no such file: /nonexistent/ca.pem"
    assert APP_PASSWORD not in json.dumps(checks)


def test_an_unexpected_error_is_unknown_for_that_database_only(pg_app, monkeypatch):
    """A mock, because the fault is a bug: nothing a real server does should raise outside the
    handled exceptions, so one database's ping_one is made to raise a KeyError."""
    real = pg_ping.ping_one

    def sometimes_broken(target, statement_timeout_ms):
        if target["name"] == "odd":
            raise KeyError("server_version")
        return real(target, statement_timeout_ms)

    monkeypatch.setattr(pg_ping, "ping_one", sometimes_broken)
    checks = ping_databases(dict(pg_app, samples=1, databases=[
        {"inventory_host": "web1", "name": "odd"}, {"inventory_host": "web2", "name": "fine"}]))
    assert [(c["host"], c["status"]) for c in checks] == [("web1", "unknown"), ("web2", "ok")]
    assert checks[0]["summary"] == "could not evaluate: unexpected KeyError while pinging the database"


def test_server_that_stops_answering_after_login_is_cut_off_by_a_client_deadline(pg_app):
    statement_timeout_ms = 300
    deadline_s = pg_ping.query_deadline_ms(statement_timeout_ms) / 1000.0
    with StallingProxy(pg_app["port"]) as proxy:
        started = time.monotonic()
        stuck, fine = ping_databases(dict(pg_app, samples=2, statement_timeout_ms=statement_timeout_ms, databases=[
            {"inventory_host": "web1", "name": "stuck", "port": proxy.port, "sslmode": "disable"},
            {"inventory_host": "web2", "name": "fine"}]))
        elapsed = time.monotonic() - started
    assert proxy.stalled.is_set()  # the login went through the proxy; the first query did not
    assert (stuck["host"], stuck["status"]) == ("web1", "critical"), stuck
    assert stuck["summary"] == "connected, but no answer within 1300 ms to a trivial query"
    assert stuck["findings"][0]["title"] == "Server stopped answering after login: no answer within 1300 ms"
    assert stuck["metrics"]["connect_ms"] > 0
    assert (fine["host"], fine["status"]) == ("web2", "ok")
    assert deadline_s <= elapsed < deadline_s + 5, elapsed
