"""The pg.* review checks against a real PostgreSQL cluster: each from real objects, ok and
warning/critical. Each test gets a fresh database (pg_database) owned by the app role."""

from __future__ import annotations

import pathlib
import re
import shutil
import tempfile

import psycopg
import pytest

from ansible.module_utils.upkeep.pg_review import review_databases
from ansible.module_utils.upkeep.pg_review_queries import _timing_columns
from tests.support.fixtures_pg import APP_DB, APP_PASSWORD, APP_ROLE, SUPERUSER_PASSWORD, app_dsn, app_options
from upkeep.sandbox.pgcluster import PgCluster


def review(cluster, database, checks, **settings):
    params = dict(app_options(cluster, database=database), checks=checks, acknowledgements=[], **settings)
    return {c["id"]: c for c in review_databases(params)}


def run(cluster, database, *statements):
    """Run statements as the app role, their activity statistics (which the checks read) in
    shared memory before this returns: closing the session would flush them only when its
    backend exits, which a loaded machine can delay past the next session's first read."""
    with psycopg.connect(app_dsn(cluster, database), autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)
        conn.execute("SELECT pg_stat_force_next_flush()")


def titles(item):
    return [(f["severity"], f["title"]) for f in item["findings"]]


def test_unused_index_found_with_stats_age_and_young_stats_lower_severity(pg_cluster, pg_database):
    run(pg_cluster, pg_database,
        "CREATE TABLE t (id int PRIMARY KEY, a int, b int, c int UNIQUE)",
        "INSERT INTO t SELECT g, g, g, g FROM generate_series(1, 2000) g",
        "CREATE INDEX t_a_idx ON t (a)", "CREATE INDEX t_b_idx ON t (b)", "ANALYZE t")
    run(pg_cluster, pg_database, "SET enable_seqscan = off", "SELECT * FROM t WHERE b = 5")
    judged = review(pg_cluster, pg_database, ["unused_indexes"], min_stats_age_days=0)["pg.unused_indexes"]
    assert titles(judged) == [("warning", "Unused index public.t_a_idx")]  # not the pkey, unique or used one
    assert judged["status"] == "warning" and "days of statistics" in judged["summary"]
    assert judged["findings"][0]["remediation"].startswith("DROP INDEX CONCURRENTLY public.t_a_idx;")
    young = review(pg_cluster, pg_database, ["unused_indexes"], min_stats_age_days=7)["pg.unused_indexes"]
    assert young["status"] == "ok" and titles(young) == [("info", "Unused index public.t_a_idx")]
    # A new database has no statistics reset, so the age runs from the test cluster's start: an
    # hour or more into a long suite on a slow machine, hence no exact "0.0".
    age = re.search(r"only (\d+\.\d) days old", young["findings"][0]["detail"])
    assert age and float(age.group(1)) < 7 and "means nothing yet" in young["findings"][0]["detail"], young
    assert "too early to judge" in young["summary"]
    assert young["findings"][0]["fingerprint"] == judged["findings"][0]["fingerprint"]
    run(pg_cluster, pg_database, "DROP INDEX t_a_idx")
    assert review(pg_cluster, pg_database, ["unused_indexes"], min_stats_age_days=0)["pg.unused_indexes"]["status"] == "ok"


def test_no_index_scan_at_all_means_fresh_statistics(pg_cluster, pg_database):
    """A restored database on a long-running server: no reset recorded, no scan either."""
    run(pg_cluster, pg_database, "CREATE TABLE t (id int PRIMARY KEY, a int)", "CREATE INDEX t_a_idx ON t (a)")
    judged = review(pg_cluster, pg_database, ["unused_indexes"], min_stats_age_days=0)["pg.unused_indexes"]
    assert judged["status"] == "ok" and judged["metrics"]["index_scans"] == 0
    assert titles(judged) == [("info", "Unused index public.t_a_idx")]
    assert "no index scan is recorded at all" in judged["findings"][0]["detail"]


