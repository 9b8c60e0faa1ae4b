# -*- coding: utf-8 -*-
"""Parsers for the log formats upkeep_log_scan reads.

Every parser takes an iterator of text lines (no newline) and yields one item per log entry:
a ``Record``, ``None`` for a line it cannot parse, or ``CONTINUATION`` for a line that belongs to
the entry before it (PostgreSQL's DETAIL/STATEMENT lines, indented continuations). Parsers never
raise on bad input: the scanner counts and samples what they could not read.

Standard library only: shipped to managed hosts.
"""

from __future__ import annotations

import calendar
import datetime
import json
import re
import time

# Every format a source may name; logs_parsers reads each ("auto" picks one from the file's head).
FORMATS = ("auto", "combined", "json", "syslog", "postgres", "postgres_csv", "apache_error", "nginx_error", "custom")
CONTINUATION = "continuation"

ERROR_LEVELS = frozenset(("error", "critical"))


def Record(ts, status, duration_ms, level, message, category, path, client=None, size=None):  # noqa: N802
    """(ts, status, duration_ms, level, message, category, path, client, bytes) of one log entry,
    a plain tuple (it reads as a type).

    ts is epoch seconds or None, level one of debug/info/warning/error/critical, category the
    error's class (status class, exception type, SQLSTATE class) or None, client the remote
    address and bytes the response size where the format has them. A plain tuple because the
    access-log path builds one per line and a tuple subclass costs a fifth of the parse.
    """
    return (ts, status, duration_ms, level, message, category, path, client, size)


_LEVELS = {
    "trace": "debug", "debug": "debug", "debug1": "debug", "debug2": "debug", "debug3": "debug", "debug4": "debug",
    "debug5": "debug", "info": "info", "information": "info", "notice": "info", "log": "info", "statement": "info",
    "warn": "warning", "warning": "warning", "error": "error", "err": "error", "fatal": "critical",
    "panic": "critical", "critical": "critical", "crit": "critical", "alert": "critical", "emerg": "critical",
    "emergency": "critical", "severe": "error",
}
# pino/bunyan numeric levels.
_NUMERIC_LEVELS = ((60, "critical"), (50, "error"), (40, "warning"), (30, "info"), (0, "debug"))


def normalize_level(value):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        for floor, name in _NUMERIC_LEVELS:
            if value >= floor:
                return name
        return "debug"
    return _LEVELS.get(str(value).strip().lower(), "info")


_EXCEPTION_RE = re.compile(r"\b([A-Z][A-Za-z0-9_]*(?:Error|Exception|Fault|Timeout))\b")


def exception_type(message):
    match = _EXCEPTION_RE.search(message)
    return match.group(1) if match else None


# -- timestamps ---------------------------------------------------------------------------------

