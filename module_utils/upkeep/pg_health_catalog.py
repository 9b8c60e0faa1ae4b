# -*- coding: utf-8 -*-
"""``upkeep_pg_health`` concerns read from the catalog and statistics: transaction-ID wraparound,
sequence exhaustion, buffer cache hit ratio, database size and invalid indexes. One query each,
never one per table.
"""

from __future__ import annotations

from .pg_health_common import build, rows_of
from .result import CRITICAL, OK, WARNING, finding, judge, thresholds

WRAPAROUND_LIMIT = 2 ** 31 - 1  # transaction IDs to wraparound; PostgreSQL stops writes before it
_TYPE_MAX = {"smallint": 2 ** 15 - 1, "integer": 2 ** 31 - 1, "bigint": 2 ** 63 - 1}

# Every database, template0 and others that refuse connections included: they age like the rest,
# nobody can VACUUM them by hand, and wraparound in any one database stops writes in the whole
# cluster. (The ages come from pg_database; no connection to each is needed.)
WRAPAROUND_SQL = """
SELECT datname, age(datfrozenxid)::bigint AS xid_age, mxid_age(datminmxid)::bigint AS mxid_age,
       datname = current_database() AS is_current, datallowconn AS allows_connections,
       current_setting('autovacuum_freeze_max_age')::bigint AS freeze_max_age
FROM pg_database ORDER BY xid_age DESC
"""

SEQUENCES_SQL = """
SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS sequence,
       format_type(s.seqtypid, NULL) AS data_type, s.seqincrement AS increment, s.seqmin AS min_value,
       s.seqmax AS max_value, s.seqcycle AS cycles,
       CASE WHEN has_sequence_privilege(c.oid, 'SELECT,USAGE') THEN pg_sequence_last_value(c.oid) END AS last_value,
       quote_ident(tn.nspname) || '.' || quote_ident(t.relname) AS owner_table, quote_ident(a.attname) AS owner_column,
       format_type(a.atttypid, NULL) AS column_type
FROM pg_sequence s
JOIN pg_class c ON c.oid = s.seqrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid
     AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0 AND d.deptype IN ('a', 'i')
LEFT JOIN pg_class t ON t.oid = d.refobjid
LEFT JOIN pg_namespace tn ON tn.oid = t.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
"""

CACHE_HIT_SQL = """
SELECT blks_hit::float8 AS hit, blks_read::float8 AS read, stats_reset
FROM pg_stat_database WHERE datname = current_database()
"""

SIZE_SQL = "SELECT pg_database_size(current_database())::bigint AS size_bytes"

INVALID_INDEXES_SQL = """
SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS index,
       quote_ident(n.nspname) || '.' || quote_ident(t.relname) AS table_name,
       pg_get_indexdef(c.oid) AS definition, i.indisready AS ready,
       EXISTS (SELECT 1 FROM pg_stat_progress_create_index p WHERE p.index_relid = c.oid) AS being_built
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT i.indisvalid
ORDER BY 1
"""


