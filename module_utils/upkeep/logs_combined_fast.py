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

- one `` [dd/Mon/yyyy:HH:`` stamp per line, followed by a ``"METHOD target HTTP/x.y" NNN ``
  request with a status from 100 to 599, in the hours from the block's first line to its last
  (the first and last in the same zone), and two fields before the stamp on the first line;
- all those hours on the same side of the window boundaries (current, previous or older), with
  room for any zone, or, near a boundary, every line in the first line's zone;
- no CR, no backslash-escaped quote, no keyed request time (``rt=``, ``request_time=``) outside
  the request, no line longer than the reader's limit.

A few lines with another request (a scanner's TLS handshake, logged as ``"\\x16\\x03..." 400``)
are taken out and given to the line parser; any other block (the one holding a window boundary,
junk, a foreign format, keyed request times) goes to the line parser whole. The figures are the
line parser's either way; tests hold both paths to the same counts on mixed input. What the
per-block counts cannot tell apart are forged lines: a line missing a piece in the same block as
one carrying it twice (a second stamp and request in its URL), or a line after the first with
fewer than two fields before its stamp, which nginx and Apache never write.

Standard library only: shipped to managed hosts.
"""

from __future__ import annotations

import calendar
import re
import time
from collections import Counter

from .logs_files import MAX_LINE_BYTES
from .logs_formats import TIME_UNITS

CURRENT, PREVIOUS, OUTSIDE = "current", "previous", "outside"

_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NUMBERS = {name.lower(): index for index, name in enumerate(_MONTH_NAMES, 1)}
# The first line's stamp, to know the block's zone and first hour.
_STAMP_RE = re.compile(rb'\[(\d\d)/([A-Za-z]{3})/(\d{4}):(\d\d):\d\d:\d\d ([+-])(\d\d)(\d\d)\] "')
_STATUS_RE = re.compile(rb'HTTP/[0-9.]+" ([1-5]\d\d) ')
# The size, read where the line parser reads it: right after the status, digits up to a space or
# the end of the line; anything else ("-", garbage) is no size for either.
_SIZE_RE = re.compile(rb'HTTP/[0-9.]+" [1-5]\d\d (\d+)(?=[ \n]|\Z)')
# The client, the first field of each line after the first.
_CLIENT_RE = re.compile(rb'\n([^ \n]+) ')
_FIRST_CLIENT_RE = re.compile(rb'([^ \n]+) ')
_NOT_FOUND = b'" 404 '
# Where an odd request may be: nginx writes a request it could not read byte for byte, a TLS
# handshake or probe as "\x16\x03...", a connection closed before any request as "-". The
# first is found by its backslash (memchr speed), the second looked for only when needed.
_ODD_REQUEST_MARKS = (b"\\", b'] "-" ')
# rt= and request_time= not after a letter, digit or underscore (sort=, cart= are no keys: the
# line parser's pattern has the same look-behind), written literal-first so the search is fast.
_KEY_RE = re.compile(rb"rt=(?<!\wrt=)|request_time=(?<!\wrequest_time=)")
# The line parser wants two fields before the stamp: the first line is checked (nginx and Apache
# write the client address and an ident first on every line, so the rest are not).
_FIRST_LINE_START_RE = re.compile(rb'[!-~]+ [!-~]+ ')
# More odd requests than this in a block: not a few scanner requests among ordinary traffic but
# a block of another shape, for the line parser whole.
MAX_ODD_LINES = 64
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
    """What one block adds: its window, lines, status codes, request times and 5xx lines, and
    for the window's blocks what the review reads (sizes, clients, 404 paths, hours)."""

    __slots__ = ("region", "lines", "codes", "durations", "error_lines", "odd_lines", "served_bytes", "clients",
                 "not_found", "hours")

    def __init__(self, region, lines, codes, durations, error_lines, odd_lines=(), review=None):
        self.region = region
        self.lines = lines              # the ordinary lines counted here
        self.codes = codes              # Counter {b"200": count, ...}
        self.durations = durations      # [b"0.123", ...], raw text in the source's unit
        self.error_lines = error_lines  # the 5xx lines, bytes, for the line parser
        self.odd_lines = odd_lines      # lines with an odd request, bytes, for the line parser
        # bytes served, the client of each line, Counter of 404 paths (query kept), {UTC hour: lines}
        self.served_bytes, self.clients, self.not_found, self.hours = review or (0, None, None, None)


class BlockCounter(object):
    """Counts blocks of one combined-format source for one scan window."""

    def __init__(self, source, window_start, previous_start, window_bound=None):
        self.window_start = window_start
        self.previous_start = previous_start
        self.window_bound = window_bound  # None: the window ends now (a later line still counts)
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
        if b"\r" in block or _has_escaped_quote(block) or _has_oversized_line(block):
            return None
        if b"=" in block and _has_keyed_time(block):
            return None
        lines = block.count(b"\n") + 1
        if not _FIRST_LINE_START_RE.match(block):
            return None
        codes = _STATUS_RE.findall(block)  # one status per line
        odd_lines = []
        if len(codes) != lines:
            block, odd_lines = _without_odd_lines(block, lines - len(codes))
            if block is None:
                return None
            lines = len(codes)
        codes = Counter(codes)
        found = self._region(block, lines)
        if found is None:
            return None
        region, hours = found
        if region == OUTSIDE:
            return BlockTally(region, lines, codes, [], [], odd_lines)
        server_errors = sum(count for code, count in codes.items() if code[:1] == b"5")
        errors = [_line_at(block, match.start()) for match in _SERVER_ERROR_RE.finditer(block)] \
            if server_errors else []
        if len(errors) != server_errors:
            return None
        if region != CURRENT:
            return BlockTally(region, lines, codes, [], errors, odd_lines)
        review = _review(block, lines, codes, hours)
        if review is None:
            return None
        return BlockTally(region, lines, codes, self._duration_re.findall(block), errors, odd_lines, review)

    def _region(self, block, lines):
        """(the one window side every line of ``block`` is on, {UTC hour: lines} or None), or
        None when the side is not certain. The hours are given only when every line is in the
        first line's zone and it is a whole number of hours from UTC: then a line's hour key is
        its UTC hour, as the line parser counts it."""
        first = _STAMP_RE.search(block, 0, block.find(b"\n") if lines > 1 else len(block))
        last = _STAMP_RE.search(block, block.rfind(b"\n") + 1)
        if first is None or last is None or first.group(5, 6, 7) != last.group(5, 6, 7):
            return None
        zone = first.group(5, 6, 7)
        offset = (int(zone[1]) * 3600 + int(zone[2]) * 60) * (-1 if zone[0] == b"-" else 1)
        start, end = _hour_epoch(first, offset), _hour_epoch(last, offset)
        if start is None or end is None or end < start or (end - start) // 3600 >= MAX_HOURS_PER_BLOCK:
            return None
        hours = {}
        for hour in range(start, end + 1, 3600):
            found = block.count(_hour_key(hour + offset))
            if found:
                hours[hour] = found
                lines -= found
        if lines:
            return None  # a line without one of these hours, or one holding two
        # A line in another zone than the first one's has its hour key shifted by the difference
        # of the zones: far enough from both window boundaries that cannot change its side, and
        # only nearer than that are the zones counted (a second pass over the block).
        one_zone = None
        region = self._same_side(hours, ZONE_SPREAD_S)
        if region is None:
            one_zone = block.count(b" %s%s%s] \"" % zone) == block.count(b"\n") + 1
            if one_zone:
                region = self._same_side(hours, 0)
        if region != CURRENT:
            return (region, None) if region else None
        if one_zone is None:
            one_zone = block.count(b" %s%s%s] \"" % zone) == block.count(b"\n") + 1
        return region, hours if one_zone and offset % 3600 == 0 else None

    def _same_side(self, hours, slack):
        """The side of the window boundaries that every hour, widened by ``slack`` seconds, is on."""
        regions = {self._hour_region(hour - slack, 3600 + 2 * slack) for hour in hours}
        return regions.pop() if len(regions) == 1 else None

    def _hour_region(self, start, length):
        bound = self.window_bound
        if bound is not None and start + length > bound:
            # Lines after an explicit window end are outside, as the line parser counts them.
            return OUTSIDE if start > bound else None
        if start >= self.window_start:
            return CURRENT
        if start >= self.previous_start and start + length <= self.window_start:
            return PREVIOUS
        if start + length <= self.previous_start:
            return OUTSIDE
        return None  # the span holds a boundary: its lines may fall on both sides


def _review(block, lines, codes, hours):
    """(bytes served, clients, 404 paths, requests per UTC hour) of a block of the window, or
    None when a line would not read as the line parser reads it."""
    if hours is None:
        return None
    clients = _CLIENT_RE.findall(block)
    first = _FIRST_CLIENT_RE.match(block)
    if first is None or len(clients) + 1 != lines:
        return None
    clients.append(first.group(1))
    not_found = Counter()
    if codes.get(b"404"):
        # The request is the quoted field the status follows (no quote inside it: escaped quotes
        # send the block to the line parser), its path the second word, as the line parser splits it.
        position = block.find(_NOT_FOUND)
        while position >= 0:
            request = block[block.rfind(b'"', 0, position) + 1:position]
            parts = request.split(b" ", 2)
            not_found[parts[1] if len(parts) >= 2 else request] += 1
            position = block.find(_NOT_FOUND, position + 6)
        if sum(not_found.values()) != codes[b"404"]:
            return None  # " 404 " elsewhere than after a request (a user agent): line by line
    return sum(map(int, _SIZE_RE.findall(block))), clients, not_found, hours


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
    return b" [%02d/%s/%04d:%02d:" % (moment.tm_mday, _MONTH_NAMES[moment.tm_mon - 1].encode("ascii"),
                                      moment.tm_year, moment.tm_hour)


def _without_odd_lines(block, count):
    """``(block without its lines holding an odd request, those lines)`` when they are the
    ``count`` lines without a status class, else ``(None, None)``."""
    if count > MAX_ODD_LINES:
        return None, None
    spans = set()
    for mark in _ODD_REQUEST_MARKS:
        if len(spans) == count:
            break
        position = block.find(mark)
        while position >= 0 and len(spans) <= count:
            start = block.rfind(b"\n", 0, position) + 1
            end = block.find(b"\n", position)
            end = len(block) if end < 0 else end
            if not _STATUS_RE.search(block, start, end):
                spans.add((start, end))
            position = block.find(mark, end)
    if len(spans) != count:
        return None, None  # lines without a status that are not odd requests (junk): the line parser's
    odd, kept, position = [], [], 0
    for start, end in sorted(spans):
        odd.append(block[start:end])
        kept.append(block[position:max(position, start - 1)])
        position = end + 1
    kept.append(block[position:])
    rest = b"\n".join(part for part in kept if part)
    return (rest, odd) if rest else (None, None)


def _has_escaped_quote(block):
    """Whether ``block`` holds a backslash-escaped quote (Apache's way in quoted fields); found
    from its backslashes, which a byte search finds at memchr speed and real logs rarely hold."""
    position = block.find(b"\\")
    while position >= 0:
        if block[position + 1:position + 2] == b'"':
            return True
        position = block.find(b"\\", position + 2)
    return False


def _has_keyed_time(block):
    """Whether a line of ``block`` may hold a keyed request time (rt=, request_time=) where the
    line parser reads one: anywhere but inside the request, which is followed on its line by the
    ``HTTP/x" NNN`` the block path counts (a query such as ?sort= or ?start= is left alone)."""
    for match in _KEY_RE.finditer(block):
        end = block.find(b"\n", match.start())
        if not _STATUS_RE.search(block, match.start(), len(block) if end < 0 else end):
            return True
    return False


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
