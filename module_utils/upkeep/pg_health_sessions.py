# -*- coding: utf-8 -*-
"""``upkeep_pg_health`` concerns about sessions: connection slots, long queries, idle-in-transaction
sessions, lock waits (who blocks whom) and replication lag.

The first three share one pg_stat_activity snapshot per database. Long queries, idle sessions and
lock waits look at the connected database; connection slots are a cluster-wide limit, so
``pg.connections`` counts the whole cluster.
"""

from __future__ import annotations

from .pg_health_common import build, human_seconds, rows_of, session_line, shorten
from .result import OK, finding, judge, thresholds, worst

_MONITOR_HINT = " (grant the monitoring role pg_monitor to see other roles' query text)"

ACTIVITY_SQL = """
SELECT pid, usename, application_name, client_addr::text AS client_addr, datname,
       state, wait_event_type, wait_event,
       extract(epoch FROM clock_timestamp() - query_start)::float8 AS query_s,
       extract(epoch FROM clock_timestamp() - state_change)::float8 AS state_s,
       extract(epoch FROM clock_timestamp() - xact_start)::float8 AS xact_s,
       left(query, %(chars)s) AS query,
       pid = pg_backend_pid() AS is_self,
       datname = current_database() AS same_db,
       current_setting('max_connections')::int AS max_connections,
       current_setting('superuser_reserved_connections')::int AS reserved
FROM pg_stat_activity
WHERE backend_type = 'client backend'
"""

BLOCKING_SQL = """
SELECT w.pid, w.usename, w.application_name, left(w.query, %(chars)s) AS query,
       extract(epoch FROM clock_timestamp() - {wait_start})::float8 AS wait_s,
       b.pid AS blocker_pid, b.usename AS blocker_user, b.application_name AS blocker_application,
       b.state AS blocker_state, left(b.query, %(chars)s) AS blocker_query,
       extract(epoch FROM clock_timestamp() - b.xact_start)::float8 AS blocker_xact_s
FROM pg_stat_activity w
CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS blocking(pid)
JOIN pg_stat_activity b ON b.pid = blocking.pid
WHERE w.wait_event_type = 'Lock' AND w.datname = current_database()
ORDER BY wait_s DESC NULLS LAST
"""
# pg_locks.waitstart (PostgreSQL 14+) is when the lock wait began; before that the query start is the best bound.
_WAIT_START_14 = "coalesce((SELECT min(l.waitstart) FROM pg_locks l WHERE l.pid = w.pid AND NOT l.granted), w.query_start)"

REPLICATION_SQL = """
SELECT pg_is_in_recovery() AS in_recovery,
       pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::float8 AS lag_bytes,
       CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
            ELSE extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8 END AS lag_s,
       pg_last_xact_replay_timestamp() AS last_replay_at,
       CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() END AS replay_paused
"""

def _activity(conn, context):
    cache = context["cache"]
    if "activity" not in cache:
        try:
            cache["activity"] = rows_of(conn, ACTIVITY_SQL, {"chars": context["settings"]["query_text_chars"]})
        except Exception as exc:
            cache["activity"] = exc
    if isinstance(cache["activity"], Exception):
        raise cache["activity"]
    return cache["activity"]


def connections(conn, context):
    settings = context["settings"]
    rows = _activity(conn, context)
    usable = max(1, rows[0]["max_connections"] - rows[0]["reserved"])
    used = len(rows)
    pct = round(100.0 * used / usable, 1)
    warn, crit = settings["connections_warning_pct"], settings["connections_critical_pct"]
    status = judge(pct, warn, crit)
    by_state, by_user, by_application, by_database = {}, {}, {}, {}
    for row in rows:
        for bucket, key in ((by_state, row["state"] or "unknown"), (by_user, row["usename"] or "?"),
                            (by_application, row["application_name"] or "-"), (by_database, row["datname"] or "-")):
            bucket[key] = bucket.get(key, 0) + 1
    findings = []
    if status != OK:
        top = sorted(by_application.items(), key=lambda item: -item[1])[:5]
        findings.append(finding(
            status, "%d of %d usable connection slots in use (%.1f%%)" % (used, usable, pct), "max_connections",
            "by application: %s; by user: %s; idle: %d, idle in transaction: %d" % (
                ", ".join("%s=%d" % item for item in top),
                ", ".join("%s=%d" % item for item in sorted(by_user.items(), key=lambda item: -item[1])[:5]),
                by_state.get("idle", 0), by_state.get("idle in transaction", 0)),
            "Look for leaked or idle connections of the top applications (pg_stat_activity), put a pooler "
            "(PgBouncer, Supavisor) in front, or raise max_connections (restart required)."))
    return build(context, "pg.connections", status,
                  "%d of %d usable connections in use (%.1f%%)" % (used, usable, pct),
                  {"connections_used": used, "connections_max": usable, "connections_used_pct": pct,
                   "connections_active": by_state.get("active", 0), "connections_idle": by_state.get("idle", 0),
                   "connections_idle_in_transaction": by_state.get("idle in transaction", 0)
                   + by_state.get("idle in transaction (aborted)", 0)},
                  {"connections_used_pct": thresholds(warn, crit)}, findings,
                  breakdown={"by_user": by_user, "by_application": by_application, "by_database": by_database})


