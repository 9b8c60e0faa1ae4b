# -*- coding: utf-8 -*-
"""Scanning the files of a source on several cores, and merging what the workers counted.

A week of logs is usually several files (the current one and its rotations); each is scanned by
its own process (fork: nothing to re-import on the host) and the partial counters are merged in
file order, which gives the numbers a serial scan gives (a test holds them to it). Anything
that keeps processes from starting falls back to the serial scan.

Standard library only: shipped to managed hosts.
"""

from __future__ import annotations

import multiprocessing
import os

# Below this many bytes a second process costs more than it saves.
PARALLEL_MIN_BYTES = 32 * 1024 * 1024


def worth_parallel(paths, workers):
    if workers < 2 or len(paths) < 2 or (os.cpu_count() or 1) < 2:
        return False
    total = 0
    for path in paths:
        try:
            total += os.path.getsize(path)
        except OSError:
            pass
    return total >= PARALLEL_MIN_BYTES


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
    into.unparsed_samples.extend(part.unparsed_samples[:max(0, sample_limit - len(into.unparsed_samples))])
    into.files.extend(part.files)
    into.latency.merge(part.latency)


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
