# -*- coding: utf-8 -*-
"""upkeep_log_scan's logic: one pass over a host's logs for a window, judged against the guide.

For each configured source (a name, a format and glob patterns matching the current and rotated
files) it reads the last ``window_days`` and the window before (the baseline for new, regressed
and spiking signatures) and returns, in the check contract:
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
from .logs_files import find_files
from .logs_formats import FORMATS
from .logs_parallel import map_in_processes, merge_signatures, merge_stats, plan_tasks, worth_parallel
from .logs_quantile import DEFAULT_RELATIVE_ACCURACY
from .logs_state import classify, load_state, save_state, updated_state, write_json_atomic
from .result import OK, UNKNOWN, WARNING, ParameterError, Stopwatch, check, finding, judge, thresholds, worst


def source_spec():
    """Argument spec of one item of the module's ``sources`` option."""
    return dict(
        name=dict(type="str", required=True),
        format=dict(type="str", required=True, choices=list(FORMATS)),
        paths=dict(type="list", elements="str", required=True),
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
    sources = params.get("sources") or []
    names = set()
    for index, source in enumerate(sources):
        where = "sources[%d]" % index
        if not source.get("name"):
            raise ParameterError("%s.name: required" % where)
        if source["name"] in names:
            raise ParameterError("%s.name: %r is used twice" % (where, source["name"]))
        names.add(source["name"])
        if source.get("format") not in FORMATS:
            raise ParameterError("%s.format: must be one of %s, got %r" % (where, ", ".join(FORMATS), source.get("format")))
        if not source.get("paths"):
            raise ParameterError("%s.paths: at least one glob pattern is needed" % where)
        fields = source.get("fields") or {}
        unknown = sorted(set(fields) - {"timestamp", "level", "message", "status", "duration", "route", "error_type"})
        if unknown:
            raise ParameterError("%s.fields: unknown field role(s) %s" % (where, ", ".join(unknown)))
    if not params.get("window_days", 7) > 0:
        raise ParameterError("window_days: must be greater than 0, got %r" % params.get("window_days"))
    if params.get("top_n", 10) < 1:
        raise ParameterError("top_n: must be at least 1")
    if (params.get("workers") or 1) < 1:
        raise ParameterError("workers: must be at least 1, got %r" % params.get("workers"))
    if params.get("spike_factor", 3.0) <= 1:
        raise ParameterError("spike_factor: must be greater than 1")
    return sources


def _option(source, params, name, default=None):
    value = source.get(name)
    if value is None:
        value = params.get(name)
    return default if value is None else value


def scan_source(source, stats, signatures, window_start, previous_start, now, workers=1):
    """Read every file of ``source`` into ``stats`` and ``signatures``, on ``workers`` processes
    when the files are big enough to gain from it (big plain files are cut into byte ranges)."""
    paths = find_files(source["paths"], previous_start)
    if worth_parallel(paths, workers):
        tasks = plan_tasks(paths, workers, splittable=source["format"] == "combined")
        parts = None if len(tasks) < 2 else map_in_processes(_scan_one_task, [(source, path, byte_range, window_start, previous_start, now)
                                                  for path, byte_range in tasks], workers)
        if parts is not None:
            for part_stats, part_signatures in parts:
                merge_stats(stats, part_stats, UNPARSED_SAMPLES)
                merge_signatures(signatures, part_signatures)
            return
    for path in paths:
        scan_file(source, path, stats, signatures, window_start, previous_start, now)


def _scan_one_task(task):
    """Worker: one file, or one byte range of a file, of a source into fresh counters."""
    source, path, byte_range, window_start, previous_start, now = task
    stats, signatures = SourceStats(source), {}
    scan_file(source, path, stats, signatures, window_start, previous_start, now, byte_range)
    return stats, signatures


def _top(counts, limit):
    return dict(sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))[:limit])


def _pct(part, whole):
    return round(100.0 * part / whole, 3) if whole else 0.0


