# -*- coding: utf-8 -*-
"""upkeep_log_scan's logic: one pass over a host's logs for a window, judged against the guide.

For each configured source (a name, a format and glob patterns matching the current and rotated
files) it reads the ``window_days`` ending at ``window_end`` (default now) and the
``baseline_days`` before (the baseline for new, regressed and spiking signatures; logs_window)
and returns, in the check contract (logs_checks):
- ``log.errors`` per source: entries (requests), error rate (5xx share for access logs, the share
  of error-level entries otherwise), errors by category and severity, unparseable lines;
- ``log.latency`` per source that logs a duration: p50/p95/p99 from a streaming sketch with a
  stated relative error (logs_quantile);
- ``log.signatures`` for the host: the top error signatures and the new, regressed and spiking
  ones, the full list written to ``report_path``.

Standard library only: shipped to managed hosts.
"""

from __future__ import annotations

import time

from .logs_count import UNPARSED_SAMPLES, SourceStats, scan_file
from .logs_formats import CONTINUATION, FORMATS
from .logs_parsers import check_source_format, parser_for, resolve_format
from .logs_parallel import map_in_processes, merge_signatures, merge_stats, plan_tasks, worth_parallel
from .logs_checks import errors_check, latency_check, signatures_check
from .logs_state import (baseline_covered, baseline_notes, classify, load_state, save_state, updated_sources,
                         updated_state, write_json_atomic)
from .logs_window import matching_files, mtime_of, select_files, window_from
from .result import UNKNOWN, ParameterError, Stopwatch


def source_spec():
    """Argument spec of one item of the module's ``sources`` option."""
    return dict(
        name=dict(type="str", required=True),
        format=dict(type="str", required=True, choices=list(FORMATS)),
        paths=dict(type="list", elements="str", required=True),
        pattern=dict(type="str"),
        time_format=dict(type="str"),
        fields=dict(type="dict"),
        request_time_unit=dict(type="str", choices=["s", "ms", "us"], default="s"),
        duration_unit=dict(type="str", choices=["s", "ms", "us"], default="ms"),
        latency_path_prefix=dict(type="str"),
        error_rate_warning_pct=dict(type="float"),
        error_rate_critical_pct=dict(type="float"),
        latency_warning_ms=dict(type="float"),
        latency_critical_ms=dict(type="float"),
    )


def _validate(params):
    checked = []
    names = set()
    for index, source in enumerate(params.get("sources") or []):
        where = "sources[%d]" % index
        if not source.get("name"):
            raise ParameterError("%s.name: required" % where)
        if source["name"] in names:
            raise ParameterError("%s.name: %r is used twice" % (where, source["name"]))
        names.add(source["name"])
        if not source.get("paths"):
            raise ParameterError("%s.paths: at least one glob pattern is needed" % where)
        fields = source.get("fields") or {}
        unknown = sorted(set(fields) - {"timestamp", "level", "message", "status", "duration", "route", "error_type"})
        if unknown:
            raise ParameterError("%s.fields: unknown field role(s) %s" % (where, ", ".join(unknown)))
        checked.append(check_source_format(source, where))
    if params.get("top_n", 10) < 1:
        raise ParameterError("top_n: must be at least 1")
    if (params.get("workers") or 1) < 1:
        raise ParameterError("workers: must be at least 1, got %r" % params.get("workers"))
    if params.get("spike_factor", 3.0) <= 1:
        raise ParameterError("spike_factor: must be greater than 1")
    return checked


# A csvlog field may hold newlines: a byte range could start inside one. Every other format can
# be cut at any newline: a line continuing an entry is skipped in counting (CONTINUATION), so a
# range that starts with one counts what the whole file counts.
UNSPLITTABLE_FORMATS = ("postgres_csv",)


def line_times(source):
    """``times_of(path, lines)`` for logs_window.select_files: the stamps of lines of a source's file."""
    def times_of(path, lines):
        parse = parser_for(source, mtime_of(path))
        return [item[0] for item in parse(iter(lines)) if item is not None and item is not CONTINUATION]
    return times_of