def wraparound(conn, context):
    settings = context["settings"]
    rows = rows_of(conn, WRAPAROUND_SQL)
    warn, crit = settings["wraparound_warning_pct"], settings["wraparound_critical_pct"]
    findings = []
    for row in rows:
        pct = 100.0 * max(row["xid_age"], row["mxid_age"]) / WRAPAROUND_LIMIT
        severity = judge(pct, warn, crit)
        if severity == OK:
            continue
        if row["allows_connections"]:
            remedy = ("Find the oldest tables: SELECT oid::regclass, age(relfrozenxid) FROM pg_class WHERE relkind IN "
                      "('r','m','t') ORDER BY 2 DESC LIMIT 10; then VACUUM (FREEZE, VERBOSE) them in database %s; check "
                      "for long transactions, abandoned replication slots or prepared transactions that hold the horizon "
                      "back." % row["datname"])
        else:
            remedy = ("%s accepts no connections, so only autovacuum freezes it (from autovacuum_freeze_max_age): check "
                      "that autovacuum runs and that no long transaction, replication slot or prepared transaction holds "
                      "the horizon back; as a last resort ALTER DATABASE %s ALLOW_CONNECTIONS true, VACUUM FREEZE in it, "
                      "then set it back to false." % (row["datname"], row["datname"]))
        findings.append(finding(
            severity, "Database %s is %.4g%% of the way to transaction-ID wraparound" % (row["datname"], pct), row["datname"],
            "xid age %d, multixact age %d (autovacuum forces freezing from %d)%s" % (
                row["xid_age"], row["mxid_age"], row["freeze_max_age"],
                "" if row["allows_connections"] else "; accepts no connections"), remedy))
    current = next((row for row in rows if row["is_current"]), rows[0] if rows else None)
    oldest_pct = 100.0 * max([max(r["xid_age"], r["mxid_age"]) for r in rows] or [0]) / WRAPAROUND_LIMIT
    status = judge(oldest_pct, warn, crit)
    return build(context, "pg.wraparound", status,
                  "oldest database at %.4g%% of the transaction-ID wraparound limit (%d databases)" % (oldest_pct, len(rows)),
                  {"xid_age": current["xid_age"] if current else None, "xid_age_max": max([r["xid_age"] for r in rows] or [0]),
                   "mxid_age_max": max([r["mxid_age"] for r in rows] or [0]), "wraparound_pct": round(oldest_pct, 6)},
                  {"wraparound_pct": thresholds(warn, crit)}, findings)


def _sequence_usage(row):
    """(used_pct, effective_limit) of one sequence, counting the owning column's type as its limit."""
    ascending = row["increment"] > 0
    column_max = _TYPE_MAX.get(row["column_type"] or "")
    if ascending:
        limit = min(row["max_value"], column_max) if column_max else row["max_value"]
        start = row["min_value"]
        current = row["last_value"] if row["last_value"] is not None else start
        span = max(1, limit - start)
        return 100.0 * (current - start) / span, limit
    limit = max(row["min_value"], -column_max - 1) if column_max else row["min_value"]
    start = row["max_value"]
    current = row["last_value"] if row["last_value"] is not None else start
    return 100.0 * (start - current) / max(1, start - limit), limit


def sequences(conn, context):
    settings = context["settings"]
    warn, crit = settings["sequence_warning_pct"], settings["sequence_critical_pct"]
    rows = [row for row in rows_of(conn, SEQUENCES_SQL) if not row["cycles"]]
    findings, highest = [], 0.0
    for row in rows:
        pct, limit = _sequence_usage(row)
        highest = max(highest, pct)
        severity = judge(pct, warn, crit)
        if severity == OK:
            continue
        column = "%s.%s" % (row["owner_table"], row["owner_column"]) if row["owner_table"] else None
        narrow = column and row["column_type"] in ("smallint", "integer")
        findings.append(finding(
            severity, "Sequence %s is %.1f%% used" % (row["sequence"], pct), row["sequence"],
            "last value %s of %d (%s%s)" % (row["last_value"], limit, row["data_type"],
                                            ", feeds %s %s" % (column, row["column_type"]) if column else ""),
            ("Widen the column and the sequence before it runs out: ALTER TABLE %s ALTER COLUMN %s TYPE bigint; "
             "ALTER SEQUENCE %s AS bigint; (rewrites the table: plan a window or a staged migration)"
             % (row["owner_table"], row["owner_column"], row["sequence"])) if narrow else
            "Plan the move to a wider type or a new key scheme before the sequence is exhausted."))
    status = judge(highest, warn, crit)
    return build(context, "pg.sequences", status,
                  "%d sequences, highest %.2f%% used" % (len(rows), highest) if rows else "no sequences",
                  {"sequences_checked": len(rows), "sequence_used_max_pct": round(highest, 3),
                   "sequences_over_warning": len(findings)},
                  {"sequence_used_max_pct": thresholds(warn, crit)}, findings)


