# -*- coding: utf-8 -*-
"""``upkeep_pg_maintenance``: ANALYZE and VACUUM (ANALYZE) only where the statistics say so.

Per database, one query reads pg_stat_user_tables and one the partitioned tables with their
leaves (autovacuum never analyzes a partitioned parent; see PARTITIONED_SQL); ``plan()`` (pure,
testable without a server) picks the tables over the thresholds and the statement each needs; ``maintain_one()`` runs them
one by one under a lock_timeout and a statement_timeout, so a table busy with traffic costs at
most lock_timeout of waiting: its lock timeout becomes a finding and the rest goes on.

Safety: VACUUM FULL (an ACCESS EXCLUSIVE rewrite) only for tables named in ``vacuum_full_tables``
of that database; a standby or a read-only database is refused with a finding; check mode
connects, plans and returns the exact statements, and runs none. Identifiers are quoted by
psycopg.sql, never pasted.
"""

from __future__ import annotations

from .pg import (PgConnectError, connect, connect_failure_check, connection_kwargs, fleet_targets, redact,
                 run_concurrently, secrets_of, target_label)
from .result import OK, WARNING, ParameterError, Stopwatch, check, finding, unknown_check

try:
    import psycopg
    from psycopg import sql
except ImportError:  # pg.HAS_PSYCOPG tells the module
    psycopg = None
    sql = None

CHECK_ID = "pg.maintenance"
DEFAULT_LOCK_TIMEOUT_MS = 2000
DEFAULT_STATEMENT_TIMEOUT_MS = 600000
DEFAULT_MAX_WORKERS = 4

MAINTENANCE_DEFAULTS = {
    "vacuum_dead_ratio_pct": 10.0,
    "vacuum_min_dead_tuples": 1000,
    "vacuum_max_age_days": 30.0,
    "analyze_modified_pct": 10.0,
    "analyze_min_modified": 1000,
    "analyze_max_age_days": 7.0,
    "max_tables": 100,
}
_INT_OPTIONS = ("vacuum_min_dead_tuples", "analyze_min_modified", "max_tables")

STATS_SQL = """
SELECT s.relid, s.schemaname, s.relname, s.n_live_tup, s.n_dead_tup, s.n_mod_since_analyze,
       extract(epoch FROM now() - greatest(s.last_vacuum, s.last_autovacuum))::float8 / 86400 AS vacuum_age_days,
       extract(epoch FROM now() - greatest(s.last_analyze, s.last_autoanalyze))::float8 / 86400 AS analyze_age_days
FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
WHERE c.relkind <> 'p'
"""
# Partitioned parents hold no rows, so autovacuum never analyzes them, and their own counters stay
# at zero: the planner's statistics for the table as a whole (joins, estimates over several
# partitions) are only ever as fresh as the last manual ANALYZE. Their need is read from their
# leaf partitions: rows changed since the leaves' last analyze, and leaves analyzed since the
# parent was (their data moved on while the parent's statistics did not). Only top-level parents:
# ANALYZE of a parent covers its sub-partitioned children.
PARTITIONED_SQL = """
SELECT c.oid AS relid, n.nspname AS schemaname, c.relname,
       extract(epoch FROM now() - greatest(s.last_analyze, s.last_autoanalyze))::float8 / 86400 AS analyze_age_days,
       count(l.relid) AS partitions,
       coalesce(sum(ls.n_live_tup), 0)::bigint AS n_live_tup,
       coalesce(sum(ls.n_mod_since_analyze), 0)::bigint AS n_mod_since_analyze,
       count(*) FILTER (WHERE greatest(ls.last_analyze, ls.last_autoanalyze)
                        > coalesce(greatest(s.last_analyze, s.last_autoanalyze), '-infinity')) AS leaves_analyzed_since
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
JOIN LATERAL pg_partition_tree(c.oid) l ON l.isleaf
LEFT JOIN pg_stat_user_tables ls ON ls.relid = l.relid
WHERE c.relkind = 'p' AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'
GROUP BY c.oid, n.nspname, c.relname, s.last_analyze, s.last_autoanalyze
"""
AFTER_SQL = "SELECT relid, n_dead_tup, n_live_tup, n_mod_since_analyze FROM pg_stat_user_tables WHERE relid = ANY(%s)"
SERVER_SQL = "SELECT pg_is_in_recovery(), current_setting('transaction_read_only') = 'on'"
RESOLVE_SQL = """
SELECT wanted, c.oid AS relid, c.relkind
FROM unnest(%s::text[]) AS wanted
LEFT JOIN pg_class c ON c.oid = to_regclass(wanted)
"""