def test_duplicate_and_prefix_indexes(pg_cluster, pg_database):
    run(pg_cluster, pg_database, "CREATE TABLE t (id int PRIMARY KEY, a int, b int, c text)",
        "CREATE INDEX t_a_b ON t (a, b)", "CREATE INDEX t_c ON t (c)")
    assert review(pg_cluster, pg_database, ["duplicate_indexes"])["pg.duplicate_indexes"]["status"] == "ok"
    run(pg_cluster, pg_database, "CREATE INDEX t_c_again ON t (c)", "CREATE INDEX t_a ON t (a)",
        "CREATE INDEX t_b_desc ON t (b DESC)", "CREATE INDEX t_b_asc ON t (b)")  # different order: not duplicates
    judged = review(pg_cluster, pg_database, ["duplicate_indexes"])["pg.duplicate_indexes"]
    assert judged["status"] == "warning"
    assert sorted(titles(judged)) == [("warning", "Duplicate index public.t_c_again"),
                                      ("warning", "Redundant index public.t_a")]
    assert {f["remediation"] for f in judged["findings"]} == {"DROP INDEX CONCURRENTLY public.t_c_again;",
                                                               "DROP INDEX CONCURRENTLY public.t_a;"}


def test_unindexed_foreign_key_with_create_index_remedy(pg_cluster, pg_database):
    run(pg_cluster, pg_database, "CREATE TABLE parent (id int PRIMARY KEY)",
        "CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent, other_id int REFERENCES parent)",
        "INSERT INTO parent SELECT generate_series(1, 10)",
        "INSERT INTO child SELECT g, 1 + g % 10, 1 FROM generate_series(1, 3000) g",
        "CREATE INDEX child_other ON child (other_id, id)", "ANALYZE")
    judged = review(pg_cluster, pg_database, ["unindexed_fks"])["pg.unindexed_fks"]
    assert judged["status"] == "warning"
    assert titles(judged) == [("warning", "Foreign key public.child.child_parent_id_fkey has no index")]
    assert judged["findings"][0]["remediation"] == "CREATE INDEX CONCURRENTLY ON public.child (parent_id);"
    small = review(pg_cluster, pg_database, ["unindexed_fks"], fk_min_rows=5000)["pg.unindexed_fks"]
    assert small["status"] == "ok" and small["findings"][0]["severity"] == "info"
    run(pg_cluster, pg_database, judged["findings"][0]["remediation"].replace("CONCURRENTLY ", ""))
    fixed = review(pg_cluster, pg_database, ["unindexed_fks"])["pg.unindexed_fks"]
    assert fixed["status"] == "ok" and fixed["findings"] == []


def test_heavy_sequential_scans(pg_cluster, pg_database):
    run(pg_cluster, pg_database, "CREATE TABLE events (id int, kind text)",
        "INSERT INTO events SELECT g, 'k' || g % 7 FROM generate_series(1, 5000) g")
    settings = dict(seq_scan_min_scans=5, seq_scan_min_rows=1000)
    assert review(pg_cluster, pg_database, ["seq_scans"], **settings)["pg.seq_scans"]["status"] == "ok"
    run(pg_cluster, pg_database, *["SELECT count(*) FROM events WHERE kind = 'k1'"] * 6)
    judged = review(pg_cluster, pg_database, ["seq_scans"], **settings)["pg.seq_scans"]
    assert judged["status"] == "warning" and titles(judged) == [("warning", "Heavy sequential scans on public.events")]
    assert "no index at all" in judged["findings"][0]["detail"]


def test_sizes_lists_largest_with_toast_and_judges_limits(pg_cluster, pg_database):
    run(pg_cluster, pg_database, "CREATE TABLE docs (id int PRIMARY KEY, body text)",
        "ALTER TABLE docs ALTER COLUMN body SET STORAGE EXTERNAL",
        "INSERT INTO docs SELECT g, repeat(md5(g::text), 200) FROM generate_series(1, 300) g",
        "CREATE TABLE tiny (id int)")
    judged = review(pg_cluster, pg_database, ["sizes"], top_n=1)["pg.sizes"]
    assert judged["status"] == "ok" and [t["table"] for t in judged["largest"]] == ["public.docs"]
    largest = judged["largest"][0]
    assert largest["toast_bytes"] > 1_000_000 and largest["total_bytes"] >= largest["toast_bytes"] + largest["table_bytes"]
    assert judged["metrics"]["tables"] == 2 and judged["metrics"]["database_bytes"] > largest["total_bytes"]
    warned = review(pg_cluster, pg_database, ["sizes"], table_warning_bytes=1_000_000)["pg.sizes"]
    assert warned["status"] == "warning" and titles(warned) == [("warning", "Large table public.docs")]
    critical = review(pg_cluster, pg_database, ["sizes"], table_warning_bytes=100, table_critical_bytes=1_000_000)
    assert critical["pg.sizes"]["status"] == "critical"


