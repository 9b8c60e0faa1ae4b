"""upkeep_auth_audit's database source against a real PostgreSQL holding GoTrue's
auth.audit_log_entries (the sandbox's DDL), merged with real log files."""

from __future__ import annotations

import json
import time

import pytest
from psycopg import sql

from ansible.module_utils.upkeep.auth_audit import audit
from tests.support.fixtures_pg import APP_PASSWORD, APP_ROLE, app_options
from tests.support.pg_stall import StallingProxy
from upkeep.sandbox.extensions import supabase_auth

NOW = time.time()
ATTACKER = "203.0.113.45"


def _params(sources=(), **extra):
    params = {"sources": list(sources), "window_days": 7, "allowlist": [], "brute_force_failures": 10,
              "brute_force_window_s": 600, "stuffing_users": 5, "burst_failures": 5, "failed_logins_warning": None,
              "failed_logins_critical": None, "mode": "audit", "collected": None, "database": None,
              "geoip_database": [], "state_path": None}
    params.update(extra)
    return params


def _by(checks):
    return {c["id"]: c for c in checks}


def _syslog(ts, message):
    return "%s app-1 sshd[4242]: %s\n" % (time.strftime("%b %e %H:%M:%S", time.localtime(ts)), message)


@pytest.fixture
def audit_db(pg_cluster, pg_database):
    """A database with GoTrue's audit table, readable by the app role; yields (options, admin connection)."""
    with pg_cluster.connect(pg_database) as conn:
        supabase_auth.create_table(conn, reader=APP_ROLE)
        yield app_options(pg_cluster, database=pg_database), conn


@pytest.fixture
def sshd_burst(tmp_path):
    """An sshd log with 12 failed passwords from ATTACKER ending 20 minutes ago."""
    start = NOW - 1200 - 12 * 5
    path = tmp_path / "auth.log"
    path.write_text("".join(_syslog(start + i * 5, "Failed password for root from %s port %d ssh2" % (ATTACKER, 40000 + i))
                            for i in range(12)))
    return {"name": "sshd", "format": "syslog", "paths": [str(path)]}


def test_a_table_login_after_a_log_burst_is_a_compromise(audit_db, sshd_burst):
    options, conn = audit_db
    rows = [supabase_auth.entry(NOW - 1100, "login", "admin@almazahir.com", ATTACKER, traits={"provider": "email"}),
            supabase_auth.entry(NOW - 1000, "token_refreshed", "admin@almazahir.com", ATTACKER),
            supabase_auth.entry(NOW - 3600, "login", "sales@almazahir.com", "192.0.2.14"),
            supabase_auth.entry(NOW - 10 * 86400, "login", "old@almazahir.com", "192.0.2.15"),  # in the baseline
            supabase_auth.entry(NOW - 7200, "user_recovery_requested", "sales@almazahir.com", "192.0.2.14")]
    supabase_auth.insert(conn, rows)
    checks, extra = audit(_params([sshd_burst], database=dict(options, name="supabase-auth")), now=NOW)
    checks = _by(checks)
    assert checks["auth.compromise"]["status"] == "critical"
    suspect = extra["suspicious_ips"][0]
    assert suspect["ip"] == ATTACKER and suspect["sources"] == ["sshd", "supabase-auth"]
    assert suspect["failures_by_source"] == {"sshd": 12}
    assert suspect["successes_after_failures"] == [
        {"user": "admin@almazahir.com", "at": int(NOW - 1100), "failures_before": 12, "source": "supabase-auth"}]
    assert "(supabase-auth) after 12 failures" in checks["auth.compromise"]["findings"][0]["detail"]
    assert checks["auth.audit_log"]["status"] == "ok"
    # The table is read for the window and its baseline (the 7 days before): 2 logins + 1 older.
    assert checks["auth.audit_log"]["metrics"] == {"audit_log_events": 3, "audit_log_truncated": 0}
    assert checks["auth.failed_logins"]["metrics"]["baseline_successful_logins"] == 1
    assert checks["auth.failed_logins"]["events_by_source"] == {
        "sshd": {"fail": 12, "success": 0, "invalid_user": 0}, "supabase-auth": {"fail": 0, "success": 2, "invalid_user": 0}}
    assert APP_PASSWORD not in json.dumps([checks, extra])