def _over_threshold(context, check_id, rows, seconds_key, warn, crit, what, describe, remediate, metric_prefix):
    chars = context["settings"]["query_text_chars"]
    slow = sorted((row for row in rows if judge(row[seconds_key] or 0, warn, crit) != OK),
                  key=lambda row: -(row[seconds_key] or 0))
    longest = max([row[seconds_key] or 0 for row in rows] or [0])
    status = judge(longest, warn, crit)
    findings = [finding(judge(row[seconds_key] or 0, warn, crit), describe(row), "pid %d" % row["pid"],
                        session_line(row, chars) + (_MONITOR_HINT if row.get("query") == "<insufficient privilege>" else ""),
                        remediate(row)) for row in slow]
    summary = ("%d %s over %s, longest %s" % (len(slow), what, human_seconds(warn), human_seconds(longest))
               if slow else "no %s over %s (%d checked)" % (what, human_seconds(warn), len(rows)))
    return build(context, check_id, status, summary,
                  {metric_prefix + "_count": len(slow), metric_prefix + "_max_s": round(longest, 1),
                   metric_prefix + "_sessions": len(rows)},
                  {metric_prefix + "_max_s": thresholds(warn, crit)}, findings)


def long_queries(conn, context):
    settings = context["settings"]
    rows = [row for row in _activity(conn, context)
            if row["same_db"] and not row["is_self"] and row["state"] == "active"]
    return _over_threshold(
        context, "pg.long_queries", rows, "query_s", settings["long_query_warning_s"], settings["long_query_critical_s"],
        "queries running",
        lambda row: "Query running for %s (pid %d)" % (human_seconds(row["query_s"]), row["pid"]),
        lambda row: "Find out why (EXPLAIN the statement, look for locks). Cancel it with SELECT pg_cancel_backend(%d); "
                    "if it does not stop, SELECT pg_terminate_backend(%d);" % (row["pid"], row["pid"]),
        "long_query")


def idle_in_transaction(conn, context):
    settings = context["settings"]
    rows = [row for row in _activity(conn, context)
            if row["same_db"] and not row["is_self"] and (row["state"] or "").startswith("idle in transaction")]
    return _over_threshold(
        context, "pg.idle_in_transaction", rows, "state_s", settings["idle_in_transaction_warning_s"],
        settings["idle_in_transaction_critical_s"], "sessions idle in transaction",
        lambda row: "Session idle in transaction for %s (pid %d, transaction open %s)" % (
            human_seconds(row["state_s"]), row["pid"], human_seconds(row["xact_s"])),
        lambda row: "It holds its locks and blocks vacuum; fix the application path that leaves the transaction "
                    "open. End it with SELECT pg_terminate_backend(%d); and set idle_in_transaction_session_timeout "
                    "for the application role." % row["pid"],
        "idle_in_transaction")


