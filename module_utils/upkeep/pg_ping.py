# -*- coding: utf-8 -*-
"""``pg.ping``: can we reach the database, how fast, and what is it?

Per database: time to connect (TCP, TLS, authentication, backend start), ``SELECT 1`` latency
over N samples (p50 judged, max reported), server version, and whether it is a replica. A
database that refuses us or cannot be reached is the answer to the daily "is the database
healthy?" question, so it is a critical check with a finding, not a task failure.
"""

from __future__ import annotations

from .pg import (DEFAULT_MAX_WORKERS, DEFAULT_STATEMENT_TIMEOUT_MS, PgConnectError, connect,
                 connect_failure_check, connection_kwargs, fleet_targets, run_concurrently, secrets_of,
                 redact, target_label)
from .result import (CRITICAL, OK, ParameterError, Stopwatch, check, finding, judge, percentile, thresholds,
                     worst)

CHECK_ID = "pg.ping"
EXPECTED_ROLES = ("any", "primary", "replica")

# Per-item options (besides the connection options) and their defaults when neither the item nor
# the module's top level sets them.
PING_DEFAULTS = {
    "samples": 5,
    "connect_warning_ms": 500.0,
    "connect_critical_ms": 2000.0,
    "query_warning_ms": 50.0,
    "query_critical_ms": 500.0,
    "expected_role": "any",
}


def ping_item_spec():
    """The per-database options of upkeep_pg_ping besides the connection options (argument-spec form)."""
    return dict(
        samples=dict(type="int"),
        connect_warning_ms=dict(type="float"),
        connect_critical_ms=dict(type="float"),
        query_warning_ms=dict(type="float"),
        query_critical_ms=dict(type="float"),
        expected_role=dict(type="str", choices=list(EXPECTED_ROLES)),
    )


def _settings(target):
    """The ping settings of ``target`` with defaults filled in, validated."""
    where = target.get("where", "")
    settings = {key: target.get(key) if target.get(key) is not None else default
                for key, default in PING_DEFAULTS.items()}
    if not 1 <= int(settings["samples"]) <= 100:
        raise ParameterError("%ssamples: must be 1-100, got %r" % (where, settings["samples"]))
    settings["samples"] = int(settings["samples"])
    for kind in ("connect", "query"):
        warning, critical = settings[kind + "_warning_ms"], settings[kind + "_critical_ms"]
        for name, value in ((kind + "_warning_ms", warning), (kind + "_critical_ms", critical)):
            if value < 0:
                raise ParameterError("%s%s: must be 0 or more milliseconds, got %r" % (where, name, value))
        if warning > critical:
            raise ParameterError("%s%s_warning_ms (%g) must not exceed %s_critical_ms (%g)"
                                 % (where, kind, warning, kind, critical))
    if settings["expected_role"] not in EXPECTED_ROLES:
        raise ParameterError("%sexpected_role: must be one of %s, got %r"
                             % (where, ", ".join(EXPECTED_ROLES), settings["expected_role"]))
    return settings


def _latency_finding(kind, value, warning, critical, label):
    status = judge(value, warning, critical)
    if status == OK:
        return status, None
    limit = critical if status == CRITICAL else warning
    if kind == "connect":
        title = "Slow connection: %.1f ms (%s at %g ms)" % (value, status, limit)
        remediation = ("Check server load and connection slots, pg_hba authentication cost (LDAP, DNS "
                       "lookups), TLS set-up and network latency; consider a connection pooler.")
    else:
        title = "Slow trivial query: SELECT 1 p50 %.1f ms (%s at %g ms)" % (value, status, limit)
        remediation = ("A trivial query this slow means the server or the network is saturated: check CPU, "
                       "I/O wait and pg_stat_activity for long-running work.")
    return status, finding(status, title, label, "", remediation)


