# -*- coding: utf-8 -*-
"""upkeep_log_scan's verdicts: the log.errors, log.latency and log.signatures checks of a scan.

Each check says ok only about lines it read in the window: a source whose files hold no line
of the window, whose lines no format reads, or that could not be read at all is ``unknown``
with what was found instead (how many lines, the newest one's time, samples of what did not
parse).

Standard library only: shipped to managed hosts.
"""

from __future__ import annotations

from .logs_quantile import DEFAULT_RELATIVE_ACCURACY
from .logs_review import access_review, is_request_log
from .logs_window import file_edges, stamp
from .result import OK, UNKNOWN, WARNING, check, finding, judge, thresholds, worst

# More unparsed lines than this share of a source's lines is worth a finding: a few are normal
# (a truncated last line, a stray stack trace), more means the format is not the one configured.
UNPARSED_WARNING_PCT = 5.0


def top(counts, limit):
    return dict(sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))[:limit])


def pct(part, whole):
    return round(100.0 * part / whole, 3) if whole else 0.0


def option(source, params, name, default=None):
    value = source.get(name)
    if value is None:
        value = params.get(name)
    return default if value is None else value


def _newest_read(stats, times_of):
    """The newest stamped line among the files read and skipped, from the end of each file."""
    newest = [item["newest_line_epoch"] for item in stats.skipped if "newest_line_epoch" in item]
    for report in stats.files:
        try:
            newest.extend(ts for ts in times_of(report.path, file_edges(report.path)[1]) if ts is not None)
        except OSError:
            continue
    return max(newest) if newest else None


def _unread(name, title, reason, files, duration_ms, remediation, **extra):
    """An unknown log.errors: what was found instead of lines of the window, and what to do."""
    return check("log.errors", name, UNKNOWN, "%s: %s" % (name, reason), duration_ms=duration_ms, files=files,
                 findings=[finding(WARNING, title, name, reason, remediation)], **extra)


def errors_check(stats, params, window, duration_ms, times_of):
    """log.errors of one source."""
    source = stats.source
    name = source["name"]
    readable = [f for f in stats.files if not f.problem or f.lines]
    files = [f.as_dict() for f in stats.files[:20]] + stats.skipped[:20]
    fmt = source["format"]
    detected = {"format": fmt, "format_detected": True} if source.get("detected") else {"format": fmt}
    parsed = stats.entries + stats.previous_entries + stats.outside
    if not stats.matched:
        return _unread(name, "No log file", "no file matches %s" % ", ".join(source["paths"]), files,
                       duration_ms, "Check the source's paths in the inventory.")
    if stats.files and not readable:
        return _unread(name, "No readable log file", "no file could be read (%s)" % stats.files[0].problem, files,
                       duration_ms, "Check the permissions of the files for the user the scan runs as.")
    if readable and not parsed and stats.unparsed:
        return _unread(name, "Format not recognised",
                       "format not recognised: none of the %d lines reads as %s" % (stats.unparsed, fmt), files,
                       duration_ms, "Set the source's format, or describe the log with format: custom and a pattern.",
                       unparsed_samples=stats.unparsed_samples, **detected)
    if not stats.entries and (parsed or stats.skipped):
        newest = _newest_read(stats, times_of)
        reason = "no entries in the window %s: the files hold %d entries outside it (%d in the baseline)%s, " \
                 "the newest line at %s" % (window.describe(), parsed, stats.previous_entries,
                                            " and %d files with none of either window" % len(stats.skipped)
                                            if stats.skipped else "", stamp(newest))
        return _unread(name, "No entries in the window", reason, files, duration_ms,
                       "Review the period the log covers with window_end (and window_days), or check that the "
                       "application still writes to this file.", newest_line_at=stamp(newest), **detected)
    request_log = is_request_log(stats)
    warn = option(source, params, "error_rate_warning_pct", 1.0)
    crit = option(source, params, "error_rate_critical_pct", 5.0)
    rate = pct(stats.errors, stats.entries)
    status = judge(rate, warn, crit) if stats.entries else OK
    kind = "5xx responses" if request_log else "error-level entries"
    unit = "requests" if request_log else "entries"
    summary = "%s: %.2f %% %s (%d of %d %s in %g days to %s)" % (name, rate, kind, stats.errors, stats.entries, unit,
                                                                window.days, stamp(window.end))
    if not stats.entries:
        summary = "%s: no %s, the files are empty" % (name, unit)
    if source.get("detected"):
        summary += " (format detected: %s)" % fmt
    findings = []
    if status != OK:
        findings.append(finding(status, "Error rate %.2f %% above the %s threshold" % (rate, status), name,
                                "Top categories: %s" % ", ".join("%s=%d" % kv for kv in top(stats.categories, 5).items()),
                                "Look at the top error signatures (log.signatures) and the deploys of the window."))
    total_lines = parsed + stats.unparsed
    if stats.unparsed and 100.0 * stats.unparsed / total_lines > UNPARSED_WARNING_PCT:
        where = ", ".join("%s:%d" % (s["path"].rsplit("/", 1)[-1], s["line"]) for s in stats.unparsed_samples)
        findings.append(finding(WARNING, "%.1f %% of the lines of %s do not parse as %s"
                                % (100.0 * stats.unparsed / total_lines, name, fmt), name,
                                "%d of %d lines unparsed; samples at %s" % (stats.unparsed, total_lines, where),
                                "Check the source's format (and log_format / log_line_prefix), or describe the "
                                "other lines with format: custom."))
        status = worst([status, WARNING])
    for report in stats.files:
        if report.problem:
            findings.append(finding("info", "File not fully read", report.path, report.problem,
                                    "A truncated or corrupt rotated file loses its remaining lines; rotate with "
                                    "delaycompress so the scan never meets a file being compressed."))
    metrics = {unit: stats.entries, "errors": stats.errors, "error_rate_pct": rate,
               "previous_error_rate_pct": pct(stats.previous_errors, stats.previous_entries),
               "baseline_entries": stats.previous_entries, "baseline_errors": stats.previous_errors,
               "unparsed_lines": stats.unparsed, "unparsed_pct": pct(stats.unparsed, total_lines),
               "files_read": len(readable), "files_skipped": len(stats.skipped),
               "files_with_problems": sum(1 for f in stats.files if f.problem)}
    extra = {}
    if request_log:
        metrics["status_5xx"] = sum(v for k, v in stats.status_classes.items() if k.startswith("5"))
        metrics["status_4xx"] = stats.status_classes.get("4xx", 0)
        review_metrics, extra = access_review(stats, params.get("top_n", 10))
        metrics.update(review_metrics)
    return check("log.errors", name, status, summary, metrics=metrics,
                 thresholds={"error_rate_pct": thresholds(warn, crit)}, findings=findings[:10],
                 duration_ms=duration_ms, categories=top(stats.categories, 10),
                 severities=top(stats.levels, 10), status_classes=stats.status_classes, files=files,
                 unparsed_samples=stats.unparsed_samples, **dict(detected, **extra))


