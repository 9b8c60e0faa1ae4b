# -*- coding: utf-8 -*-
"""Web servers' error logs and user-described formats, for upkeep_log_scan.

- ``apache_error``: Apache httpd 2.2 (``[Wed Oct 11 14:32:52 2000] [error] [client 127.0.0.1] ...``)
  and 2.4 (``[Thu May 12 08:28:57.652118 2011] [core:error] [pid 8777:tid 43264] [client ::1:58619]
  AH00128: ...``) with the default ErrorLogFormat;
- ``nginx_error``: ``2026/11/28 12:00:00 [error] 1234#1234: *5 ..., client: 10.0.0.1, server: ...,
  request: "GET /x HTTP/1.1"``;
- ``custom``: one regular expression with named groups (time, level, message, status, duration,
  client, method, path, bytes) and the format of its time, so any application log can be
  described in one line of inventory, as GoAccess's log-format or an lnav format does.

Both servers write their error log in the host's local time. Parsers yield what
logs_formats.Record describes, None for a line they cannot read and CONTINUATION for an
indented line that belongs to the entry before it.

Standard library only: shipped to managed hosts.
"""

from __future__ import annotations

import datetime
import re
import time

from .logs_formats import (CONTINUATION, ERROR_LEVELS, TIME_UNITS, Record, exception_type, normalize_level, parse_iso,
                           word_level)
from .result import ParameterError

_MONTHS = {name: index for index, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}

# -- Apache httpd -------------------------------------------------------------------------------

_APACHE_RE = re.compile(r"^\[(?:[A-Z][a-z]{2} )?([A-Z][a-z]{2}) +(\d{1,2}) (\d\d):(\d\d):(\d\d)(\.\d+)? (\d{4})\] "
                        r"\[(?:([\w-]*):)?(\w+)\] ?(.*)$")
# 2.4's bracketed fields before the message, in the order httpd writes them.
_APACHE_FIELD_RE = re.compile(r"\[(pid|client|remote) ([^\]]*)\] ?")
_APACHE_CODE_RE = re.compile(r"\b(AH\d{5})\b")
_PORT_RE = re.compile(r"^(.*?)(?::\d+)?$")


def _local(year, month, day, hour, minute, second):
    return time.mktime((year, month, day, hour, minute, second, 0, 0, -1))


def _client_of(text):
    """The address of ``[client 10.0.0.1:53124]`` (2.4 adds the port; an IPv6 one too: ::1:58619)."""
    if text.count(":") > 1 and "." not in text:  # IPv6 with a port appended by httpd
        head, _, port = text.rpartition(":")
        return head if port.isdigit() and head else text
    return _PORT_RE.match(text).group(1)


def parse_apache_error(lines):
    """Apache httpd 2.2 and 2.4 error logs (default ErrorLogFormat)."""
    for line in lines:
        match = _APACHE_RE.match(line)
        if match is None:
            yield CONTINUATION if line[:1] in (" ", "\t") or not line.strip() else None
            continue
        month, day, hour, minute, second, fraction, year, module, severity, rest = match.groups()
        try:
            ts = _local(int(year), _MONTHS[month.lower()], int(day), int(hour), int(minute), int(second))
        except (KeyError, ValueError, OverflowError):
            yield None
            continue
        if fraction:
            ts += float(fraction)
        client = None
        position = 0
        while True:
            field = _APACHE_FIELD_RE.match(rest, position)
            if field is None:
                break
            if field.group(1) == "client":
                client = _client_of(field.group(2))
            position = field.end()
        message = rest[position:]
        level = normalize_level(severity)
        category = None
        if level in ERROR_LEVELS or level == "warning":
            code = _APACHE_CODE_RE.search(message)
            category = code.group(1) if code else exception_type(message) or "%s:%s" % (module or "httpd", severity)
        yield Record(ts, None, None, level, message, category, None, client)


# -- nginx ---------------------------------------------------------------------------------------

_NGINX_RE = re.compile(r"^(\d{4})/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d) \[(\w+)\] \d+#\d+: (?:\*\d+ )?(.*)$")
_NGINX_CLIENT_RE = re.compile(r", client: ([^,\s]+)")
_NGINX_REQUEST_RE = re.compile(r', request: "(\S+) (\S+)')
# nginx's own wording for its errors, the part before the details: "upstream timed out",
# "connect() failed", "open() ... failed", "no live upstreams", "limiting requests".
_NGINX_KIND_RE = re.compile(r"^(?:(\w+\(\))|([a-z][a-z ]{2,40}?)(?= \(|,| while|:))")


def parse_nginx_error(lines):
    """nginx error logs."""
    for line in lines:
        match = _NGINX_RE.match(line)
        if match is None:
            yield CONTINUATION if line[:1] in (" ", "\t") or not line.strip() else None
            continue
        year, month, day, hour, minute, second, severity, message = match.groups()
        try:
            ts = _local(int(year), int(month), int(day), int(hour), int(minute), int(second))
        except (ValueError, OverflowError):
            yield None
            continue
        client = _NGINX_CLIENT_RE.search(message)
        request = _NGINX_REQUEST_RE.search(message)
        level = normalize_level(severity)
        category = None
        if level in ERROR_LEVELS or level == "warning":
            kind = _NGINX_KIND_RE.match(message)
            category = exception_type(message) or ("nginx: " + (kind.group(1) or kind.group(2)) if kind
                                                   else "nginx:%s" % severity)
        path = request.group(2).split("?", 1)[0] if request else None
        yield Record(ts, None, None, level, message, category, path, client.group(1) if client else None)


# -- user-described formats ----------------------------------------------------------------------