_MONTHS = {name: index for index, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
_UTC_NAMES = ("UTC", "GMT", "Z")


def parse_iso(text):
    """Epoch seconds of an ISO 8601 / PostgreSQL timestamp, or None.

    A zone given as an abbreviation other than UTC/GMT is read as the host's local time, which is
    what PostgreSQL's log_timezone usually is.
    """
    text = text.strip()
    local = False
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    else:
        head, _, zone = text.rpartition(" ")
        if head and zone.isalpha():
            text, local = head, zone.upper() not in _UTC_NAMES
    if len(text) > 10 and text[10] == " ":
        text = text[:10] + "T" + text[11:]
    if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit() and ":" in text[-9:-5]:
        text = text[:-2] + ":" + text[-2:]  # +0000 -> +00:00 for Python < 3.11
    try:
        parsed = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return time.mktime(parsed.timetuple()) + parsed.microsecond / 1e6 if local else \
            calendar.timegm(parsed.timetuple()) + parsed.microsecond / 1e6
    return parsed.timestamp()


def epoch_of(value):
    """Epoch seconds of a JSON timestamp (ISO string, epoch seconds or milliseconds), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value / 1000.0 if value > 1e11 else float(value)
    if isinstance(value, str):
        return parse_iso(value)
    return None


class ClfClock(object):
    """Epoch of ``28/Nov/2026:20:42:55 +0000`` without strptime (the hot path of access logs)."""

    def __init__(self):
        self._days = {}

    def __call__(self, text):
        try:
            day = self._days.get(text[:11])
            if day is None:
                day = calendar.timegm((int(text[7:11]), _MONTHS[text[3:6].lower()], int(text[0:2]), 0, 0, 0))
                self._days[text[:11]] = day
            seconds = int(text[12:14]) * 3600 + int(text[15:17]) * 60 + int(text[18:20])
            zone = text[21:26]
            offset = 0
            if zone:
                offset = (int(zone[1:3]) * 3600 + int(zone[3:5]) * 60) * (-1 if zone[0] == "-" else 1)
            return day + seconds - offset
        except (KeyError, ValueError, IndexError):
            return None


# -- combined access logs -----------------------------------------------------------------------

# Only what the scan needs is captured (stamp, request, status); the rest of the line is looked at
# only for the request time. The user field may hold spaces (nginx and Apache log the name of any
# Basic credentials as sent) and a syslog or virtual-host prefix may come first, so anything may
# sit between the first two fields and the stamp. The unrolled quoted-string pattern is several
# times faster than an alternation, which matters on the hottest path of the module.
_COMBINED_RE = re.compile(r'(\S+) \S+ .+? \[([^\]]+)\] "([^"\\]*(?:\\.[^"\\]*)*)" (\d{3}) ')
_REQUEST_TIME_RE = re.compile(r'(?<![\w])(?:rt|request_time)="?([0-9]+(?:\.[0-9]+)?)')
_BARE_TIME_RE = re.compile(r' ([0-9]+(?:\.[0-9]+)?)')
# The size, referer and user agent after the status: where the client's own text ends.
_CLIENT_FIELDS_RE = re.compile(r'\S+ "[^"\\]*(?:\\.[^"\\]*)*" "[^"\\]*(?:\\.[^"\\]*)*"')
TIME_UNITS = {"s": 1000.0, "ms": 1.0, "us": 0.001}


def parse_combined(lines, request_time_unit="s"):
    """nginx/Apache combined (or common) format; a request time, when logged, is a key
    (``rt=0.123``, ``request_time=0.123``) after the user agent (after the size in the common
    format) or a bare number ending the line after its last quoted field (``0.123``), in
    ``request_time_unit`` (s, ms, us)."""
    match_line = _COMBINED_RE.match
    clock = ClfClock()
    seconds = {}  # a busy log repeats each stamp many times
    scale = TIME_UNITS[request_time_unit]
    for line in lines:
        match = match_line(line)
        if match is None:
            yield None
            continue
        remote, stamp, request, status = match.groups()
        status = int(status)
        # The size is the field after the status: digits, or "-" for none.
        after = match.end()
        space = line.find(" ", after)
        size = line[after:] if space < 0 else line[after:space]
        size = int(size) if size.isdigit() else None
        duration = None
        # nginx's common key=value extensions (rt=0.123 uct="0.000" urt="0.120"), read only after
        # the referer and user agent: those are the client's to write, and "?rt=3600" there
        # must not become a latency.
        client = _CLIENT_FIELDS_RE.match(line, match.end())
        keys_from = client.end() if client else match.end()
        keyed = _REQUEST_TIME_RE.search(line, keys_from) if "=" in line[keys_from:] else None
        if keyed:
            duration = float(keyed.group(1)) * scale
        # Otherwise a request time is a bare number ending the line after its last quoted field
        # (nginx's "$http_user_agent" $request_time); a common-format line ends at the size.
        # logs_combined_fast reads it by the same definition.
        else:
            last_quote = line.rfind('"')
            bare = _BARE_TIME_RE.fullmatch(line, last_quote + 1) if last_quote >= match.end() else None
            if bare:
                duration = float(bare.group(1)) * scale
        parts = request.split(" ", 2)
        method, path = (parts[0], parts[1]) if len(parts) >= 2 else ("-", request)
        if "?" in path:
            path = path.split("?", 1)[0]
        if status >= 500:
            level, category, message = "error", "%dxx" % (status // 100), method + " " + path
        elif status >= 400:
            level, category, message = "warning", "4xx", method + " " + path
        else:
            level, category, message = "info", None, ""
        ts = seconds.get(stamp)
        if ts is None:
            if len(seconds) > 100000:
                seconds.clear()
            ts = seconds[stamp] = clock(stamp)
        yield (ts, status, duration, level, message, category, path, remote, size)


# -- JSON lines ---------------------------------------------------------------------------------

JSON_FIELD_DEFAULTS = {
    "timestamp": ["timestamp", "time", "ts", "@timestamp", "date"],
    "level": ["level", "severity", "lvl", "log.level"],
    "message": ["message", "msg", "error.message", "err.message"],
    "status": ["status", "statusCode", "status_code", "res.statusCode", "http.status_code"],
    "duration": ["duration_ms", "responseTime", "response_time_ms", "duration", "elapsed_ms"],
    "route": ["route", "path", "url", "req.url", "http.route"],
    "error_type": ["error.type", "err.type", "error_type", "exception", "error.name", "err.name"],
}


def _lookup(entry, dotted):
    if dotted in entry:
        return entry[dotted]
    value = entry
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def first_field(entry, names):
    for name in names:
        value = _lookup(entry, name)
        if value is not None:
            return value
    return None


def field_reader(names):
    """``lambda entry: first_field(entry, names)``, built once per source: the JSON path reads
    seven roles a line from up to five names each, and a plain name is one dict lookup here
    (a dotted one walks the nested objects only when no key holds the dotted name itself)."""
    compiled = tuple((name, tuple(name.split(".")) if "." in name else None) for name in names)

    def read(entry):
        for name, parts in compiled:
            value = entry.get(name)
            if value is None and parts is not None and name not in entry:
                value = entry
                for part in parts:
                    if not isinstance(value, dict) or part not in value:
                        value = None
                        break
                    value = value[part]
            if value is not None:
                return value
        return None
    return read


def parse_json(lines, fields=None, duration_unit="ms"):
    """JSON lines; ``fields`` maps timestamp/level/message/status/duration/route/error_type to a
    (dotted) field name, otherwise common names are tried (pino, bunyan, winston, ECS)."""
    names = dict(JSON_FIELD_DEFAULTS)
    for key, value in (fields or {}).items():
        if value:
            names[key] = [value]
    scale = TIME_UNITS[duration_unit]
    loads = json.loads
    read_status, read_level, read_message, read_duration, read_route, read_error_type, read_time = (
        field_reader(names[role]) for role in ("status", "level", "message", "duration", "route", "error_type",
                                               "timestamp"))
    for line in lines:
        if not line.startswith("{"):
            yield None if line.strip() else CONTINUATION
            continue
        try:
            entry = loads(line)
        except ValueError:
            yield None
            continue
        if not isinstance(entry, dict):
            yield None
            continue
        status = read_status(entry)
        status = status if isinstance(status, int) and not isinstance(status, bool) else None
        raw_level = read_level(entry)
        level = normalize_level(raw_level) if raw_level is not None else (
            "error" if status and status >= 500 else "warning" if status and status >= 400 else "info")
        message = read_message(entry)
        message = message if isinstance(message, str) else json.dumps(message) if message is not None else ""
        duration = read_duration(entry)
        duration = float(duration) * scale if isinstance(duration, (int, float)) and not isinstance(duration, bool) \
            else None
        route = read_route(entry)
        route = route.split("?", 1)[0] if isinstance(route, str) else None
        category = None
        if level in ERROR_LEVELS:
            error_type = read_error_type(entry)
            category = str(error_type) if error_type else exception_type(message) or (
                "%dxx" % (status // 100) if status and status >= 500 else "level:%s" % level)
        yield Record(epoch_of(read_time(entry)), status, duration, level, message, category, route)


# -- syslog-style text --------------------------------------------------------------------------

_SYSLOG_BSD_RE = re.compile(r"^([A-Z][a-z]{2}) +(\d{1,2}) (\d\d):(\d\d):(\d\d) (\S+) ([^\s:\[]+)(?:\[\d+\])?:? ?(.*)$")
_SYSLOG_ISO_RE = re.compile(r"^(\d{4}-\d\d-\d\dT\S+) (\S+) ([^\s:\[]+)(?:\[\d+\])?:? ?(.*)$")
_SYSLOG_LEVEL_RE = re.compile(r"(?i)\b(?:(fatal|panic|critical|emerg)|(error|err|fail(?:ed|ure)?|exception)|(warn(?:ing)?))\b")


# (year, month, day, hour) -> epoch of that local hour's start: mktime costs microseconds and a
# log repeats each hour thousands of times. Hours, not days, so a DST change is honoured.
_HOUR_STARTS = {}
_YEARS = {}  # reference (a file's mtime) -> its local year


def _local_hour(year, month, day, hour):
    key = (year, month, day, hour)
    start = _HOUR_STARTS.get(key)
    if start is None:
        if len(_HOUR_STARTS) > 50000:
            _HOUR_STARTS.clear()
        start = _HOUR_STARTS[key] = time.mktime((year, month, day, hour, 0, 0, 0, 0, -1))
    return start


def bsd_syslog_time(month, day, hour, minute, second, reference, years=None):
    """Epoch of a year-less syslog stamp (local time), placed in the year that puts it at most a
    day after ``reference``: the modification time of its file, which its newest line is not
    after (a day of slack for zones and clocks). So December lines of a file last written in
    January are last year's, and an archived log keeps its own year instead of today's. The
    year used is added to ``years`` (a set), for the evidence: it is inferred, not read."""
    year = _YEARS.get(reference)
    if year is None:
        if len(_YEARS) > 1000:
            _YEARS.clear()
        year = _YEARS[reference] = time.localtime(reference).tm_year
    number = _MONTHS.get(month.lower(), 1)
    into_hour = int(minute) * 60 + int(second)
    stamp = _local_hour(year, number, int(day), int(hour)) + into_hour
    if stamp > reference + 86400:
        year -= 1
        stamp = _local_hour(year, number, int(day), int(hour)) + into_hour
    if years is not None:
        years.add(year)
    return stamp


def split_syslog(line, reference, years=None):
    """(ts, host, program, message) of a syslog line (BSD or ISO stamp), or None; a BSD stamp's
    year is inferred from ``reference`` (see bsd_syslog_time)."""
    match = _SYSLOG_BSD_RE.match(line)
    if match:
        month, day, hour, minute, second, host, program, message = match.groups()
        return bsd_syslog_time(month, day, hour, minute, second, reference, years), host, program, message
    match = _SYSLOG_ISO_RE.match(line)
    if match:
        return parse_iso(match.group(1)), match.group(2), match.group(3), match.group(4)
    return None


_LEVEL_WORD_PARTS = ("err", "fail", "exception", "warn", "fatal", "panic", "crit", "emerg")


def word_level(message):
    """The severity a message's words say (fatal, error, failed, warning ...), for formats without one."""
    # Most messages hold none of the words: a plain substring test on the lowered ASCII text rules
    # them out at a fraction of the case-insensitive search (non-ASCII text, whose case folding
    # lower() may not mirror, always gets the search).
    if message.isascii():
        lowered = message.lower()
        if not any(part in lowered for part in _LEVEL_WORD_PARTS):
            return "info"
    match = _SYSLOG_LEVEL_RE.search(message)
    if match:
        return "critical" if match.group(1) else "error" if match.group(2) else "warning"
    return "info"


def parse_syslog(lines, reference=None, years=None):
    """Plain syslog text; the severity is read from the words of the message. ``reference`` is
    the file's modification time, for the year of BSD stamps (see bsd_syslog_time)."""
    reference = time.time() if reference is None else reference
    for line in lines:
        parts = split_syslog(line, reference, years)
        if parts is None:
            yield None
            continue
        ts, _host, program, message = parts
        level = word_level(message)
        category = (exception_type(message) or program) if level in ERROR_LEVELS else None
        yield Record(ts, None, None, level, "%s: %s" % (program, message), category, None)
