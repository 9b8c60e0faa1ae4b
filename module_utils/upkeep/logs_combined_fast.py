# -*- coding: utf-8 -*-
"""Counting a block of access-log lines at the speed of bytes operations, not line by line.

The line parser (logs_formats.parse_combined) costs a few microseconds a line: about 40 s for a
1 GB access log. Almost every line of a real access log is an ordinary request that only adds to
counters (its window, its status class, its request time), so a block of lines is counted with
whole-block operations that run in C (bytes.count, regex findall, Counter) and only the lines
that need a record of their own, the 5xx responses behind the error signatures, go through the
line parser.

A block is counted this way only when cheap whole-block tests show every line has the shape the
line parser would read the same way:

- one ``HTTP/x.y" NNN `` request end with a status from 100 to 599 per line;
- one ``[dd/Mon/yyyy:HH:`` timestamp per line, in the hours from the block's first line to its
  last (the first and last in the same zone);
- all those hours on the same side of the window boundaries (current, previous or older), with
  room for any zone, or, near a boundary, every line in the first line's zone;
- no CR, no backslash-escaped quote, no keyed request time (``rt=``), no line longer than the
  reader's limit.

Any other block (the one holding a window boundary, scanner garbage, a foreign format, keyed
request times) goes back to the line parser, so the figures are the line parser's either way;
a test holds both paths to the same counts on mixed input. What the counts cannot tell apart is
a line that lacks one of those pieces in the same block as a line that holds it twice; in nginx
logs that cannot happen, since nginx escapes quotes inside fields as ``\\x22``.

Standard library only: shipped to managed hosts.
"""

from __future__ import annotations

import calendar
import re
import time

from .logs_files import MAX_LINE_BYTES
from .logs_formats import TIME_UNITS

CURRENT, PREVIOUS, OUTSIDE = "current", "previous", "outside"

_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NUMBERS = {name.lower(): index for index, name in enumerate(_MONTH_NAMES, 1)}
# The first line's stamp, to know the block's zone and first hour.
_STAMP_RE = re.compile(rb'\[(\d\d)/([A-Za-z]{3})/(\d{4}):(\d\d):\d\d:\d\d ([+-])(\d\d)(\d\d)\] "')
_STATUS_CLASS_RE = re.compile(rb'HTTP/[0-9.]+" ([1-5])\d\d ')
_CLASS_DIGITS = (b"1", b"2", b"3", b"4", b"5")
# Also matches elsewhere than after a request (a user agent followed by " 512 "): the count of
# matches must equal the 5xx count of the status classes, else the block goes line by line.
_SERVER_ERROR_RE = re.compile(rb'" 5\d\d ')
# The request time as the line parser reads a bare one: the whole text after the last quote of
# the line, a plain decimal.
_TAIL = rb'[^\n]*" ([0-9]+(?:\.[0-9]+)?)(?:\n|\Z)'
# More hours than this between a block's first and last line: a sparse log, line by line is cheap.
MAX_HOURS_PER_BLOCK = 72
# UTC-12:00 to UTC+14:00: how far apart two zones' readings of the same moment can be.
ZONE_SPREAD_S = 26 * 3600


class BlockTally(object):
    """What one block adds: its window, lines, status classes, request times and 5xx lines."""

    __slots__ = ("region", "lines", "classes", "durations", "error_lines")

    def __init__(self, region, lines, classes, durations, error_lines):
        self.region = region
        self.lines = lines
        self.classes = classes          # {b"1": count, ... b"5": count}
        self.durations = durations      # [b"0.123", ...], raw text in the source's unit
        self.error_lines = error_lines  # the 5xx lines, bytes, for the line parser