CUSTOM_GROUPS = ("time", "level", "message", "status", "duration", "client", "method", "path", "bytes")
TIME_KEYWORDS = ("iso8601", "epoch", "epoch_ms")


def compile_custom(source, where):
    """(compiled pattern, time reader) of a ``custom`` source; ParameterError naming the option."""
    pattern = source.get("pattern")
    if not pattern:
        raise ParameterError("%s.pattern: required with format custom (a regular expression with named groups "
                             "among %s)" % (where, ", ".join(CUSTOM_GROUPS)))
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ParameterError("%s.pattern: not a valid regular expression (%s)" % (where, exc))
    unknown = sorted(set(compiled.groupindex) - set(CUSTOM_GROUPS))
    if unknown:
        raise ParameterError("%s.pattern: unknown group name(s) %s; the groups are %s (other parts: unnamed "
                             "groups)" % (where, ", ".join(unknown), ", ".join(CUSTOM_GROUPS)))
    if not set(compiled.groupindex) & {"time", "level", "status", "message"}:
        raise ParameterError("%s.pattern: needs at least one of the groups time, level, status, message" % where)
    time_format = source.get("time_format")
    if time_format and "time" not in compiled.groupindex:
        raise ParameterError("%s.time_format: given, but the pattern has no (?P<time>...) group" % where)
    return compiled, time_reader(time_format or "iso8601", where)


def time_reader(time_format, where):
    """A function (text, reference) -> epoch or None for ``time_format``: iso8601, epoch,
    epoch_ms or a strptime format (local time unless it has %z; without a year, the year comes
    from ``reference``, the file's modification time, as for syslog)."""
    if time_format == "iso8601":
        return lambda text, reference: parse_iso(text)
    if time_format in ("epoch", "epoch_ms"):
        scale = 1000.0 if time_format == "epoch_ms" else 1.0

        def epoch(text, reference):
            try:
                return float(text) / scale
            except ValueError:
                return None
        return epoch
    if "%" not in time_format:
        raise ParameterError("%s.time_format: %r is neither one of %s nor a strptime format (e.g. %%d/%%b/%%Y:%%H:%%M:%%S "
                             "%%z)" % (where, time_format, ", ".join(TIME_KEYWORDS), ))
    has_year = "%Y" in time_format or "%y" in time_format
    zoned = "%z" in time_format
    # A trailing fraction (".%f", as most application logs write) makes every stamp distinct: the
    # whole seconds are read (and cached) once, the fraction added, since strptime is the slow part.
    fraction = time_format.endswith(".%f") and "%f" not in time_format[:-3]
    whole_format = time_format[:-3] if fraction else time_format
    cache = {}

    def strptime(text, reference):
        if fraction:
            text, dot, digits = text.rpartition(".")
            if not dot or not digits.isdigit() or len(digits) > 6:
                return None
            seconds = whole_seconds(text, reference)
            return None if seconds is None else seconds + int(digits) / 10.0 ** len(digits)
        return whole_seconds(text, reference)

    def whole_seconds(text, reference):
        key = (text, int(reference // 86400)) if not has_year else text
        if key in cache:
            return cache[key]
        try:
            parsed = datetime.datetime.strptime(text, whole_format)
        except ValueError:
            return None
        if zoned:
            value = parsed.timestamp()
        else:
            year = parsed.year if has_year else time.localtime(reference).tm_year
            stamp = _local(year, parsed.month, parsed.day, parsed.hour, parsed.minute, parsed.second)
            if not has_year and stamp > reference + 86400:
                stamp = _local(year - 1, parsed.month, parsed.day, parsed.hour, parsed.minute, parsed.second)
            value = stamp + parsed.microsecond / 1e6
        if len(cache) > 100000:  # a busy log repeats each stamp many times; memory stays flat
            cache.clear()
        cache[key] = value
        return value
    return strptime


def parse_custom(lines, compiled, read_time, reference, duration_unit="ms"):
    """Lines of a user-described format: the pattern must match from the start of the line."""
    scale = TIME_UNITS[duration_unit]
    groups = compiled.groupindex
    match_line = compiled.match
    for line in lines:
        match = match_line(line)
        if match is None:
            yield CONTINUATION if line[:1] in (" ", "\t") or not line.strip() else None
            continue
        found = match.groupdict()
        ts = None
        if found.get("time") is not None:
            ts = read_time(found["time"], reference)
            if ts is None:
                yield None  # a time the format cannot read is a line the format does not describe
                continue
        status = found.get("status")
        status = int(status) if status and status.isdigit() else None
        duration = found.get("duration")
        try:
            duration = float(duration) * scale if duration else None
        except ValueError:
            duration = None
        size = found.get("bytes")
        size = int(size) if size and size.isdigit() else None
        message = found.get("message") or ""
        path = found.get("path")
        path = path.split("?", 1)[0] if path else None
        # A request's status outranks the logger's level: a WSGI server logs its 500s at INFO.
        level = normalize_level(found["level"]) if found.get("level") is not None else None
        if status is not None and status >= 500 and level not in ERROR_LEVELS:
            level = "error"
        elif status is not None and status >= 400 and level in (None, "debug", "info"):
            level = "warning"
        elif level is None:
            level = "info" if status is not None else word_level(message)
        if not message and "method" in groups:
            message = "%s %s" % (found.get("method") or "-", path or "-")
        category = None
        if level in ERROR_LEVELS:
            category = exception_type(message) or ("%dxx" % (status // 100) if status and status >= 500
                                                   else "level:%s" % level)
        yield Record(ts, status, duration, level, message, category, path, found.get("client"), size)
