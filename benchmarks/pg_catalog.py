#!/usr/bin/env python3
"""Benchmark: the PostgreSQL review and access review on large schemas, against the plain
catalog queries they stand on, and their scaling with the number of objects.

For each size N (default 1,000, 2,500 and 5,000 tables) it builds, in a throwaway cluster, a database of
N tables with 2N indexes (a primary key and one secondary index each), a foreign key without an
index on every other table, a few rows in each and ANALYZE statistics, all in a few big
transactions. Then, in the same run and on the same database, it times (median of --repeats, the sizes
interleaved in every round):

- floor: the plain catalog queries the checks stand on, as counts (pg_class x pg_index x
  pg_attribute, foreign keys x their columns, pg_stats, pg_stat_user_tables, role and ACL rows)
  plus the sum of every table's pg_total_relation_size (sizes live in files, not the catalog),
  one connection, no Python work: the least any review can cost;
- review: upkeep_pg_review's logic, every check, connection included;
- access: upkeep_pg_access_review's logic, every check, connection included.

Every review run must have evaluated all its checks with none unknown, and the unindexed-FK
check must have found the N/2 planted keys, so a run that skipped work cannot pass for a fast
one. Results go to benchmarks/results/pg_catalog.json and a Markdown table on stdout.

    .venv/bin/python benchmarks/pg_catalog.py [--sizes 1000,2500,5000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import shutil
import statistics
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

import ansible.module_utils  # noqa: E402

ansible.module_utils.__path__.append(str(REPO / "module_utils"))

import psycopg  # noqa: E402

from ansible.module_utils.upkeep.pg_access import ACCESS_CHECKS, access_review_databases  # noqa: E402
from ansible.module_utils.upkeep.pg_review import REVIEW_CHECKS, review_databases  # noqa: E402
from upkeep.sandbox.pgcluster import PgCluster  # noqa: E402

PASSWORD = "bench-pw"
ROLE = "bench"
BATCH = 1000  # tables per transaction

FLOOR_QUERIES = {
    "indexes_x_columns": """SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_index i ON i.indrelid = c.oid JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey)
        WHERE n.nspname = 'public'""",
    "fk_x_columns": """SELECT count(*) FROM pg_constraint k JOIN pg_attribute a ON a.attrelid = k.conrelid
        AND a.attnum = ANY(k.conkey) WHERE k.contype = 'f'""",
    "stats": "SELECT count(*) FROM pg_stats WHERE schemaname = 'public'",
    "table_stats": "SELECT count(*) FROM pg_stat_user_tables",
    "index_stats": "SELECT count(*) FROM pg_stat_user_indexes",
    "acl": """SELECT count(*) FROM pg_class c LEFT JOIN LATERAL aclexplode(c.relacl) a ON true
        JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'""",
    "roles": "SELECT count(*) FROM pg_roles",
    # Sizes come from the files, not the catalog: any size report pays these stat() calls.
    "relation_sizes": """SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'""",
}


def build(cluster: PgCluster, dbname: str, tables: int) -> float:
    """Create ``dbname`` with ``tables`` tables and 2 x tables indexes; return seconds taken."""
    began = time.perf_counter()
    with cluster.connect() as admin:
        admin.execute("CREATE DATABASE %s OWNER %s" % (dbname, ROLE))
    with cluster.connect(dbname) as admin:
        admin.execute("CREATE EXTENSION pg_stat_statements")
    with psycopg.connect(cluster.dsn(dbname, ROLE, PASSWORD)) as conn:
        for start in range(1, tables + 1, BATCH):
            end = min(tables, start + BATCH - 1)
            # Even tables reference their predecessor without an index: N/2 unindexed foreign keys.
            conn.execute("""
                DO $$ BEGIN
                  FOR i IN %d..%d LOOP
                    EXECUTE format('CREATE TABLE t%%s (id bigint PRIMARY KEY, ref_id bigint %%s, val int, note text)',
                                   i, CASE WHEN i %% 2 = 0 THEN format('REFERENCES t%%s (id)', i - 1) ELSE '' END);
                    EXECUTE format('CREATE INDEX t%%s_val_idx ON t%%s (val)', i, i);
                    EXECUTE format('INSERT INTO t%%s SELECT g, NULL, g, md5(g::text) FROM generate_series(1, 20) g', i);
                  END LOOP;
                END $$""" % (start, end))
            conn.commit()
        conn.autocommit = True
        conn.execute("ANALYZE")
    return time.perf_counter() - began


def time_floor(cluster: PgCluster, dbname: str) -> tuple[float, dict]:
    with psycopg.connect(cluster.dsn(dbname, ROLE, PASSWORD), autocommit=True) as conn:
        began = time.perf_counter()
        counts = {name: int(conn.execute(query).fetchone()[0] or 0) for name, query in FLOOR_QUERIES.items()}
        return time.perf_counter() - began, counts


