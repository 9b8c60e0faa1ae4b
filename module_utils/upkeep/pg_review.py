# -*- coding: utf-8 -*-
"""upkeep_pg_review: the monthly/quarterly PostgreSQL review (indexes, sizes, bloat, slow queries).

Each database of a call gets one read-only connection (default_transaction_read_only and a
statement_timeout in the startup packet) and a fixed handful of set-based catalog queries: the
work grows with the number of objects, never with a round trip per table. Every check is a
review check: its status is the worst of its findings, each finding carries a stable
``fingerprint`` and may be acknowledged (ack.py).

``run_review()`` is shared with the access review (pg_access.py): the same connection handling,
per-check isolation (one failing query makes that check unknown, the others go on) and
acknowledgement filtering.
"""

from __future__ import annotations

from .pg_review_indexes import duplicate_indexes, seq_scans, unindexed_fks, unused_indexes
from .pg_review_queries import slow_queries
from .pg_review_space import bloat, sizes
from .ack import apply as apply_acknowledgements
from .ack import parse_acknowledgements
from .pg import (DEFAULT_MAX_WORKERS, DEFAULT_STATEMENT_TIMEOUT_MS, PgConnectError, connect, connect_failure_check,
                 connection_kwargs, fleet_targets, redact, run_concurrently, secrets_of, target_label)
from .pg_review_common import Context
from .result import ParameterError, Stopwatch, unknown_check

# Check name (as the ``checks`` option spells it) -> function(conn, ctx) returning a check dict.
REVIEW_CHECKS = {
    "unused_indexes": unused_indexes,
    "duplicate_indexes": duplicate_indexes,
    "unindexed_fks": unindexed_fks,
    "seq_scans": seq_scans,
    "sizes": sizes,
    "bloat": bloat,
    "slow_queries": slow_queries,
}

# Per-database settings and their defaults; an item's own value wins over the top-level one.
REVIEW_DEFAULTS = {
    "top_n": 10,
    "max_findings": 50,
    "min_stats_age_days": 7,
    "fk_min_rows": 1000,
    "seq_scan_min_scans": 100,
    "seq_scan_min_rows": 10000,
    "seq_scan_ratio_pct": 50.0,
    "table_warning_bytes": None,
    "table_critical_bytes": None,
    "bloat_warning_pct": 40.0,
    "bloat_critical_pct": 70.0,
    "bloat_min_bytes": 10 * 1024 * 1024,
    "slow_mean_warning_ms": 100.0,
    "slow_mean_critical_ms": 1000.0,
    "slow_min_calls": 5,
}

CONNECT_CHECK_ID = "pg.review"
# Size functions take a brief ACCESS SHARE lock per relation. Queued behind an ALTER TABLE or
# VACUUM FULL, a review would hold up every query queued behind it: give up on that check instead.
LOCK_TIMEOUT_MS = 2000


def review_item_spec(with_defaults=False):
    """Review settings (argument-spec form): per database without defaults (an unset value comes
    from the top level), at the top level ``with_defaults``."""
    spec = {}
    for name, value in REVIEW_DEFAULTS.items():
        spec[name] = dict(type="float" if isinstance(value, float) else "int")
        if with_defaults and value is not None:
            spec[name]["default"] = value
    spec["checks"] = dict(type="list", elements="str", choices=list(REVIEW_CHECKS))
    return spec


def _settings(target, defaults, where):
    settings = {}
    for name, default in defaults.items():
        value = target.get(name)
        settings[name] = default if value is None else value
        if isinstance(settings[name], (int, float)) and not isinstance(settings[name], bool) and settings[name] < 0:
            raise ParameterError("%s%s: must be 0 or more, got %r" % (where, name, settings[name]))
    return settings


def _selected(target, registry, where):
    chosen = target.get("checks") or list(registry)
    unknown = [name for name in chosen if name not in registry]
    if unknown:
        raise ParameterError("%schecks: unknown check(s) %s; choose from %s"
                             % (where, ", ".join(unknown), ", ".join(registry)))
    return chosen


def _review_one(target, registry, defaults, statement_timeout_ms, connect_check_id):
    label, host = target_label(target), target.get("inventory_host")
    where = target.get("where", "")
    settings = _settings(target, defaults, where)
    names = _selected(target, registry, where)
    with Stopwatch() as connect_watch:
        try:
            conn = connect(target, statement_timeout_ms=statement_timeout_ms, read_only=True)
        except PgConnectError as failure:
            return [connect_failure_check(connect_check_id, target, failure, duration_ms=connect_watch.ms)]
    checks = []
    with conn:
        conn.execute("SET lock_timeout = %d" % LOCK_TIMEOUT_MS)
        ctx = Context(label, host, settings, conn.info.server_version)
        for name in names:
            with Stopwatch() as watch:
                try:
                    item = registry[name](conn, ctx)
                except Exception as exc:  # psycopg.Error: one check could not be evaluated, the rest go on
                    message = redact(" ".join(str(exc).split()), secrets_of(target))
                    item = unknown_check("pg." + name, label, "query failed: %s" % message, host=host)
            item["duration_ms"] = round(watch.ms, 1)
            checks.append(item)
    return checks


def run_review(params, registry, defaults, connect_check_id=CONNECT_CHECK_ID):
    """Checks of ``registry`` for every database of one module call (its params as a dict),
    databases reviewed concurrently, acknowledgements applied. Parameters are validated before
    the first connection, so a bad item fails the call instead of leaving half a fleet reviewed."""
    item_keys = tuple(defaults) + ("checks",)
    targets = fleet_targets(params, "databases", item_keys)
    statement_timeout_ms = params.get("statement_timeout_ms")
    if statement_timeout_ms is None:
        statement_timeout_ms = DEFAULT_STATEMENT_TIMEOUT_MS
    max_workers = params.get("max_workers") or DEFAULT_MAX_WORKERS
    if not 1 <= int(max_workers) <= 256:
        raise ParameterError("max_workers: must be 1-256, got %r" % max_workers)
    acknowledgements = parse_acknowledgements(params.get("acknowledgements"))
    for target in targets:
        _settings(target, defaults, target["where"])
        _selected(target, registry, target["where"])
        connection_kwargs(target, statement_timeout_ms=statement_timeout_ms)
    per_target = run_concurrently(
        lambda target: _review_one(target, registry, defaults, statement_timeout_ms, connect_check_id),
        targets, max_workers)
    checks = [item for group in per_target for item in group]
    return apply_acknowledgements(checks, acknowledgements)


def review_databases(params):
    """The pg.* review checks for the databases of one upkeep_pg_review call."""
    return run_review(params, REVIEW_CHECKS, REVIEW_DEFAULTS)

