# -*- coding: utf-8 -*-
"""Index review: unused, duplicate/redundant, missing on foreign keys, heavy sequential scans.

One set-based query per check (anti-joins the planner can hash, lookups through the catalogs'
own indexes); comparing indexes happens in Python per table, which stays linear because a
table has a handful of indexes.
"""

from __future__ import annotations

import datetime

from .pg_review_common import fetch, human_bytes, qualified, quote_ident

_USER_SCHEMAS = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%%'"

STATS_AGE_SQL = """
SELECT d.stats_reset, pg_postmaster_start_time() AS started, now() AS now,
       (SELECT coalesce(sum(idx_scan), 0) FROM pg_stat_user_indexes) AS index_scans
FROM pg_stat_database d WHERE d.datname = current_database()"""

UNUSED_SQL = """
SELECT s.schemaname AS schema, s.relname AS table_name, s.indexrelname AS index_name,
       pg_relation_size(s.indexrelid) AS index_bytes, pg_get_indexdef(s.indexrelid) AS definition,
       EXISTS (SELECT 1 FROM pg_constraint f
               WHERE f.conrelid = i.indrelid AND f.contype = 'f'
                 AND (i.indkey::int2[])[0:cardinality(f.conkey) - 1] @> f.conkey) AS covers_fk
FROM pg_stat_user_indexes s
JOIN pg_index i ON i.indexrelid = s.indexrelid
WHERE s.idx_scan = 0 AND i.indisvalid AND NOT i.indisunique AND NOT i.indisprimary AND NOT i.indisexclusion
  -- NOT IN over an uncorrelated subquery becomes a hashed SubPlan (pg_constraint has no index on
  -- conindid, and the planner's estimates of catalogs can pick a per-row scan for NOT EXISTS).
  AND s.indexrelid NOT IN (SELECT c.conindid FROM pg_constraint c WHERE c.contype IN ('p', 'u', 'x'))
ORDER BY index_bytes DESC, s.schemaname, s.indexrelname"""

INDEXES_SQL = """
SELECT i.indrelid AS table_oid, i.indexrelid::bigint AS index_oid, n.nspname AS schema, t.relname AS table_name, c.relname AS index_name,
       i.indkey::text AS keys, i.indclass::text AS classes, i.indcollation::text AS collations,
       i.indoption::text AS options, pg_get_expr(i.indexprs, i.indrelid) AS exprs,
       pg_get_expr(i.indpred, i.indrelid) AS pred, am.amname AS method, i.indisunique AS is_unique,
       (k.conindid IS NOT NULL) AS backs_constraint, pg_relation_size(i.indexrelid) AS index_bytes
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_am am ON am.oid = c.relam
LEFT JOIN (SELECT DISTINCT conindid FROM pg_constraint WHERE contype IN ('p', 'u', 'x')) k ON k.conindid = i.indexrelid
WHERE i.indisvalid AND """ + _USER_SCHEMAS

UNINDEXED_FK_SQL = """
SELECT n.nspname AS schema, t.relname AS table_name, c.conname AS constraint_name, t.reltuples::bigint AS rows_estimate,
       c.confrelid::regclass::text AS referenced,
       ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum ORDER BY k.ord) AS columns
FROM pg_constraint c
JOIN pg_class t ON t.oid = c.conrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE c.contype = 'f' AND """ + _USER_SCHEMAS + """
  AND NOT EXISTS (SELECT 1 FROM pg_index i
                  WHERE i.indrelid = c.conrelid AND i.indisvalid AND i.indpred IS NULL
                    AND (i.indkey::int2[])[0:cardinality(c.conkey) - 1] @> c.conkey)
ORDER BY n.nspname, t.relname, c.conname"""

SEQ_SCAN_SQL = """
SELECT s.schemaname AS schema, s.relname AS table_name, s.seq_scan, s.seq_tup_read,
       coalesce(s.idx_scan, 0) AS idx_scan, s.n_live_tup,
       (SELECT count(*) FROM pg_index i WHERE i.indrelid = s.relid) AS index_count
FROM pg_stat_user_tables s
WHERE s.seq_scan >= %(min_scans)s AND s.n_live_tup >= %(min_rows)s
  AND s.seq_scan * 100.0 / (s.seq_scan + coalesce(s.idx_scan, 0)) >= %(ratio)s
ORDER BY s.seq_tup_read DESC"""


