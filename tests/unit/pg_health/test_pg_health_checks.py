"""pg health concerns against a real PostgreSQL cluster on loopback: every situation is made for
real (sessions held open by the test, a real lock wait, a sequence advanced with setval, an index
left invalid by a failed CREATE INDEX CONCURRENTLY); thresholds are the module's options."""

from __future__ import annotations

import contextlib
import json
import threading
import time

import psycopg
import pytest

from ansible.module_utils.upkeep.pg_health import CONCERN_IDS, health_databases
from ansible.module_utils.upkeep.result import ParameterError
from tests.support.fixtures_pg import APP_PASSWORD, APP_ROLE


@pytest.fixture
def db(pg_cluster, pg_database, pg_app):
    """Options for a fresh database, and a way to open extra sessions to it."""
    class Db:
        options = dict(pg_app, database=pg_database)
        dsn = pg_cluster.dsn(pg_database, APP_ROLE, APP_PASSWORD)

        def session(self, autocommit=True, application_name="test-session"):
            conn = psycopg.connect(self.dsn, autocommit=autocommit, application_name=application_name)
            opened.append(conn)
            return conn

    opened = []
    yield Db()
    for conn in opened:
        with contextlib.suppress(Exception):
            conn.cancel_safe(timeout=2)
        with contextlib.suppress(Exception):
            conn.close()


def _check(options, check_id, **overrides):
    (result,) = health_databases(dict(options, checks=[check_id], **overrides))
    assert result["id"] == check_id, result
    return result


@contextlib.contextmanager
def _in_background(conn, query):
    """Run ``query`` on ``conn`` in a thread (it blocks); cancel it on the way out."""
    errors = []

    def run():
        try:
            conn.execute(query)
        except psycopg.Error as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        conn.cancel_safe(timeout=2)
        thread.join(10)


def _wait_for(conn, condition_sql, params, timeout_s=10):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        row = conn.execute(condition_sql, params).fetchone()  # no row until the session shows up
        if row and row[0]:
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached: %s" % condition_sql)


def test_healthy_database_gives_every_check_ok_in_one_call(db, pg_cluster):
    results = health_databases(dict(db.options, inventory_host=None))
    assert [item["id"] for item in results] == list(CONCERN_IDS)
    assert {item["id"]: item["status"] for item in results} == {check_id: "ok" for check_id in CONCERN_IDS}
    by_id = {item["id"]: item for item in results}
    assert by_id["pg.replication_lag"]["summary"].startswith("not a replica")
    assert by_id["pg.database_size"]["metrics"]["database_size_bytes"] > 1000000
    assert by_id["pg.connections"]["metrics"]["connections_max"] == 200 - 3
    assert by_id["pg.connections"]["thresholds"]["connections_used_pct"] == {"warning": 80.0, "critical": 95.0}
    assert all(item["duration_ms"] is not None for item in results)
    assert APP_PASSWORD not in json.dumps(results)


def test_connections_from_several_open_sessions(db):
    sessions = [db.session(application_name="pool-%d" % n) for n in range(10)]
    assert all(not s.closed for s in sessions)
    ok = _check(db.options, "pg.connections")
    used = ok["metrics"]["connections_used"]
    assert ok["status"] == "ok" and used >= 11
    assert ok["breakdown"]["by_application"].get("pool-3") == 1
    pct = ok["metrics"]["connections_used_pct"]
    warning = _check(db.options, "pg.connections", connections_warning_pct=pct - 1, connections_critical_pct=90)
    assert warning["status"] == "warning"
    assert "pool-" in warning["findings"][0]["detail"] and "pooler" in warning["findings"][0]["remediation"]
    critical = _check(db.options, "pg.connections", connections_warning_pct=pct - 2, connections_critical_pct=pct - 1)
    assert critical["status"] == "critical"