def maintenance_item_spec():
    """Per-database options of upkeep_pg_maintenance besides the connection options (argument-spec form)."""
    spec = {name: dict(type="int" if name in _INT_OPTIONS else "float") for name in MAINTENANCE_DEFAULTS}
    spec["vacuum_full_tables"] = dict(type="list", elements="str")
    return spec


def settings_of(target):
    where = target.get("where", "")
    settings = {name: default if target.get(name) is None else target[name]
                for name, default in MAINTENANCE_DEFAULTS.items()}
    for name, value in settings.items():
        if value < 0:
            raise ParameterError("%s%s: must be 0 or more, got %r" % (where, name, value))
    for name in ("vacuum_dead_ratio_pct", "analyze_modified_pct"):
        if settings[name] > 100:
            raise ParameterError("%s%s: a percentage must be 0-100, got %r" % (where, name, settings[name]))
    if not 1 <= settings["max_tables"] <= 100000:
        raise ParameterError("%smax_tables: must be 1-100000, got %r" % (where, settings["max_tables"]))
    full = target.get("vacuum_full_tables") or []
    for index, name in enumerate(full):
        if not isinstance(name, str) or not name.strip():
            raise ParameterError("%svacuum_full_tables[%d]: must be a table name like public.orders, got %r" % (where, index, name))
    settings["vacuum_full_tables"] = [name.strip() for name in full]
    return settings


def _age(days):
    return "never" if days is None else "%.1f days ago" % days


def needs(row, settings):
    """(vacuum_reason, analyze_reason) for one pg_stat_user_tables row; None where not needed."""
    live, dead, modified = row["n_live_tup"] or 0, row["n_dead_tup"] or 0, row["n_mod_since_analyze"] or 0
    vacuum = analyze = None
    if dead >= settings["vacuum_min_dead_tuples"] and dead > 0:
        ratio = 100.0 * dead / max(1, live + dead)
        if ratio >= settings["vacuum_dead_ratio_pct"]:
            vacuum = "%d dead tuples, %.1f%% of the table (limit %g%%)" % (dead, ratio, settings["vacuum_dead_ratio_pct"])
        elif row["vacuum_age_days"] is None or row["vacuum_age_days"] >= settings["vacuum_max_age_days"]:
            vacuum = "%d dead tuples, last vacuum %s (limit %g days)" % (dead, _age(row["vacuum_age_days"]), settings["vacuum_max_age_days"])
    if modified >= settings["analyze_min_modified"] and modified > 0:
        share = 100.0 * modified / max(1, live)
        if share >= settings["analyze_modified_pct"]:
            analyze = "%d rows modified since the last analyze, %.1f%% of the table (limit %g%%)" % (
                modified, share, settings["analyze_modified_pct"])
        elif row["analyze_age_days"] is None or row["analyze_age_days"] >= settings["analyze_max_age_days"]:
            analyze = "%d rows modified, last analyze %s (limit %g days)" % (
                modified, _age(row["analyze_age_days"]), settings["analyze_max_age_days"])
    return vacuum, analyze


def needs_parent(row, settings):
    """The reason a partitioned parent (a PARTITIONED_SQL row) needs ANALYZE, or None."""
    modified, live = row["n_mod_since_analyze"] or 0, row["n_live_tup"] or 0
    age = row["analyze_age_days"]
    if age is None:
        if live or modified:
            return ("never analyzed as a whole (autovacuum never analyzes a partitioned table); %d rows in %d "
                    "partition(s)" % (live + (0 if live else modified), row["partitions"]))
        return None
    if modified >= settings["analyze_min_modified"] and modified > 0 \
            and 100.0 * modified / max(1, live) >= settings["analyze_modified_pct"]:
        return "%d rows modified in its partitions since their last analyze, %.1f%% (limit %g%%)" % (
            modified, 100.0 * modified / max(1, live), settings["analyze_modified_pct"])
    if age >= settings["analyze_max_age_days"] and (modified or row["leaves_analyzed_since"]):
        return "last analyzed as a whole %s (limit %g days); its partitions changed since" % (
            _age(age), settings["analyze_max_age_days"])
    return None


