# -*- coding: utf-8 -*-
"""Scanning the files of a source on several cores, and merging what the workers counted.

A week of logs is usually several files (the current one and its rotations), and the current
one is often most of the bytes: files are scanned by worker processes (fork: nothing to
re-import on the host), a big plain file as several byte ranges, and the partial counters are
merged in file order, which gives the numbers a serial scan gives (a test holds them to it).
Anything that keeps processes from starting falls back to the serial scan.

Standard library only: shipped to managed hosts.
"""

from __future__ import annotations

import multiprocessing
import os

from .logs_files import file_kind

# Below this many bytes a second process costs more than it saves.
PARALLEL_MIN_BYTES = 32 * 1024 * 1024


# A plain file bigger than this is cut into byte ranges of about this size, so one big file
# (the usual access.log) keeps every worker busy and a slow range cannot hold up the others.
RANGE_BYTES = 64 * 1024 * 1024


def _size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def worth_parallel(paths, workers):
    if workers < 2 or (os.cpu_count() or 1) < 2:
        return False
    return sum(_size(path) for path in paths) >= PARALLEL_MIN_BYTES


def plan_tasks(paths, workers, splittable):
    """``(path, byte_range or None)`` in file order: with ``splittable`` (a format whose lines can
    be counted wherever the file is cut), a big plain file as consecutive ranges of about
    RANGE_BYTES (at least one per worker); anything else (gzip, binary, small, csvlog) whole."""
    tasks = []
    for path in paths:
        size = _size(path)
        if not splittable or size < PARALLEL_MIN_BYTES or file_kind(path) != "plain":
            tasks.append((path, None))
            continue
        count = max(workers, -(-size // RANGE_BYTES))
        bounds = [size * index // count for index in range(count + 1)]
        tasks.extend((path, (bounds[index], bounds[index + 1])) for index in range(count))
    return tasks


def map_in_processes(function, tasks, workers):
    """``[function(task) for task in tasks]`` on up to ``workers`` forked processes, in order, or
    None when processes cannot be used here."""
    try:
        context = multiprocessing.get_context("fork")
        with context.Pool(processes=min(workers, len(tasks))) as pool:
            return pool.map(function, tasks, chunksize=1)
    except (OSError, ValueError, ImportError):
        return None


def merge_stats(into, part, sample_limit):
    """Add a worker's SourceStats into ``into`` (same source)."""
    for name in ("entries", "errors", "unparsed", "outside", "previous_entries", "previous_errors"):
        setattr(into, name, getattr(into, name) + getattr(part, name))
    for name in ("levels", "categories", "status_classes"):
        counts = getattr(into, name)
        for key, value in getattr(part, name).items():
            counts[key] = counts.get(key, 0) + value
    # A byte range counts its lines from 1: its samples are numbered on from the ranges before it.
    first = part.files[0] if part.files else None
    before = into.files[-1].lines if first and into.files and into.files[-1].path == first.path else 0
    samples = [dict(sample, line=sample["line"] + before) if before and sample["path"] == first.path else sample
               for sample in part.unparsed_samples]
    into.unparsed_samples.extend(samples[:max(0, sample_limit - len(into.unparsed_samples))])
    for report in part.files:
        mine = into.files[-1] if into.files else None
        if mine is not None and mine.path == report.path:  # the next range of the same file
            mine.lines += report.lines
            mine.oversized += report.oversized
            mine.problem = mine.problem or report.problem
            mine.years |= report.years
        else:
            into.files.append(report)
    into.latency.merge(part.latency)
    into.review.merge(part.review)


def merge_signatures(into, part):
    """Add a worker's signatures into ``into``; the example stays the first current one in file order."""
    for key, entry in part.items():
        mine = into.get(key)
        if mine is None:
            into[key] = entry
            continue
        if not mine["count"] and entry["count"]:
            mine["example"] = entry["example"]
        mine["count"] += entry["count"]
        mine["previous_count"] += entry["previous_count"]
        mine["first_seen"] = min(mine["first_seen"], entry["first_seen"])
        mine["last_seen"] = max(mine["last_seen"], entry["last_seen"])
