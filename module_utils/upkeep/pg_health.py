# -*- coding: utf-8 -*-
"""``upkeep_pg_health``: the daily deep health of every database of the fleet.

One check per concern per database (``pg.connections``, ``pg.long_queries``,
``pg.idle_in_transaction``, ``pg.blocking_locks``, ``pg.replication_lag``, ``pg.wraparound``,
``pg.sequences``, ``pg.cache_hit``, ``pg.database_size``, ``pg.invalid_indexes``), each judged
against thresholds a user overrides per database. The concerns themselves live in
``pg_health_sessions`` and ``pg_health_catalog``; this file holds their registry, the options,
their validation and the fleet run.

Every statement runs in its own read-only transaction (``default_transaction_read_only`` in the
startup packet) under a statement_timeout and a lock_timeout, one query per concern per database
(the three pg_stat_activity concerns share one snapshot). A concern whose query fails becomes an
``unknown`` check and the others go on; a database that cannot be reached is one critical
``pg.health`` check and the other databases go on.
"""

from __future__ import annotations

from .pg import (DEFAULT_MAX_WORKERS, DEFAULT_STATEMENT_TIMEOUT_MS, PgConnectError, connect,
                 connect_failure_check, connection_kwargs, fleet_targets, redact, run_concurrently,
                 secrets_of, target_label)
from .pg_health_catalog import cache_hit, database_size, invalid_indexes, sequences, wraparound
from .pg_health_sessions import blocking_locks, connections, idle_in_transaction, long_queries, replication_lag
from .result import ParameterError, Stopwatch, unknown_check

# Check id -> concern, in report order.
CONCERNS = {
    "pg.connections": connections,
    "pg.long_queries": long_queries,
    "pg.idle_in_transaction": idle_in_transaction,
    "pg.blocking_locks": blocking_locks,
    "pg.replication_lag": replication_lag,
    "pg.wraparound": wraparound,
    "pg.sequences": sequences,
    "pg.cache_hit": cache_hit,
    "pg.database_size": database_size,
    "pg.invalid_indexes": invalid_indexes,
}
CONCERN_IDS = tuple(CONCERNS)

CONNECT_CHECK_ID = "pg.health"
DEFAULT_LOCK_TIMEOUT_MS = 1000

# Per-database options and their defaults. (name, default, kind) where kind says how the pair is
# validated: "higher" (warning <= critical), "lower" (warning >= critical, e.g. hit ratios).
HEALTH_DEFAULTS = {
    "connections_warning_pct": 80.0,
    "connections_critical_pct": 95.0,
    "long_query_warning_s": 60.0,
    "long_query_critical_s": 300.0,
    "idle_in_transaction_warning_s": 60.0,
    "idle_in_transaction_critical_s": 600.0,
    "lock_wait_warning_s": 10.0,
    "lock_wait_critical_s": 60.0,
    "replication_lag_warning_s": 60.0,
    "replication_lag_critical_s": 300.0,
    "replication_lag_warning_bytes": 64 * 1024 * 1024,
    "replication_lag_critical_bytes": 1024 * 1024 * 1024,
    "wraparound_warning_pct": 50.0,
    "wraparound_critical_pct": 75.0,
    "sequence_warning_pct": 75.0,
    "sequence_critical_pct": 90.0,
    "cache_hit_warning_pct": 99.0,
    "cache_hit_critical_pct": 95.0,
    "cache_hit_min_blocks": 10000,
    "database_size_warning_bytes": None,
    "database_size_critical_bytes": None,
    "invalid_indexes_warning": 1,
    "invalid_indexes_critical": None,
    "query_text_chars": 200,
    "max_findings": 20,
}

# (warning option, critical option, higher_is_worse)
_PAIRS = (
    ("connections_warning_pct", "connections_critical_pct", True),
    ("long_query_warning_s", "long_query_critical_s", True),
    ("idle_in_transaction_warning_s", "idle_in_transaction_critical_s", True),
    ("lock_wait_warning_s", "lock_wait_critical_s", True),
    ("replication_lag_warning_s", "replication_lag_critical_s", True),
    ("replication_lag_warning_bytes", "replication_lag_critical_bytes", True),
    ("wraparound_warning_pct", "wraparound_critical_pct", True),
    ("sequence_warning_pct", "sequence_critical_pct", True),
    ("cache_hit_warning_pct", "cache_hit_critical_pct", False),
    ("database_size_warning_bytes", "database_size_critical_bytes", True),
    ("invalid_indexes_warning", "invalid_indexes_critical", True),
)
_INT_OPTIONS = ("replication_lag_warning_bytes", "replication_lag_critical_bytes", "cache_hit_min_blocks",
                "database_size_warning_bytes", "database_size_critical_bytes", "invalid_indexes_warning",
                "invalid_indexes_critical", "query_text_chars", "max_findings")


def health_item_spec():
    """Per-database options of upkeep_pg_health besides the connection options (argument-spec form)."""
    return {name: dict(type="int" if name in _INT_OPTIONS else "float") for name in HEALTH_DEFAULTS}


