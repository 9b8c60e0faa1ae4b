# -*- coding: utf-8 -*-
"""Slow queries from pg_stat_statements.

The view's timing columns were renamed in PostgreSQL 13 (total_time/mean_time became
total_exec_time/mean_exec_time): the check reads the view's own columns instead of guessing
from the server version. An extension that is not created in this database, or created but not
preloaded, is a finding with the remedy, never a failed task.
"""

from __future__ import annotations

import re

from .pg import psycopg  # None without psycopg: the module reports that before calling in
from .pg_review_common import TAG, fetch
from .result import thresholds as threshold_entry

EXTENSION_SQL = """
SELECT n.nspname AS schema
FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
WHERE e.extname = 'pg_stat_statements'"""

COLUMNS_SQL = """
SELECT a.attname FROM pg_attribute a
WHERE a.attrelid = (SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = %s AND c.relname = 'pg_stat_statements')
  AND a.attnum > 0 AND NOT a.attisdropped"""

STATEMENTS_SQL = """
SELECT queryid::text AS queryid, left(regexp_replace(query, '\\s+', ' ', 'g'), 300) AS query, calls,
       {total} AS total_ms, {mean} AS mean_ms, rows
FROM {view}
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND calls >= %(min_calls)s AND query NOT LIKE %(own)s
ORDER BY {order} DESC
LIMIT %(limit)s"""

# pg_stat_statements normalises constants to $n in planned statements but keeps utility statements
# (ALTER ROLE ... PASSWORD '...') verbatim: every string literal is masked before it leaves.
_LITERAL = re.compile(r"'(?:[^']|'')*'")

PRELOAD_REMEDY = ("Add pg_stat_statements to shared_preload_libraries in postgresql.conf (a restart is needed), then run "
                  "CREATE EXTENSION IF NOT EXISTS pg_stat_statements; in this database. On managed services enable it "
                  "in the provider's console (Supabase: Database > Extensions).")


def _timing_columns(conn, schema):
    names = {row["attname"] for row in fetch(conn, COLUMNS_SQL, (schema,))}
    if "total_exec_time" in names:
        return "total_exec_time", "mean_exec_time"
    return "total_time", "mean_time"  # PostgreSQL 12 and older


def _statements(conn, schema, order, total, mean, min_calls, limit):
    sql = psycopg.sql
    query = sql.SQL(STATEMENTS_SQL).format(
        total=sql.Identifier(total), mean=sql.Identifier(mean), order=sql.Identifier(order),
        view=sql.Identifier(schema, "pg_stat_statements"))
    cur = conn.execute(sql.SQL(TAG) + query, {"min_calls": min_calls, "own": TAG.strip() + "%", "limit": limit})
    names = [column.name for column in cur.description]
    rows = [dict(zip(names, row)) for row in cur.fetchall()]
    for row in rows:
        row["query"] = _LITERAL.sub("'...'", row["query"] or "")
    return rows


def _unavailable(ctx, check_id, title, detail):
    found = ctx.finding(check_id, "warning", title, "pg_stat_statements", "unavailable", detail, PRELOAD_REMEDY)
    return ctx.review_check(check_id, "slow queries unknown: %s" % title.lower(), [found],
                            metrics={"pg_stat_statements": 0}, statements_source="unavailable")


def slow_queries(conn, ctx):
    check_id = "pg.slow_queries"
    settings = ctx.settings
    extension = fetch(conn, EXTENSION_SQL)
    if not extension:
        return _unavailable(ctx, check_id, "pg_stat_statements is not installed in this database",
                            "Without it PostgreSQL keeps no per-statement timings, so slow queries cannot be listed.")
    schema = extension[0]["schema"]
    try:
        total, mean = _timing_columns(conn, schema)
        limit = max(int(settings["top_n"]), int(settings["max_findings"]))
        by_mean = _statements(conn, schema, mean, total, mean, settings["slow_min_calls"], limit)
    except psycopg.errors.ObjectNotInPrerequisiteState as exc:
        # Created but not in shared_preload_libraries (which only privileged roles may read):
        # the view itself says so.
        return _unavailable(ctx, check_id, "pg_stat_statements is created but not preloaded",
                            "Querying the view fails: %s" % " ".join(str(exc).split()))
    warn, crit, min_calls = settings["slow_mean_warning_ms"], settings["slow_mean_critical_ms"], settings["slow_min_calls"]
    by_total = _statements(conn, schema, total, total, mean, min_calls, int(settings["top_n"]))
    findings = []
    for row in by_mean:
        if row["mean_ms"] < warn:
            break
        findings.append(ctx.finding(
            check_id, "critical" if row["mean_ms"] >= crit else "warning",
            "Slow query, %.0f ms on average" % row["mean_ms"], "queryid %s" % row["queryid"], "slow_query",
            "%d calls, mean %.1f ms, total %.0f ms, %d rows: %s" % (
                row["calls"], row["mean_ms"], row["total_ms"], row["rows"], row["query"]),
            "EXPLAIN (ANALYZE, BUFFERS) it with representative values; look for sequential scans on large tables "
            "(pg.seq_scans) and missing indexes."))
    top = [{"queryid": row["queryid"], "query": row["query"], "calls": row["calls"],
            "total_ms": round(float(row["total_ms"]), 1), "mean_ms": round(float(row["mean_ms"]), 2), "rows": row["rows"]}
           for row in by_total]
    summary = "%d statement(s) with a mean of %s ms or more (at least %d calls)" % (len(findings), warn, min_calls)
    if top:
        summary += "; most total time: %.0f ms over %d calls" % (top[0]["total_ms"], top[0]["calls"])
    return ctx.review_check(check_id, summary, findings,
                            metrics={"pg_stat_statements": 1, "slow_statements": len(findings),
                                     "slowest_mean_ms": round(float(by_mean[0]["mean_ms"]), 2) if by_mean else 0},
                            thresholds={"mean_ms": threshold_entry(warn, crit)},
                            top_by_total_time=top, statements_source="%s.pg_stat_statements (%s)" % (schema, total))