def _errors_check(stats, params, duration_ms):
    source = stats.source
    name = source["name"]
    readable = [f for f in stats.files if not f.problem or f.lines]
    files = [f.as_dict() for f in stats.files[:20]]
    if not stats.files or not readable:
        reason = "no file matches %s" % ", ".join(source["paths"]) if not stats.files else \
            "no file of %s could be read (%s)" % (name, stats.files[0].problem)
        return check("log.errors", name, UNKNOWN, reason, duration_ms=duration_ms, files=files, findings=[
            finding(WARNING, "No readable log file", name, reason,
                    "Check the source's paths and the permissions of the files for the user the scan runs as.")])
    is_access = source["format"] == "combined"
    warn = _option(source, params, "error_rate_warning_pct", 1.0)
    crit = _option(source, params, "error_rate_critical_pct", 5.0)
    rate = _pct(stats.errors, stats.entries)
    status = judge(rate, warn, crit) if stats.entries else OK
    kind = "5xx responses" if is_access else "error-level entries"
    unit = "requests" if is_access else "entries"
    summary = "%s: %.2f %% %s (%d of %d %s in %g days)" % (name, rate, kind, stats.errors, stats.entries, unit,
                                                          params["window_days"])
    if not stats.entries:
        summary = "%s: no %s in the last %g days" % (name, unit, params["window_days"])
    findings = []
    if status != OK:
        findings.append(finding(status, "Error rate %.2f %% above the %s threshold" % (rate, status), name,
                                "Top categories: %s" % ", ".join("%s=%d" % kv for kv in _top(stats.categories, 5).items()),
                                "Look at the top error signatures (log.signatures) and the deploys of the window."))
    total_lines = stats.entries + stats.previous_entries + stats.outside + stats.unparsed
    if stats.unparsed and stats.unparsed * 2 > total_lines:
        findings.append(finding(WARNING, "Most lines of %s could not be parsed" % name, name,
                                "%d of %d lines unparseable as %s" % (stats.unparsed, total_lines, source["format"]),
                                "Check the source's format (and log_format / log_line_prefix) in the inventory."))
        status = worst([status, WARNING])
    for report in stats.files:
        if report.problem:
            findings.append(finding("info", "File not fully read", report.path, report.problem,
                                    "A truncated or corrupt rotated file loses its remaining lines; rotate with "
                                    "delaycompress so the scan never meets a file being compressed."))
    metrics = {("requests" if is_access else "entries"): stats.entries, "errors": stats.errors,
               "error_rate_pct": rate, "previous_error_rate_pct": _pct(stats.previous_errors, stats.previous_entries),
               "unparsed_lines": stats.unparsed, "files_read": len(readable),
               "files_with_problems": sum(1 for f in stats.files if f.problem)}
    if is_access:
        metrics["status_5xx"] = sum(v for k, v in stats.status_classes.items() if k.startswith("5"))
        metrics["status_4xx"] = stats.status_classes.get("4xx", 0)
    return check("log.errors", name, status, summary, metrics=metrics,
                 thresholds={"error_rate_pct": thresholds(warn, crit)}, findings=findings[:10],
                 duration_ms=duration_ms, categories=_top(stats.categories, 10),
                 severities=_top(stats.levels, 10), status_classes=stats.status_classes, files=files,
                 unparsed_samples=stats.unparsed_samples)


def _latency_check(stats, params):
    source = stats.source
    sketch = stats.latency
    if not sketch.count:
        return None
    warn = _option(source, params, "latency_warning_ms", 500.0)
    crit = _option(source, params, "latency_critical_ms", 3000.0)
    p50, p95, p99 = (round(sketch.quantile(q), 2) for q in (0.5, 0.95, 0.99))
    status = judge(p95, warn, crit)
    scope = "requests under %s" % source["latency_path_prefix"] if source.get("latency_path_prefix") else "requests"
    findings = []
    if status != OK:
        findings.append(finding(status, "p95 latency %.0f ms above the %s threshold" % (p95, status), source["name"],
                                "p50 %.0f ms, p99 %.0f ms over %d %s" % (p50, p99, sketch.count, scope),
                                "Find the slowest routes (slow queries, external calls) and compare with the deploys."))
    return check("log.latency", source["name"], status,
                 "%s: p95 %.0f ms, p50 %.0f ms, p99 %.0f ms (%d %s)" % (source["name"], p95, p50, p99, sketch.count, scope),
                 metrics={"latency_p50_ms": p50, "latency_p95_ms": p95, "latency_p99_ms": p99,
                          "latency_max_ms": round(sketch.max, 2), "latency_samples": sketch.count,
                          "latency_relative_error_pct": 100 * DEFAULT_RELATIVE_ACCURACY},
                 thresholds={"latency_p95_ms": thresholds(warn, crit)}, findings=findings,
                 estimate="log-bucketed sketch: each percentile within %g %% of the exact value by linear "
                          "interpolation between closest ranks (numpy's default)" % (100 * DEFAULT_RELATIVE_ACCURACY))


def _signature_view(entry):
    return {key: entry.get(key) for key in ("source", "template", "count", "baseline", "trend", "category", "level",
                                            "example")}


