"""pg maintenance against a real PostgreSQL cluster on loopback: tables made to need VACUUM or
ANALYZE for real (deletes, bulk updates with autovacuum off for them), pg_stat_user_tables
counters read before and after."""

from __future__ import annotations

import json
import threading
import time

import psycopg
import pytest

from ansible.module_utils.upkeep.pg_maintenance import MAINTENANCE_DEFAULTS, maintain_databases, needs, plan
from ansible.module_utils.upkeep.result import ParameterError
from tests.support.fixtures_pg import APP_PASSWORD, APP_ROLE

COUNTERS_SQL = ("SELECT relname, vacuum_count, analyze_count, autovacuum_count, autoanalyze_count, n_dead_tup, n_live_tup "
                "FROM pg_stat_user_tables ORDER BY relname")


@pytest.fixture
def db(pg_cluster, pg_database, pg_app):
    return {"options": dict(pg_app, database=pg_database),
            "dsn": pg_cluster.dsn(pg_database, APP_ROLE, APP_PASSWORD)}


def _session(db):
    return psycopg.connect(db["dsn"], autocommit=True)


def _make_tables(db, total, needing, rows=3000):
    """``total`` tables (autovacuum off, so only this test changes them) of which the first
    ``needing`` get dead tuples: rows inserted, then 2/3 deleted. Statistics are flushed when the
    session ends, so it ends here."""
    with _session(db) as conn:
        conn.execute("""
            DO $$ BEGIN
              FOR i IN 1..%d LOOP
                EXECUTE format('CREATE TABLE %%I (id int, pad text) WITH (autovacuum_enabled = false)', 't' || lpad(i::text, 4, '0'));
              END LOOP;
            END $$""" % total)
        for i in range(1, needing + 1):
            name = "t%04d" % i
            conn.execute("INSERT INTO %s SELECT g, 'x' FROM generate_series(1, %d) g" % (name, rows))
            conn.execute("ANALYZE %s" % name)  # so only the deletes count as "needs vacuum"
            conn.execute("DELETE FROM %s WHERE id %% 3 <> 0" % name)
    return ["t%04d" % i for i in range(1, needing + 1)]


def _counters(db, expect=None, timeout_s=10):
    """pg_stat_user_tables counters by table; with ``expect(counters) -> bool``, poll until true
    (a backend's statistics reach shared memory shortly after it ends)."""
    deadline = time.monotonic() + timeout_s
    while True:
        with _session(db) as conn:
            rows = conn.execute(COUNTERS_SQL).fetchall()
        counters = {row[0]: row[1:] for row in rows}
        if expect is None or expect(counters) or time.monotonic() > deadline:
            return counters
        time.sleep(0.1)


def _wait_stats(db, tables):
    return _counters(db, lambda c: all(c.get(t, (0,) * 6)[4] >= 1000 for t in tables))


def test_touches_exactly_the_ten_tables_of_a_thousand_that_need_it(db):
    needing = _make_tables(db, 1000, 10)
    before = _wait_stats(db, needing)
    assert len(before) == 1000 and all(before[t][4] == 2000 for t in needing)
    checks, statements = maintain_databases(dict(db["options"]))
    (result,) = checks
    assert result["id"] == "pg.maintenance" and result["status"] == "ok", result
    assert sorted(a["table"] for a in result["actions"]) == ["public." + t for t in needing]
    assert statements == ['VACUUM (ANALYZE) "public"."%s"' % t for t in sorted(needing)]
    assert all(a["status"] == "ran" and a["changed"] and a["before"]["n_dead_tup"] == 2000 and a["before"]["dead_pct"] >= 10
               and a["after"]["n_dead_tup"] == 0 and a["after"]["dead_pct"] == 0 and a["duration_ms"] >= 0
               for a in result["actions"])
    assert result["metrics"]["tables_checked"] == 1000 and result["metrics"]["statements_run"] == 10
    assert result["criteria"]["vacuum_dead_ratio_pct"] == 10.0 and result["thresholds"] == {}
    assert result["metrics"]["dead_tuples_before"] == 20000 and result["metrics"]["dead_tuples_after"] == 0
    after = _counters(db, lambda c: all(c[t][0] == 1 for t in needing))
    touched = sorted(t for t in after if after[t][:2] != before[t][:2])
    assert touched == needing
    assert all(after[t][:2] == (1, 2) for t in needing)  # VACUUM (ANALYZE) on top of the test's ANALYZE
    # Done: a second run finds nothing to do and changes nothing.
    (again,), statements = maintain_databases(dict(db["options"]))
    assert again["actions"] == [] and statements == [] and "nothing to do" in again["summary"]


