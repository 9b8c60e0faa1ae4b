# -*- coding: utf-8 -*-
"""Counting one source's log entries into its counters and the scan's error signatures.

A file is read block by block: access logs a block at a time where logs_combined_fast can vouch
for every line, otherwise (and for every other format) each parsed entry goes through
``_consume``, which the block path must match figure for figure.

Standard library only: shipped to managed hosts.
"""

from __future__ import annotations

from collections import Counter

from .logs_combined_fast import CURRENT, OUTSIDE, BlockCounter
from .logs_files import FileReport, read_blocks, read_lines, split_lines
from .logs_formats import CONTINUATION, ERROR_LEVELS, TIME_UNITS, parse_combined
from .logs_parsers import parser_for
from .logs_quantile import QuantileSketch
from .logs_review import Review
from .logs_signatures import cached_template_of, example_of, signature_key
from .logs_window import mtime_of

UNPARSED_SAMPLES = 5
MAX_SIGNATURES_PER_SCAN = 10000
OVERFLOW_TEMPLATE = "<other signatures beyond the per-scan limit>"


class SourceStats(object):
    """Counters of one source over the current window (and errors of the previous one)."""

    def __init__(self, source):
        self.source = source
        self.entries = self.errors = self.unparsed = self.outside = 0
        self.previous_entries = self.previous_errors = 0
        self.levels = {}
        self.categories = {}
        self.status_classes = {}
        self.unparsed_samples = []
        self.files = []
        self.skipped = []  # files whose content is outside both windows (logs_window.select_files)
        self.matched = 0   # files matching the source's patterns, read or skipped
        self.latency = QuantileSketch()
        self.review = Review()


def _add_signature(signatures, source_name, record, ts, current, count=1, last_ts=None):
    """Count ``record`` (an error) under its signature; ``ts`` is its time (the scan's "now" when it
    has none). ``count`` > 1 counts that many records of the same message, seen from ``ts`` to
    ``last_ts``."""
    message = record[4] or record[5] or ""
    if record[1] is not None:  # an access log line: the status is part of the signature, not a variable
        message = "%d %s" % (record[1], message)
        template = "%d %s" % (record[1], cached_template_of(record[4] or ""))
    else:
        template = cached_template_of(message)
    key = signature_key(source_name, template)
    entry = signatures.get(key)
    if entry is None:
        if len(signatures) >= MAX_SIGNATURES_PER_SCAN:
            key, template = signature_key(source_name, OVERFLOW_TEMPLATE), OVERFLOW_TEMPLATE
            entry = signatures.get(key)
        if entry is None:
            entry = signatures[key] = {
                "key": key, "source": source_name, "template": template, "count": 0, "previous_count": 0,
                "category": record[5], "level": record[3], "example": example_of(message),
                "first_seen": ts, "last_seen": ts}
    if current:
        entry["count"] += count
        entry["example"] = entry["example"] if entry["count"] > count else example_of(message)
    else:
        entry["previous_count"] += count
    entry["first_seen"] = min(entry["first_seen"], ts)
    entry["last_seen"] = max(entry["last_seen"], ts if last_ts is None else last_ts)


def _remember_last(lines, last):
    """Pass ``lines`` through, keeping the latest in ``last[0]`` (for the samples of unparsed lines)."""
    for line in lines:
        last[0] = line
        yield line


def scan_file(source, path, stats, signatures, window, byte_range=None):
    report = FileReport(path)
    stats.files.append(report)
    if source["format"] == "combined":
        _scan_access_log(source, path, report, stats, signatures, window, byte_range)
        return
    last = [""]
    reference = mtime_of(path) or window.end
    lines = _remember_last(read_lines(path, report, byte_range), last)
    _consume(parser_for(source, reference, report.years)(lines), source, stats, signatures, path, report, last, window)