def cache_hit(conn, context):
    settings = context["settings"]
    warn, crit = settings["cache_hit_warning_pct"], settings["cache_hit_critical_pct"]
    row = (rows_of(conn, CACHE_HIT_SQL) or [{"hit": 0.0, "read": 0.0, "stats_reset": None}])[0]
    total = (row["hit"] or 0) + (row["read"] or 0)
    limits = {"cache_hit_pct": thresholds(warn, crit, higher_is_worse=False)}
    metrics = {"cache_blocks_hit": int(row["hit"] or 0), "cache_blocks_read": int(row["read"] or 0)}
    if total < settings["cache_hit_min_blocks"] or total == 0:
        return build(context, "pg.cache_hit", OK, "too little traffic to judge (%d blocks, need %d)" % (
            total, settings["cache_hit_min_blocks"]), metrics, limits, [])
    pct = round(100.0 * row["hit"] / total, 3)
    metrics["cache_hit_pct"] = pct
    status = judge(pct, warn, crit, higher_is_worse=False)
    findings = [] if status == OK else [finding(
        status, "Buffer cache hit ratio %.2f%%" % pct, context["label"],
        "%d blocks from shared buffers, %d read from the OS/disk since %s" % (row["hit"], row["read"], row["stats_reset"] or "the stats began"),
        "The working set does not fit in shared_buffers: look for sequential scans on large tables (missing indexes, "
        "see pg_stat_user_tables.seq_tup_read), then consider more shared_buffers/RAM.")]
    return build(context, "pg.cache_hit", status, "buffer cache hit ratio %.2f%% over %d blocks" % (pct, total),
                  metrics, limits, findings)


def database_size(conn, context):
    settings = context["settings"]
    warn, crit = settings["database_size_warning_bytes"], settings["database_size_critical_bytes"]
    size = rows_of(conn, SIZE_SQL)[0]["size_bytes"]
    status = judge(size, warn, crit)
    findings = [] if status == OK else [finding(
        status, "Database is %.1f MiB" % (size / 1048576.0), context["label"],
        "%d bytes, limit %s" % (size, crit if status == CRITICAL else warn),
        "Find the largest tables (pg_total_relation_size), archive or purge old rows, check bloat, or plan more storage.")]
    return build(context, "pg.database_size", status, "database size %.1f MiB" % (size / 1048576.0),
                  {"database_size_bytes": size}, {"database_size_bytes": thresholds(warn, crit)}, findings)


def invalid_indexes(conn, context):
    settings = context["settings"]
    warn, crit = settings["invalid_indexes_warning"], settings["invalid_indexes_critical"]
    rows = rows_of(conn, INVALID_INDEXES_SQL)
    broken = [row for row in rows if not row["being_built"]]
    status = judge(len(broken), warn, crit) if broken else OK
    findings = [finding(
        "info" if row["being_built"] else (status if status != OK else WARNING),
        "Index %s is %s" % (row["index"], "being built concurrently" if row["being_built"] else "invalid"),
        row["index"], "on %s: %s" % (row["table_name"], row["definition"]),
        "" if row["being_built"] else
        "A failed CREATE INDEX CONCURRENTLY leaves it behind: it costs writes and serves no reads. Rebuild it with "
        "REINDEX INDEX CONCURRENTLY %s; or drop it with DROP INDEX CONCURRENTLY %s;" % (row["index"], row["index"]))
        for row in rows]
    return build(context, "pg.invalid_indexes", status,
                  "%d invalid index(es)" % len(broken) if broken else "no invalid indexes",
                  {"invalid_indexes": len(broken), "indexes_being_built": len(rows) - len(broken)},
                  {"invalid_indexes": thresholds(warn, crit)}, findings)