def test_failure_actions_make_the_table_alone_a_brute_force(audit_db):
    options, conn = audit_db
    supabase_auth.insert(conn, [supabase_auth.entry(NOW - 900 + i * 10, "login_failed", "user%d@example.com" % (i % 3),
                                                    "198.51.100.7") for i in range(11)])
    database = dict(options, failure_actions=["login_failed"])
    checks, extra = audit(_params(database=database), now=NOW)
    checks = _by(checks)
    assert checks["auth.brute_force"]["status"] == "warning"
    assert extra["suspicious_ips"][0]["failures_by_source"] == {"supabase-auth": 11}
    # The default (GoTrue audits no failures) reads the same rows as nothing at all.
    checks, _ = audit(_params(database=options), now=NOW)
    assert _by(checks)["auth.failed_logins"]["metrics"]["failed_logins"] == 0


def test_table_absent_is_unknown_while_the_logs_still_report(pg_cluster, pg_database, sshd_burst):
    checks, _ = audit(_params([sshd_burst], database=app_options(pg_cluster, database=pg_database)), now=NOW)
    checks = _by(checks)
    assert checks["auth.audit_log"]["status"] == "unknown"
    assert "auth.audit_log_entries does not exist" in checks["auth.audit_log"]["summary"]
    assert checks["auth.brute_force"]["status"] == "warning"
    assert checks["auth.failed_logins"]["metrics"]["failed_logins"] == 12


def test_table_without_grant_is_unknown_with_the_remedy(pg_cluster, pg_database):
    with pg_cluster.connect(pg_database) as conn:
        supabase_auth.create_table(conn)  # owned by the superuser, no grant to the app role
    checks, _ = audit(_params(database=app_options(pg_cluster, database=pg_database)), now=NOW)
    checks = _by(checks)
    assert checks["auth.audit_log"]["status"] == "unknown"
    assert "permission denied" in checks["auth.audit_log"]["summary"]
    assert "GRANT USAGE ON SCHEMA auth" in checks["auth.audit_log"]["findings"][0]["remediation"]
    # Neither logs nor the table: nothing to judge.
    assert checks["auth.compromise"]["status"] == "unknown"


def test_wrong_password_is_unknown_and_never_echoed(pg_cluster, pg_database, sshd_burst):
    secret = "wrong-pw-9d1c7e3a55"
    database = app_options(pg_cluster, database=pg_database, password=secret)
    checks, extra = audit(_params([sshd_burst], database=database), now=NOW)
    checks = _by(checks)
    assert checks["auth.audit_log"]["status"] == "unknown"
    assert "authentication failed" in checks["auth.audit_log"]["summary"]
    assert checks["auth.brute_force"]["status"] == "warning"
    dsn = "host=%s port=%d user=%s password=%s dbname=%s" % (pg_cluster.host, pg_cluster.port, APP_ROLE, secret,
                                                            pg_database)
    checks_dsn, _ = audit(_params(database={"dsn": dsn}), now=NOW)
    assert secret not in json.dumps([checks, extra, checks_dsn])


def test_the_cap_keeps_the_most_recent_rows(audit_db):
    options, conn = audit_db
    supabase_auth.insert(conn, [supabase_auth.entry(NOW - 3600 * i, "login", "u%d@example.com" % i, "192.0.2.%d" % (i + 1))
                                for i in range(1, 9)])
    checks, _ = audit(_params(database=dict(options, max_events=3)), now=NOW)
    checks = _by(checks)
    assert checks["auth.audit_log"]["metrics"] == {"audit_log_events": 3, "audit_log_truncated": 1}
    assert "capped at max_events=3" in checks["auth.audit_log"]["summary"]
    assert checks["auth.failed_logins"]["metrics"]["successful_logins"] == 3


def test_collect_then_audit_elsewhere_matches_one_run(audit_db, sshd_burst):
    options, conn = audit_db
    supabase_auth.insert(conn, [supabase_auth.entry(NOW - 1100, "login", "admin@almazahir.com", ATTACKER)])
    _, extra = audit(_params(database=options, mode="collect"), now=NOW)
    collected = json.loads(json.dumps(extra["collected"]))  # as it travels through Ansible
    assert collected["sources"][0]["status"] == "ok" and len(collected["events"]) == 1
    assert APP_PASSWORD not in json.dumps(collected)
    split, split_extra = audit(_params([sshd_burst], collected=collected), now=NOW)
    whole, whole_extra = audit(_params([sshd_burst], database=options), now=NOW)
    assert {c["id"]: c["status"] for c in split} == {c["id"]: c["status"] for c in whole}
    assert split_extra["suspicious_ips"] == whole_extra["suspicious_ips"]


