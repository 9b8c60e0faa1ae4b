# -*- coding: utf-8 -*-
"""Space review: the largest tables (heap, indexes, TOAST) and a table bloat estimate.

The bloat estimate is the classic statistics-based one (the idea check_postgres and the ioguide
queries popularised), written here from first principles:

    tuple bytes   = MAXALIGN(23-byte header + null bitmap) + MAXALIGN(sum of avg_width * (1 - null_frac))
    per page      = floor((block_size - 24-byte page header) * fillfactor / (tuple bytes + 4-byte line pointer))
    expected pages = ceil(reltuples / per page);  bloat = relpages - expected pages

It needs ANALYZE statistics (pg_stats) and reltuples; tables without them are skipped and
counted. It is an estimate: wide TOASTed values and alignment padding between columns make it
err, typically by a few percent, so thresholds are percentages of tables above a minimum size.
"""

from __future__ import annotations

import math

from .pg_review_common import fetch, human_bytes, qualified
from .result import thresholds as threshold_entry

_USER_SCHEMAS = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%%'"

SIZES_SQL = """
SELECT schema, table_name, total_bytes, table_bytes, index_bytes, toast_bytes, rows_estimate, tables,
       (SELECT pg_database_size(current_database())) AS database_bytes  -- an InitPlan: walked once, not per table
FROM (SELECT *, row_number() OVER (ORDER BY total_bytes DESC) AS position, count(*) OVER () AS tables
      FROM (SELECT n.nspname AS schema, c.relname AS table_name, pg_total_relation_size(c.oid) AS total_bytes,
                   pg_relation_size(c.oid) AS table_bytes, pg_indexes_size(c.oid) AS index_bytes,
                   coalesce(pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0) AS toast_bytes,
                   c.reltuples::bigint AS rows_estimate
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'm') AND """ + _USER_SCHEMAS + """) sized) ranked
WHERE position <= %(top_n)s OR total_bytes >= %(limit)s
ORDER BY total_bytes DESC"""

BLOAT_SQL = """
WITH widths AS (
    SELECT s.schemaname, s.tablename, sum((1 - s.null_frac) * s.avg_width) AS data_width,
           bool_or(s.null_frac > 0) AS has_nulls
    FROM pg_stats s
    WHERE s.schemaname NOT IN ('pg_catalog', 'information_schema') AND NOT s.inherited
    GROUP BY s.schemaname, s.tablename)
SELECT n.nspname AS schema, c.relname AS table_name, c.relpages AS pages, c.reltuples AS rows_estimate,
       c.relnatts AS columns, current_setting('block_size')::int AS block_size,
       coalesce((SELECT substring(o FROM 'fillfactor=([0-9]+)')::int FROM unnest(c.reloptions) AS o
                 WHERE o LIKE 'fillfactor=%%'), 100) AS fillfactor,
       w.data_width, w.has_nulls
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN widths w ON w.schemaname = n.nspname AND w.tablename = c.relname
WHERE c.relkind IN ('r', 'm') AND c.relpages > 0 AND """ + _USER_SCHEMAS


def _align(value, to=8):
    return int(math.ceil(value / float(to)) * to)