def scan_source(source, stats, signatures, window, workers=1):
    """Read every file of ``source`` into ``stats`` and ``signatures``, on ``workers`` processes
    when the files are big enough to gain from it (big plain files are cut into byte ranges)."""
    matched = matching_files(source["paths"])
    stats.matched = len(matched)
    source = stats.source = resolve_format(source, matched, lambda path: mtime_of(path) or window.end)
    paths, stats.skipped = select_files(matched, line_times(source), window)
    if worth_parallel(paths, workers):
        tasks = plan_tasks(paths, workers, splittable=source["format"] not in UNSPLITTABLE_FORMATS)
        parts = None if len(tasks) < 2 else map_in_processes(_scan_one_task, [(source, path, byte_range, window)
                                                  for path, byte_range in tasks], workers)
        if parts is not None:
            for part_stats, part_signatures in parts:
                merge_stats(stats, part_stats, UNPARSED_SAMPLES)
                merge_signatures(signatures, part_signatures)
            return
    for path in paths:
        scan_file(source, path, stats, signatures, window)


def _scan_one_task(task):
    """Worker: one file, or one byte range of a file, of a source into fresh counters."""
    source, path, byte_range, window = task
    stats, signatures = SourceStats(source), {}
    scan_file(source, path, stats, signatures, window, byte_range)
    return stats, signatures


def scan_logs(params, check_mode=False, now=None):
    """Scan every source of ``params`` (the module's options); returns (checks, extra result keys)."""
    sources = _validate(params)
    window = window_from(params, now)
    signatures = {}
    checks = []
    all_stats = []
    unread = []
    with Stopwatch() as total:
        for source in sources:
            stats = SourceStats(source)
            with Stopwatch() as watch:
                scan_source(source, stats, signatures, window, params.get("workers") or 1)
            all_stats.append(stats)
            errors = errors_check(stats, params, window, watch.ms, line_times(stats.source))
            checks.append(errors)
            if errors["status"] == UNKNOWN:
                unread.append(source["name"])
            latency = latency_check(stats, params)
            if latency:
                checks.append(latency)
        state_path = params.get("state_path")
        known, scanned, state_problem = load_state(state_path)
        classify(signatures, known, window.start, window.baseline_start, params.get("spike_factor", 3.0),
                 params.get("spike_min_count", 10), baseline_covered(all_stats, scanned, window))
        notes = [state_problem] if state_problem else []
        state_written = False
        problems = []
        if state_path and not check_mode:
            try:
                save_state(state_path, updated_state(known, signatures, params.get("max_state_signatures", 5000)),
                           updated_sources(scanned, all_stats, window))
                state_written = True
            except OSError as exc:
                problems.append(("State file not written", state_path, exc))
        elif state_path:
            notes.append("check mode: state file not updated")
        notes.extend(baseline_notes(signatures, state_written))
        # --check changes nothing anywhere (DESIGN.md): no state, no report file on the host.
        report_path = params.get("report_path") if not check_mode else None
        if params.get("report_path") and check_mode:
            notes.append("check mode: report file not written")
        if report_path:
            try:
                _write_report(report_path, window, all_stats, signatures)
            except OSError as exc:
                problems.append(("Report file not written", report_path, exc))
                report_path = None
    if sources:
        checks.append(signatures_check(signatures, params, window, notes, report_path, total.ms, problems, unread))
    return checks, {"window": window.as_dict(), "state_written": state_written}


def _write_report(report_path, window, all_stats, signatures):
    write_json_atomic(report_path, {
        "schema": "upkeep.log_scan_report/1", "generated_at": int(time.time()), "window": window.as_dict(),
        "window_start": int(window.start), "window_days": window.days,
        "sources": [{"name": s.source["name"], "format": s.source["format"], "entries": s.entries,
                     "errors": s.errors, "categories": s.categories, "levels": s.levels,
                     "files": [f.as_dict() for f in s.files] + s.skipped, "unparsed": s.unparsed}
                    for s in all_stats],
        "signatures": sorted(signatures.values(), key=lambda e: (-e["count"], -e["previous_count"])),
    }, mode=0o640)