def test_rows_of_gotrue_before_the_ip_column_still_count(pg_cluster, pg_database):
    with pg_cluster.connect(pg_database) as conn:
        supabase_auth.create_table(conn, reader=APP_ROLE)
        conn.execute(sql.SQL("ALTER TABLE auth.audit_log_entries DROP COLUMN ip_address"))
        conn.execute("INSERT INTO auth.audit_log_entries (id, payload, created_at) VALUES (gen_random_uuid(), %s, now())",
                     [json.dumps({"action": "login", "actor_username": "a@example.com", "actor_id": "x"})])
    checks, _ = audit(_params(database=app_options(pg_cluster, database=pg_database)), now=time.time() + 5)
    checks = _by(checks)
    assert checks["auth.audit_log"]["status"] == "ok"
    assert checks["auth.failed_logins"]["metrics"]["successful_logins"] == 1


def test_a_read_past_the_statement_timeout_is_unknown(pg_cluster, pg_database, sshd_burst):
    """A slow table for real: the relation is a view that sleeps (the check accepts views, as a
    self-hosted GoTrue behind a view would be), so statement_timeout fires on the server."""
    with pg_cluster.connect(pg_database) as conn:
        conn.execute("CREATE SCHEMA auth")
        # Rows depend on g, so the planner cannot fold the filters away and skip the sleep; they
        # are stamped from the scan's NOW (not the server's now(), which runs ahead of it while a
        # long suite runs): rows outside the window would let a nested loop never run the sleep.
        conn.execute("CREATE VIEW auth.audit_log_entries AS SELECT gen_random_uuid() AS id, "
                     "json_build_object('action', 'login', 'n', g) AS payload, "
                     "to_timestamp(%f) - g * interval '1 minute' AS created_at, ''::varchar(64) AS ip_address "
                     "FROM generate_series(1, 3) AS g, LATERAL (SELECT pg_sleep(1)) AS s" % NOW)
        conn.execute("GRANT USAGE ON SCHEMA auth TO %s; GRANT SELECT ON auth.audit_log_entries TO %s" % (APP_ROLE, APP_ROLE))
    database = dict(app_options(pg_cluster, database=pg_database), statement_timeout_ms=200)
    started = time.monotonic()
    checks, _ = audit(_params([sshd_burst], database=database), now=NOW)
    assert time.monotonic() - started < 1.8
    checks = _by(checks)
    assert checks["auth.audit_log"]["status"] == "unknown"
    assert "no answer within statement_timeout_ms=200" in checks["auth.audit_log"]["summary"]
    assert checks["auth.brute_force"]["status"] == "warning"


def test_a_server_that_stops_answering_after_login_is_cut_off(audit_db, sshd_burst):
    """A real PostgreSQL behind a proxy that relays the login and swallows every query after it:
    statement_timeout never fires (the server never sees the query), the client deadline does."""
    options, conn = audit_db
    database = dict(options, statement_timeout_ms=300, sslmode="disable")
    with StallingProxy(database["port"]) as proxy:
        started = time.monotonic()
        checks, _ = audit(_params([sshd_burst], database=dict(database, port=proxy.port)), now=NOW)
        elapsed = time.monotonic() - started
    assert proxy.stalled.is_set()
    assert 1.3 <= elapsed < 6, elapsed
    checks = _by(checks)
    assert checks["auth.audit_log"]["status"] == "unknown"
    assert "no answer within 1300 ms (statement_timeout_ms=300 plus a margin)" in checks["auth.audit_log"]["summary"]
    assert checks["auth.brute_force"]["status"] == "warning"  # the logs still report


def test_the_transaction_itself_is_read_only_with_the_timeout(audit_db, monkeypatch):
    """Mock (of a pooler): connection_kwargs loses its startup ``options`` as a transaction pooler
    would; the read must still run read-only under statement_timeout. The view reports both
    settings as the rows' ip_address, so the test sees what the server saw."""
    from ansible.module_utils.upkeep import pg

    options, conn = audit_db
    supabase_auth.insert(conn, [supabase_auth.entry(NOW - 60, "login", "admin@almazahir.com", "192.0.2.14")])
    conn.execute("ALTER TABLE auth.audit_log_entries RENAME TO audit_log_rows")
    conn.execute("CREATE VIEW auth.audit_log_entries AS SELECT id, payload, created_at, "
                 "(current_setting('statement_timeout') || ' ' || current_setting('transaction_read_only'))::varchar(64)"
                 " AS ip_address FROM auth.audit_log_rows")
    conn.execute("GRANT SELECT ON auth.audit_log_entries TO %s" % APP_ROLE)
    original = pg.connection_kwargs

    def without_options(*args, **kwargs):
        result = original(*args, **kwargs)
        result.pop("options", None)
        return result

    monkeypatch.setattr(pg, "connection_kwargs", without_options)
    _, extra = audit(_params(mode="collect", database=dict(options, statement_timeout_ms=4321)), now=NOW)
    assert [event[2] for event in extra["collected"]["events"]] == ["4321ms on"]