def blocking_locks(conn, context):
    settings = context["settings"]
    chars = settings["query_text_chars"]
    wait_start = _WAIT_START_14 if context["server_version"] >= 140000 else "w.query_start"
    rows = rows_of(conn, BLOCKING_SQL.format(wait_start=wait_start), {"chars": chars})
    warn, crit = settings["lock_wait_warning_s"], settings["lock_wait_critical_s"]
    blocked = {row["pid"] for row in rows}
    longest = max([row["wait_s"] or 0 for row in rows] or [0])
    status = judge(longest, warn, crit) if rows else OK
    roots = sorted({row["blocker_pid"] for row in rows if row["blocker_pid"] not in blocked})
    findings = []
    for row in rows:
        severity = judge(row["wait_s"] or 0, warn, crit)
        if severity == OK:
            continue
        root_note = "" if row["blocker_pid"] in roots else " (itself waiting: follow the chain to the root blocker)"
        findings.append(finding(
            severity, "pid %d waits %s for a lock held by pid %d" % (row["pid"], human_seconds(row["wait_s"]), row["blocker_pid"]),
            "pid %d -> pid %d" % (row["pid"], row["blocker_pid"]),
            "blocked: %s; blocker%s: user=%s application=%s state=%s transaction open %s query=%s" % (
                session_line(row, chars), root_note, row["blocker_user"] or "?", row["blocker_application"] or "-",
                row["blocker_state"] or "?", human_seconds(row["blocker_xact_s"]),
                shorten(row["blocker_query"], chars) or "-"),
            "Let the blocking transaction finish or end it: SELECT pg_cancel_backend(%d); (its current statement) or "
            "SELECT pg_terminate_backend(%d); (the whole session). Long transactions and DDL on hot tables cause "
            "this; set lock_timeout for migrations." % (row["blocker_pid"], row["blocker_pid"])))
    summary = ("%d session(s) waiting for locks, longest %s; root blocker pid(s) %s" % (
        len(blocked), human_seconds(longest), ", ".join(str(pid) for pid in roots) or "-")
        if rows else "no session waiting for a lock")
    return build(context, "pg.blocking_locks", status, summary,
                  {"blocked_sessions": len(blocked), "lock_wait_max_s": round(longest, 1), "root_blockers": len(roots)},
                  {"lock_wait_max_s": thresholds(warn, crit)}, findings, blocking_chains=[
                      {"blocked_pid": row["pid"], "blocker_pid": row["blocker_pid"], "wait_s": round(row["wait_s"] or 0, 1)}
                      for row in rows][:100])


def replication_lag(conn, context):
    settings = context["settings"]
    row = rows_of(conn, REPLICATION_SQL)[0]
    limits = {"replication_lag_s": thresholds(settings["replication_lag_warning_s"], settings["replication_lag_critical_s"]),
              "replication_lag_bytes": thresholds(settings["replication_lag_warning_bytes"],
                                                  settings["replication_lag_critical_bytes"])}
    if not row["in_recovery"]:
        return build(context, "pg.replication_lag", OK, "not a replica (primary): no replication lag to measure",
                      {"in_recovery": 0}, limits, [])
    lag_bytes = max(0.0, row["lag_bytes"] or 0.0)
    # Seconds are knowable only once a transaction has been replayed since the standby started.
    lag_s = None if row["lag_s"] is None else max(0.0, row["lag_s"])
    status_s = OK if lag_s is None else judge(lag_s, settings["replication_lag_warning_s"], settings["replication_lag_critical_s"])
    status_b = judge(lag_bytes, settings["replication_lag_warning_bytes"], settings["replication_lag_critical_bytes"])
    status = worst([status_s, status_b])
    lag_text = "replay lag unknown (no transaction replayed since the standby started)" if lag_s is None else \
        "replay lag %s" % human_seconds(lag_s)
    findings = []
    if status != OK:
        findings.append(finding(
            status, "Replica is behind: %s, %d bytes of WAL not replayed" % (lag_text, int(lag_bytes)), context["label"],
            "received but not replayed: %d bytes; last replayed transaction committed at %s%s" % (
                int(lag_bytes), row["last_replay_at"] or "unknown", "; WAL replay is PAUSED" if row["replay_paused"] else ""),
            ("Replay is paused: SELECT pg_wal_replay_resume(); on the replica. " if row["replay_paused"] else "")
            + "Check the replica's I/O and CPU, long queries on it that conflict with replay "
            "(max_standby_streaming_delay), and the network from the primary."))
    metrics = {"in_recovery": 1, "replication_lag_bytes": int(lag_bytes), "replay_paused": 1 if row["replay_paused"] else 0}
    if lag_s is not None:
        metrics["replication_lag_s"] = round(lag_s, 1)
    return build(context, "pg.replication_lag", status,
                  "replica %s, %d bytes received but not replayed" % (lag_text, int(lag_bytes)), metrics, limits, findings)