def settings_of(target):
    """The health settings of ``target`` with defaults filled in, validated (ParameterError)."""
    where = target.get("where", "")
    settings = {}
    for name, default in HEALTH_DEFAULTS.items():
        value = target.get(name)
        settings[name] = default if value is None else value
    for name, value in settings.items():
        if value is not None and value < 0:
            raise ParameterError("%s%s: must be 0 or more, got %r" % (where, name, value))
    for name in ("connections_warning_pct", "connections_critical_pct", "wraparound_warning_pct",
                 "wraparound_critical_pct", "sequence_warning_pct", "sequence_critical_pct",
                 "cache_hit_warning_pct", "cache_hit_critical_pct"):
        if settings[name] is not None and settings[name] > 100:
            raise ParameterError("%s%s: a percentage must be 0-100, got %r" % (where, name, settings[name]))
    if not 20 <= settings["query_text_chars"] <= 10000:
        raise ParameterError("%squery_text_chars: must be 20-10000, got %r" % (where, settings["query_text_chars"]))
    if not 1 <= settings["max_findings"] <= 1000:
        raise ParameterError("%smax_findings: must be 1-1000, got %r" % (where, settings["max_findings"]))
    for warning_name, critical_name, higher_is_worse in _PAIRS:
        warning, critical = settings[warning_name], settings[critical_name]
        if warning is None or critical is None:
            continue
        if higher_is_worse and warning > critical:
            raise ParameterError("%s%s (%g) must not exceed %s (%g)" % (where, warning_name, warning, critical_name, critical))
        if not higher_is_worse and warning < critical:
            raise ParameterError("%s%s (%g) must not be below %s (%g): a lower hit ratio is worse"
                                 % (where, warning_name, warning, critical_name, critical))
    return settings


def _selected(params):
    wanted = params.get("checks")
    if not wanted:
        return list(CONCERN_IDS)
    unknown = [item for item in wanted if item not in CONCERN_IDS]
    if unknown:
        raise ParameterError("checks: unknown check id(s) %s; choose from %s" % (", ".join(unknown), ", ".join(CONCERN_IDS)))
    return [item for item in CONCERN_IDS if item in wanted]


def health_one(target, selected, statement_timeout_ms, lock_timeout_ms):
    """The health checks of one database (a target from ``fleet_targets``)."""
    settings = settings_of(target)
    label = target_label(target)
    host = target.get("inventory_host")
    with Stopwatch() as watch:
        try:
            conn = connect(target, statement_timeout_ms=statement_timeout_ms, read_only=True)
        except PgConnectError as error:
            return [connect_failure_check(CONNECT_CHECK_ID, target, error, duration_ms=watch.ms)]
    checks = []
    secrets = secrets_of(target)
    with conn:
        # A catalog read waiting behind an ACCESS EXCLUSIVE lock would hold the whole run. If even
        # this fails the connection is unusable, and every concern below says so as unknown.
        try:
            conn.execute("SET lock_timeout = %d" % int(lock_timeout_ms))
        except Exception:
            pass
        context = {"settings": settings, "label": label, "host": host, "cache": {},
                   "server_version": conn.info.server_version}
        for check_id in selected:
            with Stopwatch() as concern_watch:
                try:
                    result = CONCERNS[check_id](conn, context)
                except Exception as exc:  # psycopg.Error: this concern could not be evaluated, the rest goes on
                    message = redact(" ".join(str(exc).split()), secrets) or type(exc).__name__
                    checks.append(unknown_check(
                        check_id, label, "query failed: %s" % message, host=host, duration_ms=concern_watch.ms,
                        remediation="Grant the monitoring role pg_monitor (GRANT pg_monitor TO <role>) and check "
                                    "statement_timeout_ms/lock_timeout_ms against the server's load."))
                    continue
            result["duration_ms"] = round(concern_watch.ms, 1)
            checks.append(result)
    return checks


def health_databases(params):
    """All health checks for the databases of one upkeep_pg_health call (its params as a dict),
    databases probed concurrently. Every parameter is validated before the first connection."""
    targets = fleet_targets(params, "databases", tuple(HEALTH_DEFAULTS))
    selected = _selected(params)
    statement_timeout_ms = params.get("statement_timeout_ms")
    if statement_timeout_ms is None:
        statement_timeout_ms = DEFAULT_STATEMENT_TIMEOUT_MS
    lock_timeout_ms = params.get("lock_timeout_ms")
    if lock_timeout_ms is None:
        lock_timeout_ms = DEFAULT_LOCK_TIMEOUT_MS
    if int(lock_timeout_ms) < 1:
        raise ParameterError("lock_timeout_ms: must be 1 or more, got %r" % lock_timeout_ms)
    max_workers = params.get("max_workers") or DEFAULT_MAX_WORKERS
    if not 1 <= int(max_workers) <= 256:
        raise ParameterError("max_workers: must be 1-256, got %r" % max_workers)
    for target in targets:
        settings_of(target)
        connection_kwargs(target, statement_timeout_ms=statement_timeout_ms, read_only=True)
    per_database = run_concurrently(
        lambda target: health_one(target, selected, statement_timeout_ms, lock_timeout_ms), targets, max_workers)
    return [item for checks in per_database for item in checks]