def _signatures_check(signatures, params, state_note, report_path, duration_ms, problems=()):
    current = sorted((e for e in signatures.values() if e["count"]), key=lambda e: (-e["count"], e["template"]))
    top_n = params["top_n"]
    by_trend = {trend: [e for e in current if e["trend"] == trend] for trend in ("new", "regressed", "spiking")}
    findings = []
    words = {"new": "New error signature", "regressed": "Regressed error signature", "spiking": "Spiking error signature"}
    for trend in ("regressed", "new", "spiking"):
        for entry in by_trend[trend][:top_n]:
            findings.append(finding(WARNING, "%s: %s" % (words[trend], entry["template"][:160]), entry["source"],
                                    "%d in the last %g days (%d in the window before); example: %s"
                                    % (entry["count"], params["window_days"], entry["baseline"], entry["example"]),
                                    "Find the change that introduced it (deploy, dependency, data) and fix or ticket it."))
    for title, path, exc in problems:
        findings.append(finding(WARNING, title, path, exc.strerror or str(exc),
                                "Make the directory writable for the user the scan runs as, or change the path."))
    status = WARNING if findings else OK
    counts = {trend: len(items) for trend, items in by_trend.items()}
    summary = "%d error signatures (%d new, %d regressed, %d spiking)" % (
        len(current), counts["new"], counts["regressed"], counts["spiking"])
    if state_note:
        summary += "; " + state_note
    extra = {"top_signatures": [_signature_view(e) for e in current[:top_n]]}
    if report_path:
        extra["detail_path"] = report_path
    return check("log.signatures", "error signatures", status, summary,
                 metrics={"signatures": len(current), "signatures_new": counts["new"],
                          "signatures_regressed": counts["regressed"], "signatures_spiking": counts["spiking"],
                          "error_events": sum(e["count"] for e in current)},
                 findings=findings, duration_ms=duration_ms, **extra)


def scan_logs(params, check_mode=False, now=None):
    """Scan every source of ``params`` (the module's options); returns (checks, extra result keys)."""
    sources = _validate(params)
    now = time.time() if now is None else now
    window_s = float(params.get("window_days", 7)) * 86400
    window_start, previous_start = now - window_s, now - 2 * window_s
    signatures = {}
    checks = []
    all_stats = []
    with Stopwatch() as total:
        for source in sources:
            stats = SourceStats(source)
            with Stopwatch() as watch:
                scan_source(source, stats, signatures, window_start, previous_start, now, params.get("workers") or 1)
            all_stats.append(stats)
            checks.append(_errors_check(stats, params, watch.ms))
            latency = _latency_check(stats, params)
            if latency:
                checks.append(latency)
        state_path = params.get("state_path")
        known, state_problem = load_state(state_path)
        covered = {s.source["name"]: s.previous_entries > 0 for s in all_stats}
        classify(signatures, known, window_start, previous_start, params.get("spike_factor", 3.0),
                 params.get("spike_min_count", 10), covered)
        notes = [state_problem] if state_problem else []
        state_written = False
        problems = []
        if state_path and not check_mode:
            try:
                save_state(state_path, updated_state(known, signatures, params.get("max_state_signatures", 5000)))
                state_written = True
            except OSError as exc:
                problems.append(("State file not written", state_path, exc))
        elif state_path:
            notes.append("check mode: state file not updated")
        # --check changes nothing anywhere (DESIGN.md): no state, no report file on the host.
        report_path = params.get("report_path") if not check_mode else None
        if params.get("report_path") and check_mode:
            notes.append("check mode: report file not written")
        if report_path:
            try:
                _write_report(report_path, now, window_start, params, all_stats, signatures)
            except OSError as exc:
                problems.append(("Report file not written", report_path, exc))
                report_path = None
    if sources:
        checks.append(_signatures_check(signatures, params, "; ".join(notes), report_path, total.ms, problems))
    extra = {"window": {"start": int(window_start), "end": int(now), "days": params.get("window_days", 7)},
             "state_written": state_written}
    return checks, extra


def _write_report(report_path, now, window_start, params, all_stats, signatures):
    write_json_atomic(report_path, {
        "schema": "upkeep.log_scan_report/1", "generated_at": int(now), "window_start": int(window_start),
        "window_days": params.get("window_days", 7),
        "sources": [{"name": s.source["name"], "format": s.source["format"], "entries": s.entries,
                     "errors": s.errors, "categories": s.categories, "levels": s.levels,
                     "files": [f.as_dict() for f in s.files], "unparsed": s.unparsed} for s in all_stats],
        "signatures": sorted(signatures.values(), key=lambda e: (-e["count"], -e["previous_count"])),
    }, mode=0o640)

