"""upkeep_pg_maintenance and the upkeep_postgres_maintenance role through real ansible-playbook
runs against a real PostgreSQL cluster on loopback."""

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

MAINTAIN = "Maintain the database"
ROLE_TASK = "Vacuum and analyze the tables that need it on every database of the play"
COUNTERS = "SELECT relname, vacuum_count, analyze_count, n_dead_tup FROM pg_stat_user_tables ORDER BY relname"


def _everything_said(run):
    files = [path.read_text(errors="replace") for path in pathlib.Path(run.artifacts_dir).rglob("*") if path.is_file()]
    return "\n".join([run.stdout, json.dumps([item.res for item in run.results])] + files)


@pytest.fixture
def dsn(pg_cluster, pg_database):
    return pg_cluster.dsn(pg_database, APP_ROLE, APP_PASSWORD)


@pytest.fixture
def bloated(dsn):
    """Two tables with 2/3 of their rows deleted (autovacuum off for them) and one clean table."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for name in ("leads", "products", "clean"):
            conn.execute("CREATE TABLE %s (id int) WITH (autovacuum_enabled = false)" % name)
        for name in ("leads", "products"):
            conn.execute("INSERT INTO %s SELECT generate_series(1, 3000)" % name)
            conn.execute("ANALYZE %s" % name)
            conn.execute("DELETE FROM %s WHERE id %% 3 <> 0" % name)
    return _counters(dsn, lambda rows: all(rows.get(t, (0, 0, 0))[2] == 2000 for t in ("leads", "products")))


def _counters(dsn, until=None, timeout_s=10):
    deadline = time.monotonic() + timeout_s
    while True:
        with psycopg.connect(dsn, autocommit=True) as conn:
            rows = {row[0]: row[1:] for row in conn.execute(COUNTERS)}
        if until is None or until(rows) or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def test_check_mode_lists_the_statements_and_changes_nothing(pg_app, pg_database, dsn, bloated, tmp_path):
    run = run_tasks([{"name": MAINTAIN, "upkeep_pg_maintenance": dict(pg_app, database=pg_database)}],
                    check=True, tmp_path=tmp_path)
    result = run.one(MAINTAIN)
    assert not result.failed, run.stdout[-3000:]
    assert result.res["statements"] == ['VACUUM (ANALYZE) "public"."leads"', 'VACUUM (ANALYZE) "public"."products"']
    assert result.res["changed"] is True  # Ansible's check-mode convention: it would change
    assert [a["status"] for a in result.res["checks"][0]["actions"]] == ["would_run", "would_run"]
    time.sleep(1.0)
    assert _counters(dsn) == bloated
    assert APP_PASSWORD not in _everything_said(run)


def test_run_reports_changed_only_when_it_ran_something(pg_app, pg_database, dsn, bloated, tmp_path):
    task = {"name": MAINTAIN, "upkeep_pg_maintenance": dict(pg_app, database=pg_database)}
    first = run_tasks([task], tmp_path=tmp_path / "first").one(MAINTAIN)
    assert not first.failed and first.res["changed"] is True
    (check,) = first.res["checks"]
    assert [(a["table"], a["status"], a["before"]["n_dead_tup"], a["after"]["n_dead_tup"]) for a in check["actions"]] == [
        ("public.leads", "ran", 2000, 0), ("public.products", "ran", 2000, 0)]
    after = _counters(dsn, lambda rows: rows["leads"][0] == 1 and rows["products"][0] == 1)
    assert after["clean"] == bloated["clean"]
    second = run_tasks([task], tmp_path=tmp_path / "second").one(MAINTAIN)
    assert second.res["changed"] is False and second.res["statements"] == []


@pytest.mark.parametrize("options, message", [
    ({"databases": [{"name": "a"}], "vacuum_full_tables": ["public.leads"]}, "VACUUM FULL is never applied to a whole fleet"),
    ({"vacuum_dead_ratio_pct": 101}, "vacuum_dead_ratio_pct: a percentage must be 0-100"),
])
def test_bad_parameters_fail_with_a_clear_message(pg_app, options, message, tmp_path):
    run = run_tasks([{"name": MAINTAIN, "upkeep_pg_maintenance": dict(pg_app, **options)}], tmp_path=tmp_path)
    result = run.one(MAINTAIN)
    assert result.failed and message in result.res["msg"], result.res
    assert "Traceback (most recent call last)" not in run.stdout + json.dumps(result.res)
    assert APP_PASSWORD not in _everything_said(run)


def test_role_maintains_each_hosts_databases_in_one_call(pg_cluster, pg_database, bloated, closed_port, tmp_path):
    database = {"host": pg_cluster.host, "port": pg_cluster.port, "user": APP_ROLE, "password": APP_PASSWORD,
                "database": pg_database}
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory = {"all": {"hosts": {
        # Items also carry ping and health options; the maintenance task keeps its own.
        "db1": dict(local, upkeep_postgres_databases=[dict(database, name="app-db", samples=3, long_query_warning_s=5,
                                                           vacuum_full_tables=["public.clean"])]),
        "db2": dict(local, upkeep_postgres_databases=[dict(database, name="gone", port=closed_port)]),
    }}}
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump([{"name": "Monthly", "hosts": "all", "gather_facts": False,
                                         "roles": [{"role": "upkeep_postgres_maintenance"}]}]))
    run = run_tasks(None, inventory=inventory, playbook=playbook, check=True, tmp_path=tmp_path / "run")
    results = run.for_task(ROLE_TASK)
    assert len(results) == 1 and not results[0].failed, run.stdout[-3000:]
    checks = results[0].res["checks"]
    assert [(c["host"], c["target"], c["status"]) for c in checks] == [("db1", "app-db", "ok"), ("db2", "gone", "critical")]
    assert results[0].res["statements"] == ['VACUUM (FULL, ANALYZE) "public"."clean"', 'VACUUM (ANALYZE) "public"."leads"',
                                            'VACUUM (ANALYZE) "public"."products"']
    assert APP_PASSWORD not in _everything_said(run)


def test_partitioned_parent_is_analyzed_as_a_whole(pg_app, pg_database, dsn, tmp_path):
    # Monthly partitions the way an events table is kept; the leaves are analyzed (as autovacuum
    # would), the parent never: nothing but a maintenance run ever analyzes it.
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE availability_updates (id bigint, at date NOT NULL, status text) PARTITION BY RANGE (at)")
        for month in (1, 2, 3):
            conn.execute("CREATE TABLE availability_updates_2026_%02d PARTITION OF availability_updates "
                         "FOR VALUES FROM ('2026-%02d-01') TO ('2026-%02d-01')" % (month, month, month + 1))
        conn.execute("INSERT INTO availability_updates SELECT g, date '2026-01-01' + g % 89, "
                     "(ARRAY['open', 'closed'])[1 + g % 2] FROM generate_series(1, 30000) g")
        # The insert's counts are in the statistics when this returns, so they cannot land after
        # the leaves' ANALYZE and count as modified again. Closing the session flushes them too,
        # but only when the backend gets round to exiting, which a loaded machine delays.
        conn.execute("SELECT pg_stat_force_next_flush()")
    with psycopg.connect(dsn, autocommit=True) as conn:
        for month in (1, 2, 3):
            conn.execute("ANALYZE availability_updates_2026_%02d" % month)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with psycopg.connect(dsn, autocommit=True) as conn:
            if conn.execute("SELECT count(*) = 3 FROM pg_stat_user_tables WHERE relname LIKE 'availability\\_updates\\_%' "
                            "AND n_mod_since_analyze = 0 AND analyze_count = 1").fetchone()[0]:
                break
        time.sleep(0.1)
    else:
        pytest.fail("the partitions' statistics never showed their ANALYZE")
    task = {"name": MAINTAIN, "upkeep_pg_maintenance": dict(pg_app, database=pg_database)}
    planned = run_tasks([task], check=True, tmp_path=tmp_path / "check").one(MAINTAIN)
    assert planned.res["statements"] == ['ANALYZE "public"."availability_updates"'], planned.res
    (action,) = planned.res["checks"][0]["actions"]
    assert action["partitioned"] is True and action["partitions"] == 3 and action["status"] == "would_run"
    assert action["reason"].startswith("never analyzed as a whole (autovacuum never analyzes a partitioned table); "
                                       "30000 rows in 3 partition(s)"), action
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert not conn.execute("SELECT 1 FROM pg_stats WHERE tablename = 'availability_updates'").fetchall()
    ran = run_tasks([task], tmp_path=tmp_path / "run").one(MAINTAIN)
    assert [a["status"] for a in ran.res["checks"][0]["actions"]] == ["ran"] and ran.res["changed"] is True
    with psycopg.connect(dsn, autocommit=True) as conn:
        # The planner now has statistics for the table as a whole (inherited = true).
        assert conn.execute("SELECT bool_and(inherited) FROM pg_stats WHERE tablename = 'availability_updates'"
                            ).fetchone()[0] is True
    again = run_tasks([task], tmp_path=tmp_path / "again").one(MAINTAIN)
    assert again.res["statements"] == [] and again.res["changed"] is False