def time_review(function, registry, params) -> tuple[float, list]:
    began = time.perf_counter()
    checks = function(dict(params))
    elapsed = time.perf_counter() - began
    ids = sorted(c["id"] for c in checks)
    assert ids == sorted("pg." + name for name in registry), ids
    assert all(c["status"] != "unknown" for c in checks), [c["summary"] for c in checks if c["status"] == "unknown"]
    return elapsed, checks


def machine() -> dict:
    mem = 0
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) // 1024 // 1024
    model = ""
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"cpus": os.cpu_count(), "cpu": model, "memory_gib": mem, "python": platform.python_version()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,2500,5000", help="table counts, comma separated")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", default=str(REPO / "benchmarks" / "results" / "pg_catalog.json"))
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    root = pathlib.Path(tempfile.mkdtemp(prefix="upkeep-bench-pg-"))
    cluster = PgCluster(root / "cluster")
    results = []
    try:
        # Creating 1,000 tables in one transaction takes ~5 locks per table.
        cluster.init("bench-su", settings={"max_locks_per_transaction": 1024})
        cluster.start()
        cluster.create_role_and_db(ROLE, PASSWORD, "bench")
        with cluster.connect() as admin:
            server_version = admin.execute("SHOW server_version").fetchone()[0]
        params, built, timings = {}, {}, {tables: ([], [], []) for tables in sizes}
        for tables in sizes:
            dbname = "bench_%d" % tables
            built[tables] = build(cluster, dbname, tables)
            params[tables] = {"host": cluster.host, "port": cluster.port, "user": ROLE, "password": PASSWORD,
                              "database": dbname, "acknowledgements": [], "statement_timeout_ms": 120000}
        # Sizes interleaved in every round, so a busy moment on a shared machine hits all of them.
        last = {}
        for _ in range(args.repeats):
            for tables in sizes:
                floor_s, counts = time_floor(cluster, params[tables]["database"])
                review_s, review_checks = time_review(review_databases, REVIEW_CHECKS, params[tables])
                access_s, access_checks = time_review(access_review_databases, ACCESS_CHECKS, params[tables])
                for series, value in zip(timings[tables], (floor_s, review_s, access_s)):
                    series.append(value)
                last[tables] = (counts, review_checks + access_checks)
        for tables in sizes:
            counts, checks = last[tables]
            floors, reviews, accesses = timings[tables]
            by_id = {c["id"]: c for c in checks}
            assert by_id["pg.unindexed_fks"]["metrics"]["findings"] == tables // 2, by_id["pg.unindexed_fks"]["summary"]
            row = {
                "tables": tables,
                "indexes": counts["index_stats"],
                "build_s": round(built[tables], 2),
                "floor_ms": round(statistics.median(floors) * 1000, 1),
                "review_ms": round(statistics.median(reviews) * 1000, 1),
                "access_ms": round(statistics.median(accesses) * 1000, 1),
                "check_ms": {c["id"]: c["duration_ms"] for c in checks},
                "floor_counts": counts,
            }
            row["review_vs_floor"] = round(row["review_ms"] / row["floor_ms"], 2)
            row["access_vs_floor"] = round(row["access_ms"] / row["floor_ms"], 2)
            results.append(row)
            print("%d tables: %s" % (tables, json.dumps({k: v for k, v in row.items() if k not in ("check_ms", "floor_counts")})),
                  flush=True)
    finally:
        cluster.destroy()
        shutil.rmtree(root, ignore_errors=True)
    record = {"benchmark": "pg_catalog", "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "machine": machine(), "postgresql": server_version, "repeats": args.repeats, "results": results}
    if len(results) >= 2:
        small, large = results[0], results[-1]
        objects = large["tables"] / small["tables"]
        record["scaling"] = {"objects_ratio": objects,
                             "review_ratio": round(large["review_ms"] / small["review_ms"], 2),
                             "access_ratio": round(large["access_ms"] / small["access_ms"], 2),
                             "floor_ratio": round(large["floor_ms"] / small["floor_ms"], 2)}
    pathlib.Path(args.output).write_text(json.dumps(record, indent=2) + "\n")
    print("\n| tables | indexes | floor (catalog counts) | review | × floor | access review | × floor |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for row in results:
        print("| %d | %d | %.0f ms | %.0f ms | %.1f | %.0f ms | %.1f |" % (
            row["tables"], row["indexes"], row["floor_ms"], row["review_ms"], row["review_vs_floor"],
            row["access_ms"], row["access_vs_floor"]))
    if "scaling" in record:
        print("\nscaling %s" % json.dumps(record["scaling"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