def latency_check(stats, params):
    """log.latency of one source: None for a source whose entries are not requests; ``unknown``
    for requests logged without a response time, said in so many words."""
    source = stats.source
    sketch = stats.latency
    if not sketch.count:
        if not stats.entries or not is_request_log(stats):
            return None
        prefix = source.get("latency_path_prefix")
        what = "no response times for requests under %s in this log" % prefix if prefix else \
            "no response times in this log"
        return check("log.latency", source["name"], UNKNOWN, "%s: %s (%d requests read)" % (source["name"], what,
                                                                                            stats.entries),
                     metrics={"latency_samples": 0},
                     findings=[finding("info", what[:1].upper() + what[1:], source["name"],
                                       "No request in the window under %s has a request time, so latency cannot "
                                       "be judged." % prefix if prefix else "The log format has no request-time "
                                       "field, so latency cannot be judged.",
                                       "Log the request time: nginx $request_time at the end of log_format, "
                                       "Apache %D; or a duration group in a custom format; or check "
                                       "latency_path_prefix.")])
    warn = option(source, params, "latency_warning_ms", 500.0)
    crit = option(source, params, "latency_critical_ms", 3000.0)
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


def signatures_check(signatures, params, window, notes, report_path, duration_ms, problems=(), unread=()):
    """log.signatures of the host. ``unread`` names the sources whose window was not read: the
    signatures then cover only the others, and the check cannot be ok."""
    current = sorted((e for e in signatures.values() if e["count"]), key=lambda e: (-e["count"], e["template"]))
    top_n = params["top_n"]
    by_trend = {trend: [e for e in current if e["trend"] == trend] for trend in ("new", "regressed", "spiking",
                                                                                 "baseline")}
    findings = []
    words = {"new": "New error signature", "regressed": "Regressed error signature", "spiking": "Spiking error signature"}
    for trend in ("regressed", "new", "spiking"):
        for entry in by_trend[trend][:top_n]:
            findings.append(finding(WARNING, "%s: %s" % (words[trend], entry["template"][:160]), entry["source"],
                                    "%d in the %g days to %s (%d in the %g days before); example: %s"
                                    % (entry["count"], window.days, stamp(window.end), entry["baseline"],
                                       window.baseline_days, entry["example"]),
                                    "Find the change that introduced it (deploy, dependency, data) and fix or ticket it."))
    for title, path, exc in problems:
        findings.append(finding(WARNING, title, path, exc.strerror or str(exc),
                                "Make the directory writable for the user the scan runs as, or change the path."))
    status = WARNING if findings else OK
    counts = {trend: len(items) for trend, items in by_trend.items()}
    summary = "%d error signatures (%d new, %d regressed, %d spiking)" % (
        len(current), counts["new"], counts["regressed"], counts["spiking"])
    notes = list(notes)
    if unread:
        status = UNKNOWN
        notes.insert(0, "not read in the window: %s (see their log.errors)" % ", ".join(unread))
    summary = "; ".join([summary] + notes)
    extra = {"top_signatures": [_signature_view(e) for e in current[:top_n]]}
    if report_path:
        extra["detail_path"] = report_path
    return check("log.signatures", "error signatures", status, summary,
                 metrics={"signatures": len(current), "signatures_new": counts["new"],
                          "signatures_regressed": counts["regressed"], "signatures_spiking": counts["spiking"],
                          "signatures_baseline": counts["baseline"],
                          "error_events": sum(e["count"] for e in current)},
                 findings=findings, duration_ms=duration_ms, **extra)