def estimate_bloat(row):
    """(bloat bytes, bloat pct) of one BLOAT_SQL row, or None without statistics."""
    if row["data_width"] is None or row["rows_estimate"] is None or row["rows_estimate"] < 0:
        return None
    header = 23 + (int(math.ceil(row["columns"] / 8.0)) if row["has_nulls"] else 0)
    tuple_bytes = _align(header) + _align(float(row["data_width"])) + 4
    usable = (row["block_size"] - 24) * row["fillfactor"] / 100.0
    per_page = max(1, int(usable // tuple_bytes))
    expected = int(math.ceil(row["rows_estimate"] / per_page))
    extra_pages = max(0, row["pages"] - max(expected, 1))
    return extra_pages * row["block_size"], 100.0 * extra_pages / row["pages"]


def sizes(conn, ctx):
    check_id = "pg.sizes"
    warn, crit = ctx.settings["table_warning_bytes"], ctx.settings["table_critical_bytes"]
    floor = min(value for value in (warn, crit, 2 ** 62) if value is not None)
    rows = fetch(conn, SIZES_SQL, {"top_n": ctx.settings["top_n"], "limit": floor})
    findings = []
    for row in rows:
        over = [(limit, severity) for limit, severity in ((crit, "critical"), (warn, "warning"))
                if limit is not None and row["total_bytes"] >= limit]
        if over:
            table = qualified(row["schema"], row["table_name"])
            findings.append(ctx.finding(
                check_id, over[0][1], "Large table %s" % table, table, "size",
                "%s in total: heap %s, indexes %s, TOAST %s, ~%d rows" % (
                    human_bytes(row["total_bytes"]), human_bytes(row["table_bytes"]), human_bytes(row["index_bytes"]),
                    human_bytes(row["toast_bytes"]), max(0, row["rows_estimate"] or 0)),
                "Check retention (archive or partition old rows) and bloat (pg.bloat) before adding disk."))
    largest = [{"table": qualified(row["schema"], row["table_name"]), "total_bytes": row["total_bytes"],
                "table_bytes": row["table_bytes"], "index_bytes": row["index_bytes"], "toast_bytes": row["toast_bytes"],
                "rows_estimate": row["rows_estimate"]} for row in rows[:ctx.settings["top_n"]]]
    database_bytes = rows[0]["database_bytes"] if rows else fetch(
        conn, "SELECT pg_database_size(current_database()) AS b")[0]["b"]
    tables = rows[0]["tables"] if rows else 0
    summary = "database %s in %d table(s); largest: %s" % (
        human_bytes(database_bytes), tables,
        ", ".join("%s %s" % (item["table"], human_bytes(item["total_bytes"])) for item in largest[:3]) or "none")
    limits = {"table_total_bytes": threshold_entry(warn, crit)} if (warn or crit) else {}
    return ctx.review_check(check_id, summary, findings, thresholds=limits, largest=largest,
                            metrics={"database_bytes": database_bytes, "tables": tables,
                                     "largest_table_bytes": largest[0]["total_bytes"] if largest else 0})


def bloat(conn, ctx):
    check_id = "pg.bloat"
    settings = ctx.settings
    warn, crit, min_bytes = settings["bloat_warning_pct"], settings["bloat_critical_pct"], settings["bloat_min_bytes"]
    findings, total, without_stats, estimated = [], 0, 0, 0
    for row in fetch(conn, BLOAT_SQL):
        result = estimate_bloat(row)
        if result is None:
            without_stats += 1
            continue
        estimated += 1
        wasted, pct = result
        total += wasted
        if wasted < min_bytes or pct < warn:
            continue
        table = qualified(row["schema"], row["table_name"])
        findings.append(ctx.finding(
            check_id, "critical" if pct >= crit else "warning", "Bloated table %s" % table, table, "table_bloat",
            "~%s of %s (%.0f%%) is estimated to be dead or free space (%d pages for ~%d rows)." % (
                human_bytes(wasted), human_bytes(row["pages"] * row["block_size"]), pct, row["pages"],
                row["rows_estimate"]),
            "Plain VACUUM makes the space reusable but does not shrink the file. To give it back online use "
            "pg_repack; VACUUM (FULL) %s does it too but holds an ACCESS EXCLUSIVE lock for the whole rewrite. "
            "Then tune autovacuum for this table." % table))
    summary = "%d bloated table(s); ~%s estimated reclaimable over %d table(s) with statistics" % (
        len(findings), human_bytes(total), estimated)
    if without_stats:
        summary += "; %d table(s) without statistics skipped (run ANALYZE)" % without_stats
    return ctx.review_check(check_id, summary, findings,
                            metrics={"bloated_tables": len(findings), "estimated_bloat_bytes": total,
                                     "tables_without_statistics": without_stats},
                            thresholds={"bloat_pct": threshold_entry(warn, crit)})
