# -*- coding: utf-8 -*-
"""The review window of both log modules, and which files it reads, decided from their content.

upkeep_log_scan and upkeep_auth_audit review ``window_days`` ending at ``window_end`` (default:
now) against a baseline of ``baseline_days`` before it. A file is skipped only when its content
says it cannot hold a line of either window: its newest line (read from the end) is older than
the baseline, or, with an explicit ``window_end``, its oldest line is after the window. A file's
modification time is not a cut-off: a log copied with ``cp -p``, unpacked from an archive or
touched keeps a time that says nothing reliable about its lines. It only anchors the year of
year-less stamps (logs_formats.bsd_syslog_time). When the lines at the edge carry no time the
file is read whole: a skip is always for a reason that is true.

Standard library only: shipped to managed hosts.
"""

from __future__ import annotations

import glob
import math
import os
import time
import zlib

from .logs_formats import parse_iso
from .result import ParameterError

# How much of each end of a file is looked at for its oldest and newest stamped line: a few
# hundred lines of any real log, and more than one stack trace.
EDGE_BYTES = 64 * 1024
_CHUNK = 1 << 20


class Window(object):
    """The reviewed window [start, end] and the baseline [baseline_start, start) in epoch seconds.

    ``bound`` is the end as a limit: None when the window ends now, so a line a clock ahead of
    this host's still counts, and ``end`` otherwise (later lines are outside). ``end`` is also the
    time of entries that carry none.
    """

    __slots__ = ("end", "start", "baseline_start", "bound", "days", "baseline_days", "explicit_end")

    def __init__(self, end, days, baseline_days, explicit_end=False):
        self.end = float(end)
        self.days = days
        self.baseline_days = baseline_days
        self.start = self.end - float(days) * 86400
        self.baseline_start = self.start - float(baseline_days) * 86400
        self.explicit_end = explicit_end
        self.bound = self.end if explicit_end else None

    def as_dict(self):
        result = {"start": int(self.start), "end": int(self.end), "days": self.days,
                  "baseline_start": int(self.baseline_start), "baseline_days": self.baseline_days}
        if self.explicit_end:
            result["end_given"] = True
        return result

    def describe(self):
        return "%s to %s" % (stamp(self.start), stamp(self.end))


def stamp(epoch):
    """An epoch as people read it in a summary (UTC, to the second)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch)) if epoch is not None else "?"


def parse_window_end(value):
    """Epoch seconds of the ``window_end`` option: ISO 8601 (a date alone is its midnight UTC,
    a time without zone is UTC) or epoch seconds; None when not given."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        number = None
    if number is not None:
        if not math.isfinite(number):
            raise ParameterError("window_end: %r is not a time" % (value,))
        return number
    if len(text) == 10 and text[4:5] == "-" and text[7:8] == "-":
        text += "T00:00:00"
    parsed = parse_iso(text)
    if parsed is None:
        raise ParameterError("window_end: %r is not an ISO 8601 time (2026-11-28T12:00:00Z, 2026-11-28) or "
                             "epoch seconds" % (value,))
    return parsed


def window_from(params, now=None):
    """The Window of a module's ``window_end``, ``window_days`` and ``baseline_days`` options."""
    days = params.get("window_days", 7)
    if days is None or not days > 0:
        raise ParameterError("window_days: must be greater than 0, got %r" % (days,))
    baseline = params.get("baseline_days")
    baseline = days if baseline is None else baseline
    if not baseline > 0:
        raise ParameterError("baseline_days: must be greater than 0, got %r" % (baseline,))
    end = parse_window_end(params.get("window_end"))
    if end is None:
        return Window(time.time() if now is None else now, days, baseline)
    return Window(end, days, baseline, explicit_end=True)


# -- the ends of a file ---------------------------------------------------------------------------

def _gzip_edges(path, size):
    """(head, tail) bytes of a gzip file's content: a compressed stream has no end to seek to,
    so it is decompressed (zlib, about ten times faster than parsing the lines) keeping the last
    EDGE_BYTES. A corrupt or truncated stream gives what came before the fault."""
    head, tail = b"", b""
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    with open(path, "rb") as handle:
        while True:
            raw = handle.read(_CHUNK)
            if not raw:
                break
            while raw:
                try:
                    data = decompressor.decompress(raw)
                except zlib.error:
                    return head, tail
                if len(head) < size:
                    head += data[:size - len(head)]
                tail = (tail + data)[-size:]
                raw = b""
                if decompressor.eof:
                    raw = decompressor.unused_data
                    if raw[:2] != b"\x1f\x8b":
                        return head, tail
                    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    return head, tail


def file_edges(path, size=EDGE_BYTES):
    """(first lines, last lines) of a plain or gzip file, as text; lines cut by the edge dropped."""
    with open(path, "rb") as handle:
        magic = handle.read(2)
        if magic == b"\x1f\x8b":
            head, tail = _gzip_edges(path, size)
            whole = len(head) < size
        else:
            handle.seek(0)
            head = handle.read(size)
            handle.seek(0, os.SEEK_END)
            length = handle.tell()
            whole = length <= size
            handle.seek(max(0, length - size))
            tail = handle.read(size)
    if b"\x00" in head[:8192]:
        return [], []
    head_lines = head.split(b"\n")
    tail_lines = tail.split(b"\n")
    if not whole:
        head_lines, tail_lines = head_lines[:-1], tail_lines[1:]
    decode = lambda lines: [line.decode("utf-8", "replace").rstrip("\r") for line in lines if line.strip()]
    return decode(head_lines), decode(tail_lines)


def mtime_of(path):
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None


def matching_files(patterns):
    """Existing regular files matching any of the glob ``patterns``, each once, in pattern order."""
    found, seen = [], set()
    for pattern in patterns:
        for path in sorted(glob.glob(os.path.expanduser(pattern))):
            if path not in seen and os.path.isfile(path):
                seen.add(path)
                found.append(path)
    return found


def select_files(paths, times_of, window):
    """(paths to read, skipped files) among ``paths`` (matching_files).

    ``times_of(path, lines)`` gives the timestamps (epoch or None) of some lines of ``path``.
    Skipped files are dicts (path, reason, newest or oldest line time) for the evidence.
    """
    found, skipped = [], []
    for path in paths:
        reason = _skip_reason(path, times_of, window)
        if reason is None:
            found.append(path)
        else:
            skipped.append(reason)
    return found, skipped


def _skip_reason(path, times_of, window):
    try:
        head, tail = file_edges(path)
    except OSError:
        return None  # read it anyway: the scan records why it could not be read
    newest = max((ts for ts in times_of(path, tail) if ts is not None), default=None)
    if newest is not None and newest < window.baseline_start:
        return {"path": path, "newest_line_at": stamp(newest), "newest_line_epoch": int(newest),
                "skipped": "its newest line (%s) is older than the baseline window, which starts %s"
                           % (stamp(newest), stamp(window.baseline_start))}
    if window.bound is not None:
        oldest = min((ts for ts in times_of(path, head) if ts is not None), default=None)
        if oldest is not None and oldest > window.bound:
            return {"path": path, "oldest_line_at": stamp(oldest), "oldest_line_epoch": int(oldest),
                    "skipped": "its oldest line (%s) is after the window end (%s)" % (stamp(oldest), stamp(window.end))}
    return None