def test_check_mode_returns_the_statements_and_runs_none(db):
    needing = _make_tables(db, 20, 3)
    before = _wait_stats(db, needing)
    (result,), statements = maintain_databases(dict(db["options"]), check_mode=True)
    assert statements == ['VACUUM (ANALYZE) "public"."%s"' % t for t in needing]
    assert [a["status"] for a in result["actions"]] == ["would_run"] * 3
    assert result["metrics"]["statements_run"] == 0 and result["check_mode"] is True
    time.sleep(1.0)  # give any (wrong) vacuum time to reach the statistics
    with _session(db) as conn:
        conn.execute("SELECT pg_stat_force_next_flush()")
    assert _counters(db) == before


def test_analyze_only_after_bulk_updates_and_age_thresholds(db):
    with _session(db) as conn:
        conn.execute("CREATE TABLE products (id int, price int) WITH (autovacuum_enabled = false)")
        conn.execute("INSERT INTO products SELECT g, g FROM generate_series(1, 5000) g")
    # Each step in its own session: a session's row counts reach the statistics when it ends, and
    # an ANALYZE before the inserts are counted would leave them counted as "modified since".
    _counters(db, lambda c: c.get("products", (0,) * 6)[5] >= 5000)
    with _session(db) as conn:
        conn.execute("VACUUM ANALYZE products")
    with _session(db) as conn:
        conn.execute("UPDATE products SET price = price + 1 WHERE id <= 1500")
    _counters(db, lambda c: c["products"][4] >= 1500)
    # 1500 dead of 6500 is 23 %: with a high dead-ratio limit and a long age it is analyze only.
    (result,), statements = maintain_databases(dict(db["options"], vacuum_dead_ratio_pct=50, vacuum_max_age_days=365))
    assert statements == ['ANALYZE "public"."products"'], result
    assert "1500 rows modified" in result["actions"][0]["reason"]


def test_lock_timeout_on_a_busy_table_is_a_finding_and_the_rest_goes_on(db):
    needing = _make_tables(db, 5, 3)
    _wait_stats(db, needing)
    holder = _session(db)
    holder.autocommit = False
    holder.execute("LOCK TABLE t0002 IN ACCESS EXCLUSIVE MODE")
    try:
        started = time.monotonic()
        (result,), statements = maintain_databases(dict(db["options"], lock_timeout_ms=300))
        elapsed = time.monotonic() - started
    finally:
        holder.rollback()
        holder.close()
    assert {a["table"]: a["status"] for a in result["actions"]} == {
        "public.t0001": "ran", "public.t0002": "lock_timeout", "public.t0003": "ran"}
    assert statements == ['VACUUM (ANALYZE) "public"."t0001"', 'VACUUM (ANALYZE) "public"."t0003"']
    assert result["status"] == "warning" and elapsed < 10
    (item,) = result["findings"]
    assert item["resource"] == "public.t0002" and "lock_timeout" in item["detail"]


def test_vacuum_full_only_for_named_tables_and_quoted(db):
    odd = '"Odd ""Name"""'
    filenode = "SELECT pg_relation_filenode(%s::regclass)"
    with _session(db) as conn:
        conn.execute("CREATE TABLE %s (id int)" % odd)
        conn.execute("INSERT INTO %s VALUES (1)" % odd)
        node_before = conn.execute(filenode, [odd]).fetchone()[0]
    (result,), statements = maintain_databases(dict(db["options"], vacuum_full_tables=["public." + odd, "nope"]))
    assert statements == ['VACUUM (FULL, ANALYZE) "public".%s' % odd]
    with _session(db) as conn:
        node_after = conn.execute(filenode, [odd]).fetchone()[0]
    assert node_after != node_before  # really rewritten
    assert result["status"] == "warning" and "nope is not a table" in result["findings"][0]["title"]
    (default_run,), statements = maintain_databases(dict(db["options"]))
    assert statements == []  # without being named, never FULL


def test_refuses_a_read_only_database(db, pg_cluster, pg_database):
    _make_tables(db, 3, 1)
    with pg_cluster.connect() as conn:
        conn.execute('ALTER DATABASE "%s" SET default_transaction_read_only = on' % pg_database)
    (result,), statements = maintain_databases(dict(db["options"]))
    assert result["status"] == "warning" and statements == [] and result["actions"] == []
    assert "read-only" in result["summary"] and "primary" in result["findings"][0]["remediation"]


def test_unreachable_database_does_not_stop_the_others(db, closed_port):
    needing = _make_tables(db, 3, 1)
    _wait_stats(db, needing)
    checks, statements = maintain_databases({"databases": [
        dict(db["options"], name="down", port=closed_port, inventory_host="db1"),
        dict(db["options"], name="wrong", password="nope-pw", inventory_host="db2"),
        dict(db["options"], name="good", inventory_host="db3")]})
    assert [(c["target"], c["status"]) for c in checks] == [("down", "critical"), ("wrong", "critical"), ("good", "ok")]
    assert statements == ['VACUUM (ANALYZE) "public"."t0001"']
    assert "nope-pw" not in json.dumps(checks) and APP_PASSWORD not in json.dumps(checks)