def _counts(row):
    live, dead = row["n_live_tup"] or 0, row["n_dead_tup"] or 0
    return {"n_dead_tup": dead, "n_live_tup": live, "n_mod_since_analyze": row["n_mod_since_analyze"] or 0,
            "dead_pct": round(100.0 * dead / (live + dead), 1) if live + dead else 0.0}


def plan(rows, settings, full_relids=(), parents=()):
    """The maintenance actions for ``rows`` (pg_stat_user_tables): dicts with ``table``
    (schema.name, for people), ``kind`` (vacuum_full | vacuum_analyze | analyze), ``reason`` and
    ``before`` (n_dead_tup, n_live_tup, n_mod_since_analyze, dead_pct), plus the private ``_relid``,
    ``_schema`` and ``_name`` the run needs; ``parents`` (PARTITIONED_SQL rows) add ANALYZE of
    partitioned tables, marked ``partitioned``;
    most dead tuples first, at most ``max_tables`` (plus every named VACUUM FULL table).
    Returns (actions, tables_over_the_cap)."""
    full_relids = set(full_relids)
    named, chosen = [], []
    for row in rows:
        base = {"table": "%s.%s" % (row["schemaname"], row["relname"]), "before": _counts(row),
                "_relid": row["relid"], "_schema": row["schemaname"], "_name": row["relname"]}
        if row["relid"] in full_relids:
            named.append(dict(base, kind="vacuum_full", reason="named in vacuum_full_tables"))
            continue
        vacuum, analyze = needs(row, settings)
        if vacuum:
            chosen.append(dict(base, kind="vacuum_analyze", reason="; ".join(r for r in (vacuum, analyze) if r)))
        elif analyze:
            chosen.append(dict(base, kind="analyze", reason=analyze))
    for row in parents:
        reason = needs_parent(row, settings)
        if reason:
            # Dead tuples are the leaves' (their own VACUUM's business): ANALYZE of the parent removes none.
            chosen.append({"table": "%s.%s" % (row["schemaname"], row["relname"]), "before": _counts(dict(row, n_dead_tup=0)),
                           "kind": "analyze", "reason": reason, "partitioned": True, "partitions": row["partitions"],
                           "_relid": row["relid"], "_schema": row["schemaname"], "_name": row["relname"]})
    chosen.sort(key=lambda a: (-a["before"]["n_dead_tup"], -a["before"]["n_mod_since_analyze"], a["table"]))
    cap = settings["max_tables"]
    return named + chosen[:cap], max(0, len(chosen) - cap)


_STATEMENTS = {"vacuum_full": "VACUUM (FULL, ANALYZE) {}", "vacuum_analyze": "VACUUM (ANALYZE) {}", "analyze": "ANALYZE {}"}


def statement_for(action):
    """The psycopg.sql statement of one action, identifiers quoted. A partitioned parent on
    PostgreSQL 17+ gets ANALYZE ONLY: its leaves are autovacuum's, and a plain ANALYZE of the
    parent would sample every partition again (before 17 there is no choice)."""
    template = "ANALYZE ONLY {}" if action.get("_only") else _STATEMENTS[action["kind"]]
    return sql.SQL(template).format(sql.Identifier(action["_schema"], action["_name"]))