def _scan_access_log(source, path, report, stats, signatures, window, byte_range):
    """Access-log lines are independent of each other: each block is counted whole when it can be
    (logs_combined_fast), else line by line, with the same figures either way."""
    counter = BlockCounter(source, window.start, window.baseline_start, window.bound)
    unit = source.get("request_time_unit") or "s"
    durations = Counter()  # request-time text -> count: few distinct values, added to the sketch once
    def decoded(lines):
        return list(parse_combined((line.decode("utf-8", "replace") for line in lines), unit))

    for block in read_blocks(path, report, byte_range):
        tally = counter.count(block)
        if tally is not None:
            errors, odd = decoded(tally.error_lines), decoded(tally.odd_lines)
            # The odd requests (a scanner's) go through _consume as the line parser reads them;
            # that they come after the block's other lines changes nothing as long as none is an
            # error (whose first example is kept) or unparseable (whose line number is shown).
            if all(record is not None and record[0] is not None for record in errors) and \
                    all(record is not None and record[3] not in ERROR_LEVELS for record in odd):
                _add_tally(tally, errors, source, stats, signatures, report)
                durations.update(tally.durations)
                report.lines += len(odd)
                _consume(iter(odd), source, stats, signatures, path, report, [""], window)
                continue
        last = [""]
        _consume(parse_combined(_remember_last(split_lines(block, report), last), unit), source, stats, signatures,
                 path, report, last, window)
    scale = TIME_UNITS[unit]
    for text, count in durations.items():
        stats.latency.add(float(text) * scale, count)


def _add_tally(tally, errors, source, stats, signatures, report):
    """Add a block counted whole (its 5xx lines parsed in ``errors``) as _consume would have."""
    report.lines += tally.lines
    if tally.region == OUTSIDE:
        stats.outside += tally.lines
        return
    current = tally.region == CURRENT
    # The 5xx lines of a block repeat a few messages: one signature update per message, in the
    # order of their first line (which keeps the first example), with its count and time span.
    groups = {}
    for record in errors:
        group = groups.get((record[1], record[4]))
        if group is None:
            groups[(record[1], record[4])] = [record, 1, record[0], record[0]]
        else:
            group[1] += 1
            group[2] = min(group[2], record[0])
            group[3] = max(group[3], record[0])
    for record, count, first, last in groups.values():
        _add_signature(signatures, source["name"], record, first, current, count, last)
    if not current:
        stats.previous_entries += tally.lines
        stats.previous_errors += len(errors)
        return
    stats.entries += tally.lines
    for code, count in tally.codes.items():
        klass = "%sxx" % code[:1].decode("ascii")
        stats.status_classes[klass] = stats.status_classes.get(klass, 0) + count
        level = "error" if klass == "5xx" else "warning" if klass == "4xx" else "info"
        stats.levels[level] = stats.levels.get(level, 0) + count
    stats.review.add_tally(tally, errors)
    if errors:
        stats.errors += len(errors)
        stats.categories["5xx"] = stats.categories.get("5xx", 0) + len(errors)


def _consume(items, source, stats, signatures, path, report, last, window):
    """Count parsed items (records, None for unparseable lines, CONTINUATION) line by line."""
    api_prefix = source.get("latency_path_prefix")
    window_start, previous_start, bound, now = window.start, window.baseline_start, window.bound, window.end
    for item in items:
        if item is None:
            stats.unparsed += 1
            if len(stats.unparsed_samples) < UNPARSED_SAMPLES:
                stats.unparsed_samples.append({"path": path, "line": report.lines,
                                               "text": example_of(last[0])[:200]})
            continue
        if item is CONTINUATION:
            continue
        ts, status, duration, level = item[0], item[1], item[2], item[3]
        stamp = now if ts is None else ts
        if stamp < window_start or (bound is not None and stamp > bound):
            if previous_start <= stamp < window_start:
                stats.previous_entries += 1
                if level in ERROR_LEVELS:
                    stats.previous_errors += 1
                    _add_signature(signatures, source["name"], item, stamp, False)
            else:
                stats.outside += 1
            continue
        stats.entries += 1
        stats.levels[level] = stats.levels.get(level, 0) + 1
        if status is not None:
            klass = "%dxx" % (status // 100)
            stats.status_classes[klass] = stats.status_classes.get(klass, 0) + 1
            stats.review.add(stamp, status, item[6], item[7], item[8])
        if duration is not None and (not api_prefix or (item[6] or "").startswith(api_prefix)):
            stats.latency.add(duration)
        if level in ERROR_LEVELS:
            stats.errors += 1
            category = item[5] or "level:%s" % level
            stats.categories[category] = stats.categories.get(category, 0) + 1
            _add_signature(signatures, source["name"], item, stamp, True)
