# -*- coding: utf-8 -*-
"""upkeep_auth_audit's log sources: sshd lines in syslog text and application auth events in
JSON lines, read as events for the audit's window and its baseline.

An event is a tuple (ts, kind, ip, user, source, method, invalid_user): ``method`` is how sshd
was asked to authenticate (password, publickey, keyboard-interactive/pam, hostbased, none) or
None where the source does not say, ``invalid_user`` whether sshd reported the name as unknown.

Files are chosen by their content (logs_window.select_files, the rule upkeep_log_scan uses too),
and each source says how many of its lines fall in the window, so an audit never reports "no
failed logins" for a log whose lines are all older.

Standard library only: shipped to managed hosts.
"""

from __future__ import annotations

import json
import re

from .auth_audit_db import FAIL, INVALID, SUCCESS
from .logs_files import FileReport, read_lines
from .logs_formats import epoch_of, first_field, split_syslog
from .logs_signatures import mask_secrets
from .logs_window import matching_files, mtime_of, select_files, stamp

AUTH_FORMATS = ("syslog", "json")
DEFAULT_FAILURE_EVENTS = ["login_failed", "login_failure", "auth.login_failed", "auth.failed", "signin_failed",
                          "user_signin_failed", "authentication_failed"]
DEFAULT_SUCCESS_EVENTS = ["login", "login_success", "login_succeeded", "auth.login_succeeded", "auth.login",
                          "signin_success", "user_signedin"]
JSON_AUTH_FIELDS = {
    "timestamp": ["timestamp", "time", "ts", "@timestamp"],
    "event": ["event", "action", "type", "event.action"],
    "ip": ["ip", "ip_address", "remote_ip", "client_ip", "req.ip", "remoteAddress", "source.ip"],
    "user": ["user", "username", "email", "user_email", "actor_username", "user.email", "user.name"],
}
# "none" is a client asking which methods the server allows before it tries one: every ssh
# client sends it first, so it is a probe, never a wrong credential.
PROBE_METHODS = frozenset(("none",))

_SSHD_FAILED = re.compile(r"^Failed (password|publickey|keyboard-interactive/pam|none|hostbased) for "
                          r"(invalid user )?(.*?) from (\S+) port \d+")
_SSHD_INVALID = re.compile(r"^Invalid user (.*?) from (\S+)(?: port \d+)?\s*$")
_SSHD_ACCEPTED = re.compile(r"^Accepted (\S+) for (\S+) from (\S+) port \d+")
_REPEATED = re.compile(r"^message repeated (\d+) times: \[ ?(.*?) ?\]$")


def source_spec():
    return dict(
        name=dict(type="str", required=True),
        format=dict(type="str", required=True, choices=list(AUTH_FORMATS)),
        paths=dict(type="list", elements="str", required=True),
        fields=dict(type="dict"),
        failure_events=dict(type="list", elements="str"),
        success_events=dict(type="list", elements="str"),
    )


class LineClock(object):
    """The lines of a source its format reads, seen against the window: how many, how many with a
    time, how many inside the window, the newest."""

    __slots__ = ("window", "read", "stamped", "in_window", "newest")

    def __init__(self, window):
        self.window = window
        self.read = self.stamped = self.in_window = 0
        self.newest = None

    def saw(self, ts):
        self.read += 1
        if ts is None:
            return
        self.stamped += 1
        if self.newest is None or ts > self.newest:
            self.newest = ts
        window = self.window
        if ts >= window.start and (window.bound is None or ts <= window.bound):
            self.in_window += 1


def sshd_events(lines, reference, years=None, clock=None):
    """(ts, kind, ip, user, method, invalid_user) of sshd's login lines in syslog text; other
    lines are skipped (and only timed by ``clock``). ``reference`` and ``years`` place year-less
    stamps (logs_formats.bsd_syslog_time)."""
    for line in lines:
        parts = split_syslog(line, reference, years)
        if parts is None:
            continue
        if clock is not None:
            clock.saw(parts[0])
        if not parts[2].startswith("sshd"):
            continue
        ts, message, times = parts[0], parts[3], 1
        repeated = _REPEATED.match(message)
        if repeated:
            times, message = int(repeated.group(1)), repeated.group(2)
        match = _SSHD_FAILED.match(message)
        if match:
            for _ in range(times):
                yield ts, FAIL, match.group(4), match.group(3), match.group(1), bool(match.group(2))
            continue
        match = _SSHD_INVALID.match(message)
        if match:
            yield ts, INVALID, match.group(2), match.group(1), None, True
            continue
        match = _SSHD_ACCEPTED.match(message)
        if match:
            yield ts, SUCCESS, match.group(3), match.group(2), match.group(1), False