def ping_one(target, statement_timeout_ms=DEFAULT_STATEMENT_TIMEOUT_MS):
    """The ``pg.ping`` check of one database (a target from ``fleet_targets``)."""
    settings = _settings(target)
    label = target_label(target)
    host = target.get("inventory_host")
    limits = {
        "connect_ms": thresholds(settings["connect_warning_ms"], settings["connect_critical_ms"]),
        "query_p50_ms": thresholds(settings["query_warning_ms"], settings["query_critical_ms"]),
    }
    with Stopwatch() as total:
        with Stopwatch() as connect_watch:
            try:
                conn = connect(target, statement_timeout_ms=statement_timeout_ms)
            except PgConnectError as error:
                conn = None
                failure = error
        if conn is None:
            return connect_failure_check(CHECK_ID, target, failure, duration_ms=total.ms,
                                         metrics={"connect_ms": round(connect_watch.ms, 2)})
        latencies = []
        try:
            with conn:
                for _ in range(settings["samples"]):
                    with Stopwatch() as query_watch:
                        conn.execute("SELECT 1").fetchone()
                    latencies.append(query_watch.ms)
                in_recovery = bool(conn.execute("SELECT pg_is_in_recovery()").fetchone()[0])
                version = conn.info.parameter_status("server_version") or ""
                version_num = conn.info.server_version
        except Exception as exc:  # psycopg.Error: the server answered the connection but not the query
            message = redact(" ".join(str(exc).split()), secrets_of(target))
            return check(CHECK_ID, label, CRITICAL, "connected, but the trivial query failed: %s" % message,
                         metrics={"connect_ms": round(connect_watch.ms, 2)}, thresholds=limits,
                         findings=[finding(CRITICAL, "SELECT 1 failed after connecting", label, message,
                                           "Check the server log and pg_stat_activity; a statement timeout here "
                                           "means the server is saturated or locked up.")],
                         duration_ms=total.ms, host=host)

    connect_ms = connect_watch.ms
    p50, slowest = percentile(latencies, 50), max(latencies)
    statuses, findings = [], []
    for kind, value in (("connect", connect_ms), ("query", p50)):
        status, item = _latency_finding(kind, value, settings[kind + "_warning_ms"], settings[kind + "_critical_ms"], label)
        statuses.append(status)
        if item:
            findings.append(item)
    role = "replica" if in_recovery else "primary"
    if settings["expected_role"] != "any" and settings["expected_role"] != role:
        statuses.append(CRITICAL)
        findings.append(finding(
            CRITICAL, "Expected a %s, found a %s" % (settings["expected_role"], role), label,
            "pg_is_in_recovery() is %s" % str(in_recovery).lower(),
            "A failover or a misrouted address: check which server this name points at before writing to it."
            if settings["expected_role"] == "primary" else
            "This address should reach a read replica; it reaches the primary. Check the routing."))
    summary = "connected in %.1f ms; SELECT 1 p50 %.2f ms (max %.2f ms over %d); PostgreSQL %s, %s" % (
        connect_ms, p50, slowest, len(latencies), version, role)
    return check(
        CHECK_ID, label, worst(statuses), summary,
        metrics={
            "connect_ms": round(connect_ms, 2),
            "query_p50_ms": round(p50, 3),
            "query_max_ms": round(slowest, 3),
            "query_samples": len(latencies),
            "server_version_num": version_num,
            "in_recovery": 1 if in_recovery else 0,
        },
        thresholds=limits, findings=findings, duration_ms=total.ms, host=host,
        server_version=version, in_recovery=in_recovery,
    )


def ping_databases(params):
    """``pg.ping`` checks for the databases of one upkeep_pg_ping call (its params as a dict),
    probed concurrently. Every parameter is validated before the first connection is made, so a
    bad item fails the call (ParameterError) instead of leaving half a fleet probed."""
    targets = fleet_targets(params, "databases", tuple(PING_DEFAULTS))
    statement_timeout_ms = params.get("statement_timeout_ms")
    if statement_timeout_ms is None:
        statement_timeout_ms = DEFAULT_STATEMENT_TIMEOUT_MS
    max_workers = params.get("max_workers") or DEFAULT_MAX_WORKERS
    if not 1 <= int(max_workers) <= 256:
        raise ParameterError("max_workers: must be 1-256, got %r" % max_workers)
    for target in targets:
        _settings(target)
        connection_kwargs(target, statement_timeout_ms=statement_timeout_ms)
    return run_concurrently(lambda target: ping_one(target, statement_timeout_ms), targets, max_workers)