def test_bloat_estimate_after_mass_delete(pg_cluster, pg_database):
    run(pg_cluster, pg_database, "CREATE TABLE t (id int, payload text) WITH (autovacuum_enabled = off)",
        "INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 40000) g", "ANALYZE t")
    fresh = review(pg_cluster, pg_database, ["bloat"], bloat_min_bytes=0)["pg.bloat"]
    assert fresh["status"] == "ok" and fresh["metrics"]["estimated_bloat_bytes"] < 200_000
    run(pg_cluster, pg_database, "DELETE FROM t WHERE id % 4 <> 0", "ANALYZE t")
    judged = review(pg_cluster, pg_database, ["bloat"], bloat_min_bytes=0)["pg.bloat"]
    assert judged["status"] == "critical" and titles(judged) == [("critical", "Bloated table public.t")]  # ~75%
    assert review(pg_cluster, pg_database, ["bloat"], bloat_min_bytes=0, bloat_critical_pct=90)["pg.bloat"]["status"] == "warning"
    assert review(pg_cluster, pg_database, ["bloat"])["pg.bloat"]["status"] == "ok"  # under the 10 MB floor


def test_slow_queries_from_pg_stat_statements(pg_cluster, pg_database):
    with pg_cluster.connect(pg_database) as admin:
        admin.execute("CREATE EXTENSION pg_stat_statements")
    # The sleep is a floor for every limit below it, whatever the machine; the default 100 ms
    # warning must stay far above it, as a loaded machine adds tens of ms to each call.
    run(pg_cluster, pg_database, *["SELECT pg_sleep(0.02)"] * 5, "SELECT 1")
    judged = review(pg_cluster, pg_database, ["slow_queries"], slow_mean_warning_ms=10, slow_min_calls=3)["pg.slow_queries"]
    assert judged["status"] == "warning" and len(judged["findings"]) == 1
    assert "pg_sleep" in judged["findings"][0]["detail"] and judged["metrics"]["slowest_mean_ms"] >= 20
    assert judged["top_by_total_time"][0]["calls"] == 5
    assert "upkeep" not in str(judged["top_by_total_time"])  # the review's own statements are left out
    critical = review(pg_cluster, pg_database, ["slow_queries"], slow_mean_warning_ms=5, slow_mean_critical_ms=15,
                      slow_min_calls=3)
    assert critical["pg.slow_queries"]["status"] == "critical"
    calm = review(pg_cluster, pg_database, ["slow_queries"], slow_min_calls=3)["pg.slow_queries"]
    assert calm["status"] == "ok" and calm["findings"] == []


def test_missing_pg_stat_statements_is_a_finding_not_a_failure(pg_cluster, pg_database):
    judged = review(pg_cluster, pg_database, ["slow_queries", "sizes"])
    slow = judged["pg.slow_queries"]
    assert slow["status"] == "warning" and slow["metrics"]["pg_stat_statements"] == 0
    assert "not installed" in slow["findings"][0]["title"]
    assert "CREATE EXTENSION" in slow["findings"][0]["remediation"] and "shared_preload_libraries" in slow["findings"][0]["remediation"]
    assert judged["pg.sizes"]["status"] == "ok"


def test_timing_columns_follow_the_view_not_the_version(pg_cluster, pg_database):
    """PostgreSQL 12 is not installed here: a real view with PG12's column names stands in for
    its pg_stat_statements, and the column lookup must pick them."""
    with pg_cluster.connect(pg_database) as admin:
        admin.execute("CREATE SCHEMA legacy")
        admin.execute("CREATE VIEW legacy.pg_stat_statements AS SELECT 1::bigint AS calls, 2.0::float8 AS total_time, "
                      "2.0::float8 AS mean_time")
        admin.execute("CREATE EXTENSION pg_stat_statements")
        assert _timing_columns(admin, "legacy") == ("total_time", "mean_time")
        assert _timing_columns(admin, "public") == ("total_exec_time", "mean_exec_time")


def test_unreachable_database_is_one_critical_check_and_others_go_on(pg_cluster, pg_database):
    params = dict(app_options(pg_cluster, database=pg_database), checks=["sizes"], acknowledgements=[],
                  databases=[{"name": "good"}, {"name": "gone", "database": "no_such_db"}])
    checks = review_databases(params)
    assert [(c["id"], c["target"], c["status"]) for c in checks] == [
        ("pg.sizes", "good", "ok"), ("pg.review", "gone", "critical")]
    assert checks[1]["connect_error"] == "database_missing"