def test_plan_rules_without_a_server():
    settings = dict(MAINTENANCE_DEFAULTS)
    row = {"relid": 1, "schemaname": "public", "relname": "a", "n_live_tup": 100000, "n_dead_tup": 5000,
           "n_mod_since_analyze": 0, "vacuum_age_days": 2.0, "analyze_age_days": 2.0}
    assert needs(row, settings) == (None, None)  # 4.8 % dead, vacuumed recently
    assert needs(dict(row, vacuum_age_days=None), settings)[0].startswith("5000 dead tuples, last vacuum never")
    assert needs(dict(row, n_dead_tup=20000), settings)[0].startswith("20000 dead tuples, 16.7%")
    assert needs(dict(row, n_dead_tup=999, n_live_tup=0), settings)[0] is None  # too few to matter
    assert needs(dict(row, n_mod_since_analyze=2000, analyze_age_days=8), settings)[1].startswith("2000 rows modified, last analyze 8.0")
    rows = [dict(row, relid=i, relname="t%d" % i, n_dead_tup=20000 + i) for i in range(5)]
    actions, over = plan(rows, dict(settings, max_tables=3))
    assert [a["table"] for a in actions] == ["public.t4", "public.t3", "public.t2"] and over == 2


@pytest.mark.parametrize("params, message", [
    ({"vacuum_dead_ratio_pct": 150}, "vacuum_dead_ratio_pct: a percentage must be 0-100"),
    ({"databases": [{"database": "x"}], "vacuum_full_tables": ["public.x"]}, "VACUUM FULL is never applied to a whole fleet"),
    ({"databases": [{"database": "x", "vacuum_full_tables": [""]}]}, "databases[0].vacuum_full_tables[0]"),
    ({"lock_timeout_ms": 0}, "lock_timeout_ms: must be 1 or more milliseconds, got 0"),
])
def test_bad_parameters_are_named(params, message):
    with pytest.raises(ParameterError) as info:
        maintain_databases(params)
    assert message in str(info.value)


def test_refuses_a_standby(pg_replica, pg_app):
    (result,), statements = maintain_databases(dict(pg_app, port=pg_replica.port))
    assert result["status"] == "warning" and statements == []
    assert "standby" in result["summary"] and "nothing was run" in result["summary"]


def test_table_the_role_does_not_own_is_reported_as_skipped(db, pg_cluster):
    """VACUUM skips a table it may not touch with a WARNING notice, not an error: that must not pass as done."""
    needing = _make_tables(db, 2, 1)
    _wait_stats(db, needing)
    with pg_cluster.connect() as su:
        if not su.execute("SELECT 1 FROM pg_roles WHERE rolname = 'upkeep_not_owner'").fetchone():
            su.execute("CREATE ROLE upkeep_not_owner LOGIN PASSWORD 'not-owner-pw-1'")
    (result,), statements = maintain_databases(dict(db["options"], user="upkeep_not_owner", password="not-owner-pw-1"))
    assert [(a["table"], a["status"], a["changed"]) for a in result["actions"]] == [("public.t0001", "skipped", False)]
    assert statements == [] and result["status"] == "warning"
    (item,) = result["findings"]
    assert item["resource"] == "public.t0001" and "owner" in item["remediation"] and "skipping" in item["detail"]


def test_a_partitioned_parent_is_analyzed_when_its_partitions_moved_on():
    from ansible.module_utils.upkeep.pg_maintenance import needs_parent

    settings = dict(MAINTENANCE_DEFAULTS)
    parent = {"relid": 1, "schemaname": "public", "relname": "events", "partitions": 12, "n_live_tup": 120000,
              "n_mod_since_analyze": 0, "leaves_analyzed_since": 0, "analyze_age_days": 2.0}
    assert needs_parent(parent, settings) is None  # analyzed recently, nothing changed since
    # Autovacuum analyzed some leaves after the parent, which was last analyzed 40 days ago.
    stale = dict(parent, analyze_age_days=40.0, leaves_analyzed_since=3)
    assert needs_parent(stale, settings) == ("last analyzed as a whole 40.0 days ago (limit 7 days); its partitions "
                                             "changed since")
    # A bulk load into the leaves, not yet analyzed anywhere.
    loaded = dict(parent, n_mod_since_analyze=60000)
    assert needs_parent(loaded, settings).startswith("60000 rows modified in its partitions since their last analyze")
    assert needs_parent(dict(parent, analyze_age_days=None, n_live_tup=0), settings) is None  # empty, nothing to learn
    actions, _ = plan([], settings, parents=[stale])
    assert [(a["table"], a["kind"], a["partitioned"], a["before"]["n_dead_tup"]) for a in actions] == [
        ("public.events", "analyze", True, 0)]