def test_long_running_query(db):
    watcher = db.session()
    assert _check(db.options, "pg.long_queries")["status"] == "ok"
    busy = db.session(application_name="report-job")
    pid = busy.info.backend_pid
    with _in_background(busy, "SELECT pg_sleep(60) /* nightly report */"):
        _wait_for(watcher, "SELECT now() - query_start > interval '700 ms' FROM pg_stat_activity "
                           "WHERE pid = %s AND state = 'active'", [pid])
        warning = _check(db.options, "pg.long_queries", long_query_warning_s=0.5, long_query_critical_s=3600)
        critical = _check(db.options, "pg.long_queries", long_query_warning_s=0.2, long_query_critical_s=0.5)
    assert warning["status"] == "warning" and critical["status"] == "critical"
    (item,) = warning["findings"]
    assert item["resource"] == "pid %d" % pid
    assert "application=report-job" in item["detail"] and "user=%s" % APP_ROLE in item["detail"]
    assert "pg_sleep(60) /* nightly report */" in item["detail"]
    assert "SELECT pg_cancel_backend(%d)" % pid in item["remediation"]
    assert warning["metrics"]["long_query_count"] == 1 and warning["metrics"]["long_query_max_s"] >= 0.7


def test_session_idle_in_transaction(db):
    idle = db.session(autocommit=False, application_name="leaky-worker")
    assert _check(db.options, "pg.idle_in_transaction")["status"] == "ok"
    idle.execute("SELECT 1 AS forgotten_transaction")
    pid = idle.info.backend_pid
    time.sleep(0.8)
    warning = _check(db.options, "pg.idle_in_transaction", idle_in_transaction_warning_s=0.5,
                     idle_in_transaction_critical_s=3600)
    critical = _check(db.options, "pg.idle_in_transaction", idle_in_transaction_warning_s=0.5,
                      idle_in_transaction_critical_s=0.6)
    assert warning["status"] == "warning" and critical["status"] == "critical"
    (item,) = critical["findings"]
    assert item["severity"] == "critical" and "pid %d" % pid in item["title"]
    assert "SELECT pg_terminate_backend(%d)" % pid in item["remediation"]
    assert "leaky-worker" in item["detail"] and "forgotten_transaction" in item["detail"]