def _json_names(source):
    names = dict(JSON_AUTH_FIELDS)
    for key, value in (source.get("fields") or {}).items():
        if value:
            names[key] = [value]
    return names


def _json_entries(lines):
    for line in lines:
        if not line.startswith("{"):
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            yield entry


def json_events(lines, source, clock=None):
    """(ts, kind, ip, user, None, False) of the configured auth events of a JSON log."""
    names = _json_names(source)
    failures = set(source.get("failure_events") or DEFAULT_FAILURE_EVENTS)
    successes = set(source.get("success_events") or DEFAULT_SUCCESS_EVENTS)
    for entry in _json_entries(lines):
        ts = epoch_of(first_field(entry, names["timestamp"]))
        if clock is not None:
            clock.saw(ts)
        event = first_field(entry, names["event"])
        kind = FAIL if event in failures else SUCCESS if event in successes else None
        if kind is None:
            continue
        ip, user = first_field(entry, names["ip"]), first_field(entry, names["user"])
        yield ts, kind, str(ip or "-"), str(user or "-"), None, False


def line_times(source):
    """``times_of(path, lines)`` for logs_window.select_files."""
    if source["format"] == "syslog":
        def times_of(path, lines):
            reference = mtime_of(path)
            return [parts[0] for parts in (split_syslog(line, reference) for line in lines) if parts]
        return times_of
    names = _json_names(source)
    return lambda path, lines: [epoch_of(first_field(entry, names["timestamp"])) for entry in _json_entries(lines)]


def collect_events(sources, window):
    """(events of the window and its baseline from every log source, file reports, per-source
    reads). A read is a dict: name, matched, skipped, lines, stamped, in_window, newest."""
    events, files, reads = [], [], []
    for source in sources:
        matched = matching_files(source["paths"])
        paths, skipped = select_files(matched, line_times(source), window)
        clock = LineClock(window)
        read = {"name": source["name"], "paths": source["paths"], "format": source["format"],
                "matched": len(matched), "skipped": skipped,
                "lines": 0, "clock": clock}
        for path in paths:
            report = FileReport(path)
            files.append(report)
            lines = read_lines(path, report)
            stream = sshd_events(lines, mtime_of(path) or window.end, report.years, clock) \
                if source["format"] == "syslog" else json_events(lines, source, clock)
            for ts, kind, ip, user, method, invalid in stream:
                ts = window.end if ts is None else ts
                if ts >= window.baseline_start and (window.bound is None or ts <= window.bound):
                    events.append((ts, kind, ip, mask_secrets(user)[:64], source["name"], method, invalid))
            read["lines"] += report.lines
        reads.append(read)
    events.sort(key=lambda event: event[0])
    return events, files, reads


def unread_reason(read, window):
    """Why a log source gave nothing about the window, or None when it holds lines of it."""
    clock = read["clock"]
    if not read["matched"]:
        return "no file matches %s" % ", ".join(read["paths"])
    if read["lines"] and not clock.read:
        return "format not recognised: none of its %d lines reads as %s" % (read["lines"], read["format"])
    if clock.in_window or (clock.read and not clock.stamped):
        return None  # lines without a time count as now, as the log scan counts them
    newest = [item["newest_line_epoch"] for item in read["skipped"] if "newest_line_epoch" in item]
    newest = max(newest + ([clock.newest] if clock.newest is not None else []), default=None)
    if not read["lines"] and not read["skipped"]:
        return "its files are empty"
    return "none of its lines is in the window %s (%d lines read%s; the newest at %s)" % (
        window.describe(), read["lines"], ", %d files with none of the window or its baseline" % len(read["skipped"])
        if read["skipped"] else "", stamp(newest))