def test_acknowledged_finding_no_longer_counts(pg_cluster, pg_database):
    run(pg_cluster, pg_database, "CREATE TABLE t (id int PRIMARY KEY, c text)", "CREATE INDEX t_c1 ON t (c)",
        "CREATE INDEX t_c2 ON t (c)")
    first = review(pg_cluster, pg_database, ["duplicate_indexes"])["pg.duplicate_indexes"]
    mark = first["findings"][0]["fingerprint"]
    params = dict(app_options(pg_cluster, database=pg_database), checks=["duplicate_indexes"],
                  acknowledgements=[{"fingerprint": mark, "reason": "kept for the migration", "expires": "2999-01-01"}])
    acked = review_databases(params)[0]
    assert acked["status"] == "ok" and acked["findings"][0]["acknowledged"]["reason"] == "kept for the migration"
    params["acknowledgements"][0]["expires"] = "2000-01-01"
    expired = review_databases(params)[0]
    assert expired["status"] == "warning" and expired["findings"][0]["acknowledgement_expired"]["expires"] == "2000-01-01"


@pytest.fixture(scope="module")
def unloaded_cluster():
    """A second cluster whose shared_preload_libraries leaves pg_stat_statements out."""
    root = pathlib.Path(tempfile.mkdtemp(prefix="upkeep-pg-unloaded-"))
    cluster = PgCluster(root / "cluster")
    try:
        cluster.init(SUPERUSER_PASSWORD, settings={"shared_preload_libraries": ""})
        cluster.start()
        cluster.create_role_and_db(APP_ROLE, APP_PASSWORD, APP_DB)
        yield cluster
    finally:
        cluster.destroy()
        shutil.rmtree(root, ignore_errors=True)


def test_created_but_not_preloaded_pg_stat_statements_is_a_finding(unloaded_cluster):
    with unloaded_cluster.connect(APP_DB) as admin:
        admin.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    slow = review(unloaded_cluster, APP_DB, ["slow_queries"])["pg.slow_queries"]
    assert slow["status"] == "warning" and slow["findings"][0]["title"] == "pg_stat_statements is created but not preloaded"
    assert "shared_preload_libraries" in slow["findings"][0]["detail"]


def test_slow_query_text_never_carries_string_literals(pg_cluster, pg_database):
    with pg_cluster.connect(pg_database) as admin:
        admin.execute("CREATE EXTENSION pg_stat_statements")
    # A utility statement by the reviewing role itself (so it may read the text), which
    # pg_stat_statements keeps as typed; the last one restores the fixture's password.
    run(pg_cluster, pg_database, *["ALTER ROLE %s PASSWORD 'leaky-secret-91'" % APP_ROLE] * 2)
    with pg_cluster.connect(pg_database) as admin:
        admin.execute("ALTER ROLE %s PASSWORD '%s'" % (APP_ROLE, APP_PASSWORD))
    judged = review(pg_cluster, pg_database, ["slow_queries"], slow_min_calls=1, top_n=50)["pg.slow_queries"]
    text = str(judged)
    assert "ALTER ROLE" in text and "leaky-secret-91" not in text and APP_PASSWORD not in text


def test_a_locked_table_makes_one_check_unknown_without_queueing(pg_cluster, pg_database):
    run(pg_cluster, pg_database, "CREATE TABLE busy (id int PRIMARY KEY)", "CREATE TABLE t (id int, c text)",
        "CREATE INDEX t_c1 ON t (c)", "CREATE INDEX t_c2 ON t (c)")
    with psycopg.connect(app_dsn(pg_cluster, pg_database)) as holder:
        holder.execute("LOCK TABLE busy IN ACCESS EXCLUSIVE MODE")  # as an ALTER TABLE would, held open
        judged = review(pg_cluster, pg_database, ["sizes", "duplicate_indexes"])
        holder.rollback()
    assert judged["pg.sizes"]["status"] == "unknown" and "lock timeout" in judged["pg.sizes"]["summary"]
    assert judged["pg.sizes"]["duration_ms"] < 10000
    assert judged["pg.duplicate_indexes"]["status"] == "warning"  # the other checks go on