def stats_age(conn):
    """(days the statistics cover, where that start comes from, index scans recorded at all)."""
    row = fetch(conn, STATS_AGE_SQL)[0]
    if row["stats_reset"] is not None:
        since, source = row["stats_reset"], "statistics reset"
    else:
        # No reset recorded: the server start is a safe lower bound (stats survive a clean restart).
        since, source = row["started"], "server start (no statistics reset recorded)"
    age = row["now"] - since
    return (max(0.0, age / datetime.timedelta(days=1)), "%s at %s" % (source, since.isoformat(timespec="seconds")),
            int(row["index_scans"]))


def unused_indexes(conn, ctx):
    check_id = "pg.unused_indexes"
    age_days, since, index_scans = stats_age(conn)
    # A database restored onto a long-running server has fresh statistics and no reset recorded;
    # a live database always has some index scans (primary-key lookups), so none at all means fresh.
    young = age_days < ctx.settings["min_stats_age_days"] or index_scans == 0
    why_young = ("the statistics are only %.1f days old" % age_days if age_days < ctx.settings["min_stats_age_days"]
                 else "no index scan is recorded at all in this database")
    findings, total_bytes = [], 0
    for row in fetch(conn, UNUSED_SQL):
        name = qualified(row["schema"], row["index_name"])
        total_bytes += row["index_bytes"] or 0
        detail = "%s on %s, never scanned since the %s (%.1f days); %s" % (
            human_bytes(row["index_bytes"]), qualified(row["schema"], row["table_name"]), since, age_days,
            row["definition"])
        severity = "warning"
        if young:
            severity = "info"
            detail += ". But %s (a reset or a restore): 'unused' means nothing yet." % why_young
        if row["covers_fk"]:
            severity = "info"
            detail += ". It covers a foreign key: dropping it makes deletes on the referenced table scan this one."
        findings.append(ctx.finding(check_id, severity, "Unused index %s" % name, name, "unused", detail,
                                    "DROP INDEX CONCURRENTLY %s;  -- after confirming on every replica too" % name))
    summary = "%d unused index(es), %s, over %.1f days of statistics (since %s)" % (
        len(findings), human_bytes(total_bytes), age_days, since)
    if young:
        summary += "; too early to judge: %s (min_stats_age_days %s)" % (why_young, ctx.settings["min_stats_age_days"])
    return ctx.review_check(check_id, summary, findings,
                            metrics={"unused_indexes": len(findings), "unused_index_bytes": total_bytes,
                                     "stats_age_days": round(age_days, 2), "index_scans": index_scans})


def _parts(text):
    return (text or "").split()


def _covers(small, big):
    """True when ``small`` is a btree whose key columns are a leading part of ``big``'s."""
    if small["method"] != "btree" or big["method"] != "btree" or small["exprs"] or big["exprs"]:
        return False
    if small["pred"] != big["pred"] or small["is_unique"] or small["backs_constraint"]:
        return False
    count = len(_parts(small["keys"]))
    if count >= len(_parts(big["keys"])):
        return False
    return all(_parts(small[key])[:count] == _parts(big[key])[:count]
               for key in ("keys", "classes", "collations", "options"))


def _same(a, b):
    return all(a[key] == b[key] for key in ("keys", "classes", "collations", "options", "exprs", "pred", "method"))


def _droppable_of(a, b):
    """Of two identical indexes, the one to drop: not the one a constraint needs, not the unique
    one, else the newer one (higher oid). None when both back constraints (dropping means altering one)."""
    if a["backs_constraint"] and b["backs_constraint"]:
        return None
    rank_a, rank_b = (a["backs_constraint"], a["is_unique"]), (b["backs_constraint"], b["is_unique"])
    if rank_a != rank_b:
        return a if rank_a < rank_b else b
    return max(a, b, key=lambda row: row["index_oid"])