class BlockCounter(object):
    """Counts blocks of one combined-format source for one scan window."""

    def __init__(self, source, window_start, previous_start):
        self.window_start = window_start
        self.previous_start = previous_start
        self.scale = TIME_UNITS[source.get("request_time_unit") or "s"]
        prefix = source.get("latency_path_prefix")
        # From the end of the stamp: the request's method, a space and the path (as the line
        # parser splits the request), then on to the request time at the end of the line.
        head = rb'\] "'
        if prefix:
            head += rb'[^" \n]+ ' + re.escape(prefix.encode("utf-8"))
        self._duration_re = re.compile(head + _TAIL)

    def count(self, block):
        """A BlockTally for ``block`` (complete lines joined by newlines), or None when the block
        must go through the line parser."""
        # One-character tests first: memchr speed, where the longer needles are not.
        if b"\r" in block or (b"=" in block and b"rt=" in block) or (b"\\" in block and b'\\"' in block) \
                or _has_oversized_line(block):
            return None
        lines = block.count(b"\n") + 1
        # One status-class digit per line; joined, five counts are cheaper than a Counter.
        digits = b"".join(_STATUS_CLASS_RE.findall(block))
        if len(digits) != lines:
            return None
        classes = {digit: digits.count(digit) for digit in _CLASS_DIGITS}
        region = self._region(block, lines)
        if region is None:
            return None
        if region == OUTSIDE:
            return BlockTally(region, lines, classes, [], [])
        errors = [_line_at(block, match.start()) for match in _SERVER_ERROR_RE.finditer(block)] \
            if classes.get(b"5") else []
        if len(errors) != classes.get(b"5", 0):
            return None
        durations = self._duration_re.findall(block) if region == CURRENT else []
        return BlockTally(region, lines, classes, durations, errors)

    def _region(self, block, lines):
        """The one window side every line of ``block`` is on, or None when that is not certain."""
        first = _STAMP_RE.search(block, 0, block.find(b"\n") if lines > 1 else len(block))
        last = _STAMP_RE.search(block, block.rfind(b"\n") + 1)
        if first is None or last is None or first.group(5, 6, 7) != last.group(5, 6, 7):
            return None
        zone = first.group(5, 6, 7)
        offset = (int(zone[1]) * 3600 + int(zone[2]) * 60) * (-1 if zone[0] == b"-" else 1)
        start, end = _hour_epoch(first, offset), _hour_epoch(last, offset)
        if start is None or end is None or end < start or (end - start) // 3600 >= MAX_HOURS_PER_BLOCK:
            return None
        hours = []
        for hour in range(start, end + 1, 3600):
            found = block.count(_hour_key(hour + offset))
            if found:
                hours.append(hour)
                lines -= found
        if lines:
            return None  # a line without one of these hours, or one holding two
        # A line in another zone than the first one's has its hour key shifted by the difference
        # of the zones: far enough from both window boundaries that cannot change its side, and
        # only nearer than that are the zones counted (a second pass over the block).
        region = self._same_side(hours, ZONE_SPREAD_S)
        if region is None and block.count(b" %s%s%s] \"" % zone) == block.count(b"\n") + 1:
            region = self._same_side(hours, 0)
        return region

    def _same_side(self, hours, slack):
        """The side of the window boundaries that every hour, widened by ``slack`` seconds, is on."""
        regions = {self._hour_region(hour - slack, 3600 + 2 * slack) for hour in hours}
        return regions.pop() if len(regions) == 1 else None

    def _hour_region(self, start, length):
        if start >= self.window_start:
            return CURRENT
        if start >= self.previous_start and start + length <= self.window_start:
            return PREVIOUS
        if start + length <= self.previous_start:
            return OUTSIDE
        return None  # the span holds a boundary: its lines may fall on both sides


def _hour_epoch(match, offset):
    """Epoch of the start of the hour of a stamp match (``offset`` s east of UTC)."""
    day, month, year, hour = match.group(1, 2, 3, 4)
    number = _MONTH_NUMBERS.get(month.decode("ascii").lower())
    if number is None:
        return None
    try:
        return calendar.timegm((int(year), number, int(day), int(hour), 0, 0)) - offset
    except ValueError:
        return None


def _hour_key(local_epoch):
    """``[28/Nov/2026:20:`` of an hour, as nginx and Apache write it."""
    moment = time.gmtime(local_epoch)
    return b"[%02d/%s/%04d:%02d:" % (moment.tm_mday, _MONTH_NAMES[moment.tm_mon - 1].encode("ascii"),
                                     moment.tm_year, moment.tm_hour)


def _line_at(block, position):
    start = block.rfind(b"\n", 0, position) + 1
    end = block.find(b"\n", position)
    return block[start:] if end < 0 else block[start:end]


def _has_oversized_line(block):
    """Whether a line of ``block`` is longer than MAX_LINE_BYTES (the line reader drops those),
    found in jumps of that length rather than line by line."""
    position, size = 0, len(block)
    while size - position > MAX_LINE_BYTES:
        newline = block.rfind(b"\n", position, position + MAX_LINE_BYTES + 1)
        if newline < 0:
            return True
        position = newline + 1
    return False