def _rows(conn, query, params=None):
    cursor = conn.execute(query, params)
    names = [column.name for column in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def _resolve_full(conn, names, label):
    """relids of the named VACUUM FULL tables, and findings for names that are not tables here."""
    if not names:
        return [], []
    relids, findings = [], []
    for row in _rows(conn, RESOLVE_SQL, [names]):
        if row["relid"] is None or row["relkind"] not in ("r", "m"):
            findings.append(finding(WARNING, "vacuum_full_tables: %s is not a table in this database" % row["wanted"],
                                    row["wanted"], "to_regclass() found %s" % ("no relation" if row["relid"] is None else
                                                                                "a relation of kind %s" % row["relkind"]),
                                    "Fix the name (schema-qualified, as in \\dt); nothing was rewritten for it."))
        else:
            relids.append(row["relid"])
    return relids, findings


def _run(conn, action, secrets):
    """Run one statement; return (status, message). VACUUM/ANALYZE skip a table they may not touch
    with a WARNING notice, not an error, so notices are watched too."""
    notices = []

    def handler(diagnostic):
        # A notice's Diagnostic is only readable inside the callback (its PGresult is freed after).
        notices.append(diagnostic.message_primary or "")

    conn.add_notice_handler(handler)
    try:
        conn.execute(statement_for(action))
    except psycopg.errors.LockNotAvailable:
        return "lock_timeout", "gave up waiting for the table lock (lock_timeout): the table is busy"
    except psycopg.errors.QueryCanceled as exc:
        return "statement_timeout", redact(" ".join(str(exc).split()), secrets)
    except psycopg.Error as exc:
        return "failed", redact(" ".join(str(exc).split()), secrets)
    finally:
        conn.remove_notice_handler(handler)
    skipped = [message for message in notices if "skipping" in message]
    if skipped:
        return "skipped", skipped[0]
    return "ran", ""


_REMEDIATION = {
    "lock_timeout": "Another session held a conflicting lock for longer than lock_timeout_ms; the table was left "
                    "alone. Run it again at a quieter time, or look for long transactions (pg.blocking_locks).",
    "statement_timeout": "The statement took longer than statement_timeout_ms and was cancelled (nothing is lost); "
                         "run it in a maintenance window with a larger statement_timeout_ms.",
    "skipped": "The connecting role does not own the table: run maintenance as the table owner (or a role with "
               "the pg_maintain privilege on PostgreSQL 17+).",
    "failed": "Read the detail; the other tables went on.",
}


def maintain_one(target, check_mode, statement_timeout_ms, lock_timeout_ms):
    """The ``pg.maintenance`` check of one database and the statements it ran (or would run)."""
    with Stopwatch() as watch:
        try:
            return _maintain_one(target, check_mode, statement_timeout_ms, lock_timeout_ms)
        except psycopg.Error as exc:
            # Only the reads before the first statement get here (each statement and the read after
            # them are guarded): nothing ran.
            message = redact(" ".join(str(exc).split()), secrets_of(target))
            return unknown_check(CHECK_ID, target_label(target), "could not plan maintenance: %s" % message,
                                 host=target.get("inventory_host"), duration_ms=watch.ms,
                                 remediation="Nothing was run. Check the server's load and the role's privileges, "
                                             "then run again."), []


def _maintain_one(target, check_mode, statement_timeout_ms, lock_timeout_ms):
    settings = settings_of(target)
    label, host = target_label(target), target.get("inventory_host")
    secrets = secrets_of(target)
    # The thresholds pick tables; they do not judge the check, so they travel as ``criteria``.
    criteria = {key: value for key, value in settings.items() if key != "vacuum_full_tables"}
    with Stopwatch() as total:
        try:
            conn = connect(target, statement_timeout_ms=statement_timeout_ms)
        except PgConnectError as error:
            return connect_failure_check(CHECK_ID, target, error, duration_ms=total.ms), []
        with conn:
            in_recovery, read_only = conn.execute(SERVER_SQL).fetchone()
            if in_recovery or read_only:
                why = "a standby (in recovery)" if in_recovery else "read-only (default_transaction_read_only is on)"
                return check(CHECK_ID, label, WARNING, "refused: the server is %s; nothing was run" % why,
                             metrics={"statements_run": 0}, duration_ms=total.ms, host=host, criteria=criteria,
                             findings=[finding(WARNING, "Maintenance refused: server is %s" % why, label, "",
                                               "Point maintenance at the primary's read-write address; VACUUM and "
                                               "ANALYZE on the primary reach the standbys through WAL.")],
                             actions=[], statements=[]), []
            conn.execute("SET lock_timeout = %d" % int(lock_timeout_ms))
            full_relids, findings = _resolve_full(conn, settings["vacuum_full_tables"], label)
            rows = _rows(conn, STATS_SQL)
            # pg_partition_tree() arrived in PostgreSQL 12; older servers keep the per-table plan.
            parents = _rows(conn, PARTITIONED_SQL) if conn.info.server_version >= 120000 else []
            actions, over_cap = plan(rows, settings, full_relids, parents)
            only = conn.info.server_version >= 170000
            for action in actions:
                action["_only"] = bool(action.get("partitioned") and only)
            statements = []
            for action in actions:
                text = statement_for(action).as_string(conn)
                statements.append(text)
                action["statement"] = text
                if check_mode:
                    action["status"] = "would_run"
                    continue
                with Stopwatch() as watch:
                    action["status"], message = _run(conn, action, secrets)
                action["duration_ms"] = round(watch.ms, 1)
                if action["status"] != "ran":
                    findings.append(finding(WARNING, "%s on %s: %s" % (
                        action["kind"].replace("_", " ").upper(), action["table"], action["status"].replace("_", " ")),
                        action["table"],
                        message, _REMEDIATION[action["status"]]))
            ran = [a for a in actions if a.get("status") == "ran"]
            # A parent's own counters say nothing (it holds no rows): no "after" for it.
            measured = [a for a in ran if not a.get("partitioned")]
            if measured:
                try:
                    after = {row["relid"]: row for row in _rows(conn, AFTER_SQL, [[a["_relid"] for a in measured]])}
                except psycopg.Error:
                    after = {}  # the work is done; only the after-count is missing
                for action in measured:
                    if action["_relid"] in after:
                        action["after"] = _counts(after[action["_relid"]])
    if over_cap:
        findings.append(finding("info", "%d more table(s) need maintenance beyond max_tables=%d" % (over_cap, settings["max_tables"]),
                                label, "", "Run again, or raise max_tables for this database."))
    for action in actions:
        action["changed"] = action.get("status") == "ran"
        for key in ("_relid", "_schema", "_name", "_only"):
            action.pop(key, None)
    status = WARNING if any(item["severity"] == WARNING for item in findings) else OK
    before = sum(a["before"]["n_dead_tup"] for a in actions)
    metrics = {"tables_checked": len(rows) + len(parents), "partitioned_tables_checked": len(parents),
               "tables_needing_maintenance": len(actions) + over_cap,
               "statements_planned": len(actions), "statements_run": len(ran),
               "statements_failed": len([a for a in actions if a.get("status") not in ("ran", "would_run")]),
               "dead_tuples_before": before}
    if ran:
        metrics["dead_tuples_after"] = sum(a.get("after", a["before"])["n_dead_tup"] for a in actions)
    if check_mode:
        summary = "check mode: would run %d statement(s) on %d table(s) checked" % (len(actions), metrics["tables_checked"])
    elif actions:
        summary = "ran %d of %d statement(s) (%d table(s) checked)" % (len(ran), len(actions), metrics["tables_checked"])
    else:
        summary = "nothing to do: no table over the thresholds (%d checked)" % metrics["tables_checked"]
    result = check(CHECK_ID, label, status, summary, metrics=metrics, findings=findings, duration_ms=total.ms,
                   host=host, actions=actions, statements=statements, check_mode=bool(check_mode), criteria=criteria)
    return result, [s for s, a in zip(statements, actions) if check_mode or a.get("status") == "ran"]


def maintain_databases(params, check_mode=False):
    """(checks, statements) for one upkeep_pg_maintenance call; ``statements`` are the ones run
    (or, in check mode, the ones that would run). Parameters are validated before any connection."""
    if params.get("databases") is not None and params.get("vacuum_full_tables"):
        raise ParameterError("vacuum_full_tables: name the tables per database (databases[].vacuum_full_tables); "
                             "VACUUM FULL is never applied to a whole fleet")
    targets = fleet_targets(params, "databases", tuple(maintenance_item_spec()))
    statement_timeout_ms = params.get("statement_timeout_ms")
    statement_timeout_ms = DEFAULT_STATEMENT_TIMEOUT_MS if statement_timeout_ms is None else int(statement_timeout_ms)
    lock_timeout_ms = params.get("lock_timeout_ms")
    lock_timeout_ms = DEFAULT_LOCK_TIMEOUT_MS if lock_timeout_ms is None else int(lock_timeout_ms)
    for name, value in (("lock_timeout_ms", lock_timeout_ms), ("statement_timeout_ms", statement_timeout_ms)):
        if value < 1:
            # 0 means "no timeout" to PostgreSQL: maintenance could then queue behind traffic for ever.
            raise ParameterError("%s: must be 1 or more milliseconds, got %d" % (name, value))
    max_workers = params.get("max_workers") or DEFAULT_MAX_WORKERS
    if not 1 <= int(max_workers) <= 64:
        raise ParameterError("max_workers: must be 1-64, got %r" % max_workers)
    for target in targets:
        settings_of(target)
        connection_kwargs(target, statement_timeout_ms=statement_timeout_ms)
    results = run_concurrently(lambda t: maintain_one(t, check_mode, statement_timeout_ms, lock_timeout_ms),
                               targets, max_workers)
    return [r[0] for r in results], [s for r in results for s in r[1]]
