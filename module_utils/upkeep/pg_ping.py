# -*- coding: utf-8 -*-
"""``pg.ping``: can we reach the database, how fast, and what is it?

Per database: time to connect (TCP, TLS, authentication, backend start), ``SELECT 1`` latency
over N samples (p50 judged, max reported), server version, and whether it is a replica. A
database that refuses us or cannot be reached is the answer to the daily "is the database
healthy?" question, so it is a critical check with a finding, not a task failure.
"""

from __future__ import annotations

from .pg import (CONNECTION_OPTIONS, DEFAULT_MAX_WORKERS, DEFAULT_STATEMENT_TIMEOUT_MS, PgConnectError,
                 client_deadline, connect, connect_failure_check, connection_kwargs, fleet_targets,
                 run_concurrently, secrets_of, redact, target_label)
from .result import (CRITICAL, OK, ParameterError, Stopwatch, check, finding, item_where, judge, percentile,
                     thresholds, unknown_check, worst)

CHECK_ID = "pg.ping"
# The per-host inventory variable fleet items come from (role upkeep_postgres), named in messages.
HOST_VAR = "upkeep_postgres_databases"
# The role passes its upkeep_postgres_<option> variables as the module's top-level options.
ROLE_VAR_PREFIX = "upkeep_postgres_"
# How long past its statement_timeout a query may go unanswered before the client gives up on
# it: the server should have cancelled it by then, so silence means it (or the path) is stuck.
DEADLINE_MARGIN_MS = 1000
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


def query_deadline_ms(statement_timeout_ms):
    """The client-side deadline of one query: the server's statement_timeout (the default one
    when it is off) plus a margin."""
    return (int(statement_timeout_ms) or DEFAULT_STATEMENT_TIMEOUT_MS) + DEADLINE_MARGIN_MS


def _no_answer_check(target, deadline_ms, connect_ms, limits, duration_ms):
    label = target_label(target)
    title = "no answer within %d ms" % deadline_ms
    return check(CHECK_ID, label, CRITICAL, "connected, but %s to a trivial query" % title,
                 metrics={"connect_ms": round(connect_ms, 2)}, thresholds=limits,
                 findings=[finding(CRITICAL, "Server stopped answering after login: %s" % title, label,
                                   "SELECT 1 got no reply within statement_timeout plus %d ms; the client "
                                   "closed the connection." % DEADLINE_MARGIN_MS,
                                   "The server process or the network path hangs (not merely slow): check the "
                                   "server's CPU, I/O and log, pg_stat_activity, and any proxy or pooler "
                                   "in between.")],
                 duration_ms=duration_ms, host=target.get("inventory_host"))


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
        deadline_ms = query_deadline_ms(statement_timeout_ms)
        deadline = None
        # close() rather than ``with conn``: after a cut-off the latter would try a ROLLBACK on the
        # dead connection and log a warning to stderr.
        try:
            try:
                for _ in range(settings["samples"]):
                    with client_deadline(conn, deadline_ms / 1000.0) as deadline:
                        with Stopwatch() as query_watch:
                            conn.execute("SELECT 1").fetchone()
                    latencies.append(query_watch.ms)
                with client_deadline(conn, deadline_ms / 1000.0) as deadline:
                    in_recovery = bool(conn.execute("SELECT pg_is_in_recovery()").fetchone()[0])
                version = conn.info.parameter_status("server_version") or ""
                version_num = conn.info.server_version
            finally:
                conn.close()
        except Exception as exc:  # psycopg.Error: the server answered the connection but not the query
            if deadline is not None and deadline.expired:
                return _no_answer_check(target, deadline_ms, connect_watch.ms, limits, total.ms)
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


def _guarded_ping(target, statement_timeout_ms):
    """``ping_one`` for one database, whatever happens: a bad option (ParameterError) or an
    unexpected exception becomes an unknown check for this database alone (the exception's type
    named, no traceback), so one odd item does not cost the fleet its checks."""
    if target.get("id"):  # already an unknown check: its options did not validate
        return target
    with Stopwatch() as watch:
        try:
            return ping_one(target, statement_timeout_ms)
        except ParameterError as exc:
            reason = str(exc)
        except Exception as exc:
            reason = "could not evaluate: unexpected %s while pinging the database" % type(exc).__name__
    return unknown_check(CHECK_ID, target_label(target), redact(reason, secrets_of(target)),
                         host=target.get("inventory_host"), duration_ms=watch.ms)


def ping_databases(params):
    """``pg.ping`` checks for the databases of one upkeep_pg_ping call (its params as a dict),
    probed concurrently. Top-level parameters are validated before the first connection, and a
    bad one fails the call (ParameterError); a bad item of ``databases`` becomes an unknown
    check filed under its own host while the other databases are still probed."""
    statement_timeout_ms = params.get("statement_timeout_ms")
    if statement_timeout_ms is None:
        statement_timeout_ms = DEFAULT_STATEMENT_TIMEOUT_MS
    max_workers = params.get("max_workers") or DEFAULT_MAX_WORKERS
    if not 1 <= int(max_workers) <= 256:
        raise ParameterError("max_workers: must be 1-256, got %r" % max_workers)
    targets = fleet_targets(params, "databases", tuple(PING_DEFAULTS))
    items = params.get("databases")
    if items is None:
        _validate(targets[0], statement_timeout_ms)
    else:
        # The top level alone first: its own mistakes concern every database and fail the call.
        top = {key: params.get(key) for key in tuple(CONNECTION_OPTIONS) + tuple(PING_DEFAULTS)}
        try:
            _validate(dict(top, where=""), statement_timeout_ms)
        except ParameterError as exc:
            if not all(isinstance(item, dict) and item.get("inventory_host") for item in items):
                raise
            # A shared setting of the role (upkeep_postgres_samples, say) is wrong: every database
            # stays in the report as an unknown check saying so, instead of the role's checks vanishing.
            reason = ROLE_VAR_PREFIX + redact(str(exc), secrets_of(top))
            return [unknown_check(CHECK_ID, target_label(target), reason, host=target.get("inventory_host"))
                    for target in targets]
        for index, target in enumerate(targets):
            target["where"] = item_where(items, index, "databases", HOST_VAR) + "."
            try:
                _validate(target, statement_timeout_ms)
            except ParameterError as exc:
                targets[index] = unknown_check(CHECK_ID, target_label(target), redact(str(exc), secrets_of(target)),
                                               host=target.get("inventory_host"))
    return run_concurrently(lambda target: _guarded_ping(target, statement_timeout_ms), targets, max_workers)


def _validate(target, statement_timeout_ms):
    _settings(target)
    connection_kwargs(target, statement_timeout_ms=statement_timeout_ms)