def duplicate_indexes(conn, ctx):
    check_id = "pg.duplicate_indexes"
    by_table = {}
    for row in fetch(conn, INDEXES_SQL):
        by_table.setdefault(row["table_oid"], []).append(row)
    findings, reclaimable, reported = [], 0, set()
    for rows in by_table.values():
        for position, a in enumerate(rows):
            for b in rows[position + 1:]:
                if _same(a, b):
                    drop = _droppable_of(a, b)
                    if drop is None:
                        continue
                    keep, kind, title = (b if drop is a else a), "duplicate", "Duplicate index"
                elif _covers(a, b):
                    drop, keep, kind, title = a, b, "redundant", "Redundant index"
                elif _covers(b, a):
                    drop, keep, kind, title = b, a, "redundant", "Redundant index"
                else:
                    continue
                name = qualified(drop["schema"], drop["index_name"])
                if name in reported:
                    continue
                reported.add(name)
                reclaimable += drop["index_bytes"] or 0
                how = "has the same definition as" if kind == "duplicate" else "is a leading prefix of"
                findings.append(ctx.finding(
                    check_id, "warning", "%s %s" % (title, name), name, kind,
                    "%s (%s) on %s %s %s: every write maintains both, queries need only the latter." % (
                        name, human_bytes(drop["index_bytes"]), qualified(drop["schema"], drop["table_name"]), how,
                        quote_ident(keep["index_name"])),
                    "DROP INDEX CONCURRENTLY %s;" % name))
    summary = "%d duplicate or redundant index(es), %s reclaimable" % (len(findings), human_bytes(reclaimable))
    return ctx.review_check(check_id, summary, findings,
                            metrics={"duplicate_indexes": len(findings), "reclaimable_bytes": reclaimable})


def unindexed_fks(conn, ctx):
    check_id = "pg.unindexed_fks"
    min_rows = ctx.settings["fk_min_rows"]
    findings = []
    for row in fetch(conn, UNINDEXED_FK_SQL):
        table = qualified(row["schema"], row["table_name"])
        columns = ", ".join(quote_ident(column) for column in row["columns"])
        resource = "%s.%s" % (table, quote_ident(row["constraint_name"]))
        rows = row["rows_estimate"]
        small = rows is not None and 0 <= rows < min_rows
        findings.append(ctx.finding(
            check_id, "info" if small else "warning", "Foreign key %s has no index" % resource, resource, "unindexed_fk",
            "%s (%s) references %s; no index starts with these columns, so each delete or key update on %s scans "
            "%s (~%s rows)%s." % (table, columns, row["referenced"], row["referenced"], table,
                                 rows if rows is not None and rows >= 0 else "unknown",
                                 "; small table, low priority" if small else ""),
            "CREATE INDEX CONCURRENTLY ON %s (%s);" % (table, columns)))
    summary = "%d foreign key(s) without a supporting index" % len(findings)
    return ctx.review_check(check_id, summary, findings, metrics={"unindexed_fks": len(findings)},
                            thresholds={"rows_estimate": {"warning": min_rows}})


def seq_scans(conn, ctx):
    check_id = "pg.seq_scans"
    settings = ctx.settings
    rows = fetch(conn, SEQ_SCAN_SQL, {"min_scans": settings["seq_scan_min_scans"],
                                      "min_rows": settings["seq_scan_min_rows"], "ratio": settings["seq_scan_ratio_pct"]})
    findings = []
    for row in rows:
        table = qualified(row["schema"], row["table_name"])
        share = 100.0 * row["seq_scan"] / (row["seq_scan"] + row["idx_scan"])
        findings.append(ctx.finding(
            check_id, "warning", "Heavy sequential scans on %s" % table, table, "seq_scans",
            "%d sequential scans (%.0f%% of all scans) read %d rows, ~%d per scan, of a %d-row table; %s." % (
                row["seq_scan"], share, row["seq_tup_read"], row["seq_tup_read"] // max(1, row["seq_scan"]),
                row["n_live_tup"], "it has no index at all" if row["index_count"] == 0 else
                "its %d index(es) do not serve these queries" % row["index_count"]),
            "Find the statements filtering %s (pg.slow_queries, pg_stat_statements), EXPLAIN them and index their "
            "predicates with CREATE INDEX CONCURRENTLY." % table))
    summary = "%d table(s) read mostly by sequential scans" % len(findings)
    return ctx.review_check(check_id, summary, findings, metrics={"seq_scan_tables": len(findings)},
                            thresholds={"seq_scan_ratio_pct": {"warning": settings["seq_scan_ratio_pct"]}})