def test_blocking_lock_chain_names_who_blocks_whom(db):
    holder = db.session(autocommit=False, application_name="migration")
    holder.execute("CREATE TABLE orders (id int)")
    holder.commit()
    assert _check(db.options, "pg.blocking_locks")["status"] == "ok"
    holder.execute("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
    waiter = db.session(application_name="web")
    watcher = db.session()
    with _in_background(waiter, "SELECT count(*) FROM orders"):
        _wait_for(watcher, "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s", [waiter.info.backend_pid])
        time.sleep(0.6)
        warning = _check(db.options, "pg.blocking_locks", lock_wait_warning_s=0.3, lock_wait_critical_s=3600)
        critical = _check(db.options, "pg.blocking_locks", lock_wait_warning_s=0.3, lock_wait_critical_s=0.4)
    holder.rollback()
    assert warning["status"] == "warning" and critical["status"] == "critical"
    (item,) = warning["findings"]
    blocker, blocked = holder.info.backend_pid, waiter.info.backend_pid
    assert item["title"].startswith("pid %d waits" % blocked) and item["title"].endswith("held by pid %d" % blocker)
    assert "application=web" in item["detail"] and "application=migration" in item["detail"]
    assert "SELECT pg_terminate_backend(%d)" % blocker in item["remediation"]
    assert warning["metrics"]["blocked_sessions"] == 1 and warning["metrics"]["root_blockers"] == 1
    assert warning["blocking_chains"][0]["blocker_pid"] == blocker


def test_wraparound_judged_on_the_measured_age(db):
    ok = _check(db.options, "pg.wraparound")
    pct = ok["metrics"]["wraparound_pct"]
    assert ok["status"] == "ok" and 0 < pct < 1 and ok["metrics"]["xid_age"] > 0
    warning = _check(db.options, "pg.wraparound", wraparound_warning_pct=pct / 2, wraparound_critical_pct=50)
    critical = _check(db.options, "pg.wraparound", wraparound_warning_pct=pct / 4, wraparound_critical_pct=pct / 2)
    assert warning["status"] == "warning" and critical["status"] == "critical"
    assert any("VACUUM (FREEZE" in item["remediation"] for item in critical["findings"])


def test_sequence_near_exhaustion_counts_the_integer_column(db):
    conn = db.session()
    conn.execute("CREATE TABLE leads (id serial PRIMARY KEY, note text)")
    conn.execute("CREATE TABLE events (id bigserial PRIMARY KEY)")
    conn.execute("INSERT INTO leads (note) VALUES ('a')")
    assert _check(db.options, "pg.sequences")["status"] == "ok"
    # The bigint sequence at 80 % of int4 is nothing; the serial (int4) one at 80 % is.
    conn.execute("SELECT setval('events_id_seq', 1800000000)")
    conn.execute("SELECT setval('leads_id_seq', 1800000000)")
    warning = _check(db.options, "pg.sequences")
    assert warning["status"] == "warning", warning
    (item,) = warning["findings"]
    assert item["resource"] == "public.leads_id_seq"
    assert "ALTER TABLE public.leads ALTER COLUMN id TYPE bigint" in item["remediation"]
    conn.execute("SELECT setval('leads_id_seq', 2100000000)")
    critical = _check(db.options, "pg.sequences")
    assert critical["status"] == "critical" and critical["metrics"]["sequence_used_max_pct"] > 97


def test_cache_hit_ratio_against_thresholds_around_the_measured_value(db):
    conn = db.session()
    conn.execute("CREATE TABLE t AS SELECT g AS id, repeat('x', 100) AS pad FROM generate_series(1, 20000) g")
    for _ in range(3):
        conn.execute("SELECT count(*) FROM t").fetchone()
    # The session's block counters are in pg_stat_database when this returns: no waiting for the
    # backend to exit, which a loaded machine can delay past any fixed sleep.
    conn.execute("SELECT pg_stat_force_next_flush()")
    conn.close()
    measured = _check(db.options, "pg.cache_hit", cache_hit_min_blocks=0)["metrics"]["cache_hit_pct"]
    assert 0 < measured < 100
    ok = _check(db.options, "pg.cache_hit", cache_hit_min_blocks=0, cache_hit_warning_pct=measured / 2,
                cache_hit_critical_pct=measured / 4)
    warning = _check(db.options, "pg.cache_hit", cache_hit_min_blocks=0, cache_hit_warning_pct=100,
                     cache_hit_critical_pct=measured / 2)
    critical = _check(db.options, "pg.cache_hit", cache_hit_min_blocks=0, cache_hit_warning_pct=100,
                      cache_hit_critical_pct=100)
    assert (ok["status"], warning["status"], critical["status"]) == ("ok", "warning", "critical")
    assert critical["thresholds"]["cache_hit_pct"]["direction"] == "below"
    too_little = _check(db.options, "pg.cache_hit", cache_hit_min_blocks=10 ** 12, cache_hit_warning_pct=100)
    assert too_little["status"] == "ok" and "too little traffic" in too_little["summary"]


def test_database_size_metric_and_optional_limits(db):
    ok = _check(db.options, "pg.database_size")
    size = ok["metrics"]["database_size_bytes"]
    assert ok["status"] == "ok" and ok["thresholds"]["database_size_bytes"] == {}
    warning = _check(db.options, "pg.database_size", database_size_warning_bytes=size // 2,
                     database_size_critical_bytes=size * 100)
    critical = _check(db.options, "pg.database_size", database_size_critical_bytes=size // 2)
    assert warning["status"] == "warning" and critical["status"] == "critical"


def test_index_left_invalid_by_a_failed_concurrent_build(db):
    conn = db.session()
    conn.execute("CREATE TABLE users (email text)")
    conn.execute("INSERT INTO users VALUES ('a@example.com'), ('a@example.com')")
    assert _check(db.options, "pg.invalid_indexes")["status"] == "ok"
    with pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute("CREATE UNIQUE INDEX CONCURRENTLY users_email_key ON users (email)")
    warning = _check(db.options, "pg.invalid_indexes")
    assert warning["status"] == "warning" and warning["metrics"]["invalid_indexes"] == 1
    (item,) = warning["findings"]
    assert item["resource"] == "public.users_email_key"
    assert "REINDEX INDEX CONCURRENTLY public.users_email_key;" in item["remediation"]
    critical = _check(db.options, "pg.invalid_indexes", invalid_indexes_critical=1)
    assert critical["status"] == "critical"


def test_unreachable_and_refusing_databases_do_not_stop_the_others(db, closed_port):
    results = health_databases({"checks": ["pg.connections", "pg.database_size"], "databases": [
        dict(db.options, name="good", inventory_host="web1"),
        dict(db.options, name="down", port=closed_port, inventory_host="web2"),
        dict(db.options, name="wrong-pw", password="not-it", inventory_host="web3"),
        dict(db.options, name="good-again", inventory_host="web3"),
    ]})
    assert [(r["target"], r["id"], r["status"]) for r in results] == [
        ("good", "pg.connections", "ok"), ("good", "pg.database_size", "ok"),
        ("down", "pg.health", "critical"), ("wrong-pw", "pg.health", "critical"),
        ("good-again", "pg.connections", "ok"), ("good-again", "pg.database_size", "ok")]
    assert results[2]["connect_error"] == "refused" and results[3]["connect_error"] == "auth_failed"
    assert [r["host"] for r in results] == ["web1", "web1", "web2", "web3", "web3", "web3"]
    assert "not-it" not in json.dumps(results)


def test_a_concern_stuck_behind_a_lock_is_unknown_and_the_others_go_on(db):
    """A migration holding ACCESS EXCLUSIVE on a sequence (ALTER SEQUENCE in an open transaction)
    blocks reading it: lock_timeout cuts the sequences query, that one concern is unknown."""
    holder = db.session(autocommit=False)
    holder.execute("CREATE TABLE leads (id serial)")
    holder.commit()
    holder.execute("ALTER SEQUENCE leads_id_seq RESTART WITH 10")
    started = time.monotonic()
    results = health_databases(dict(db.options, lock_timeout_ms=200, checks=["pg.sequences", "pg.database_size"]))
    elapsed = time.monotonic() - started
    holder.rollback()
    statuses = {r["id"]: r["status"] for r in results}
    assert statuses == {"pg.sequences": "unknown", "pg.database_size": "ok"}, results
    assert "lock timeout" in results[0]["summary"] and elapsed < 5
    assert "pg_monitor" in results[0]["findings"][0]["remediation"]


@pytest.mark.parametrize("options, message", [
    ({"connections_warning_pct": 90, "connections_critical_pct": 80},
     "connections_warning_pct (90) must not exceed connections_critical_pct (80)"),
    ({"cache_hit_warning_pct": 90, "cache_hit_critical_pct": 95}, "cache_hit_warning_pct (90) must not be below"),
    ({"sequence_warning_pct": 120}, "sequence_warning_pct: a percentage must be 0-100"),
    ({"checks": ["pg.nope"]}, "checks: unknown check id(s) pg.nope"),
    ({"lock_wait_warning_s": -1}, "lock_wait_warning_s: must be 0 or more"),
])
def test_bad_parameters_are_named(pg_app, options, message):
    with pytest.raises(ParameterError) as info:
        health_databases(dict(pg_app, **options))
    assert message in str(info.value)


def test_replication_lag_on_a_real_standby_with_replay_paused(pg_cluster, pg_replica, pg_app):
    from tests.support.fixtures_pg_replica import wait_for_replay

    replica = dict(pg_app, port=pg_replica.port)
    with pg_cluster.connect("upkeep_app") as primary:
        primary.execute("CREATE TABLE IF NOT EXISTS lag_probe (id int, pad text)")
        primary.execute("INSERT INTO lag_probe VALUES (0, 'replayed')")
    wait_for_replay(pg_cluster, pg_replica)
    ok = _check(replica, "pg.replication_lag")
    assert ok["status"] == "ok" and ok["metrics"]["in_recovery"] == 1 and ok["metrics"]["replication_lag_bytes"] == 0
    with pg_replica.connect() as standby:
        standby.execute("SELECT pg_wal_replay_pause()")
        try:
            time.sleep(1.2)
            with pg_cluster.connect("upkeep_app") as primary:
                primary.execute("INSERT INTO lag_probe SELECT g, repeat('x', 200) FROM generate_series(1, 5000) g")
                lsn = primary.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0]
            deadline = time.monotonic() + 10
            while standby.execute("SELECT pg_wal_lsn_diff(pg_last_wal_receive_lsn(), %s) < 0", [lsn]).fetchone()[0]:
                assert time.monotonic() < deadline, "WAL never reached the standby"
                time.sleep(0.05)
            warning = _check(replica, "pg.replication_lag", replication_lag_warning_bytes=1,
                             replication_lag_critical_bytes=10 ** 12)
            critical = _check(replica, "pg.replication_lag", replication_lag_warning_s=0.5, replication_lag_critical_s=1)
        finally:
            standby.execute("SELECT pg_wal_replay_resume()")
    assert warning["status"] == "warning", warning
    assert warning["metrics"]["replication_lag_bytes"] > 100000 and warning["metrics"]["replay_paused"] == 1
    assert critical["status"] == "critical" and critical["metrics"]["replication_lag_s"] >= 1, critical
    (item,) = critical["findings"]
    assert "PAUSED" in item["detail"] and "SELECT pg_wal_replay_resume();" in item["remediation"]
