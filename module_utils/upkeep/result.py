# -*- coding: utf-8 -*-
"""The check contract every upkeep module returns (see DESIGN.md, "The check contract").

A module evaluates one or more checks; each is a small JSON-safe dict with a stable dotted id,
the target it looked at, a Nagios-style status, a one-line summary, metrics with the unit in
their name, the thresholds they were judged against, findings a person can act on, and how
long the evaluation took. An unhealthy target is a *result* (status critical), never a task
failure: ``failed`` is kept for "could not evaluate".

Standard library only: this file is shipped to managed hosts inside every module.
"""

from __future__ import annotations

import datetime
import decimal
import math
import re
import time

OK = "ok"
WARNING = "warning"
CRITICAL = "critical"
UNKNOWN = "unknown"

# Severity order used to pick the worst status. Unknown ranks above critical for the run's exit
# code (DESIGN.md: 3 means "unknown or the run itself failed"), so "worst" follows that order.
STATUSES = (OK, WARNING, CRITICAL, UNKNOWN)
_RANK = {status: rank for rank, status in enumerate(STATUSES)}

FINDING_SEVERITIES = ("info", WARNING, CRITICAL)

_ID_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")


class ParameterError(ValueError):
    """A parameter a module cannot work with; the message names the parameter and what is wrong.

    Modules turn it into ``fail_json(msg=...)``: the task fails as "could not evaluate" and the
    report shows it as unknown, never as a traceback.
    """


def worst(statuses):
    """The most severe of ``statuses`` (ok when empty)."""
    result = OK
    for status in statuses:
        if _RANK[status] > _RANK[result]:
            result = status
    return result


def exit_code_for(status):
    """The run exit code DESIGN.md assigns to a worst status."""
    return _RANK[status]


def judge(value, warning=None, critical=None, higher_is_worse=True):
    """Status of ``value`` against optional warning/critical limits.

    A limit of None is not checked. With ``higher_is_worse`` a value at or above a limit trips it
    (``>=``); otherwise at or below (for hit ratios, days left and the like).
    """
    if value is None:
        return UNKNOWN

    def tripped(limit):
        if limit is None:
            return False
        return value >= limit if higher_is_worse else value <= limit

    if tripped(critical):
        return CRITICAL
    if tripped(warning):
        return WARNING
    return OK


def thresholds(warning=None, critical=None, higher_is_worse=True):
    """The thresholds entry for one metric, as reports show it."""
    entry = {}
    if warning is not None:
        entry["warning"] = warning
    if critical is not None:
        entry["critical"] = critical
    if not higher_is_worse:
        entry["direction"] = "below"
    return entry


def finding(severity, title, resource="", detail="", remediation="", **extra):
    """One concrete item a person acts on. Extra keyword arguments (for example ``fingerprint``)
    are kept as they are."""
    if severity not in FINDING_SEVERITIES:
        raise ValueError("finding severity must be one of %s, got %r" % (", ".join(FINDING_SEVERITIES), severity))
    result = {
        "severity": severity,
        "title": title,
        "resource": resource,
        "detail": detail,
        "remediation": remediation,
    }
    result.update(extra)
    return result


def check(check_id, target, status, summary, metrics=None, thresholds=None, findings=None,
          duration_ms=None, host=None, **extra):
    """Build one check result, validated and made JSON-safe.

    ``host`` names the inventory host the check belongs to when one module call evaluates a
    whole fleet from the controller; reports file the check under that host.
    Extra keyword arguments (for example ``detail_path``) are kept as they are.
    """
    if not _ID_RE.match(check_id):
        raise ValueError("check id %r is not a dotted lower-case id like 'http.health'" % check_id)
    if status not in _RANK:
        raise ValueError("check status must be one of %s, got %r" % (", ".join(STATUSES), status))
    result = {
        "id": check_id,
        "target": str(target),
        "status": status,
        "summary": summary,
        "metrics": json_safe(metrics or {}),
        "thresholds": json_safe(thresholds or {}),
        "findings": json_safe(findings or []),
        "duration_ms": round(float(duration_ms), 1) if duration_ms is not None else None,
    }
    if host is not None:
        result["host"] = str(host)
    for key, value in extra.items():
        result[key] = json_safe(value)
    return result


def unknown_check(check_id, target, reason, host=None, duration_ms=None, remediation=""):
    """A check that could not be evaluated, with the reason as its summary."""
    findings = [finding(WARNING, "Check could not be evaluated", target, reason, remediation)] if remediation else []
    return check(check_id, target, UNKNOWN, reason, findings=findings, host=host, duration_ms=duration_ms)


def json_safe(value):
    """Convert ``value`` into plain JSON types.

    ansible-core 2.19 rejects module results holding Decimal, datetime, timedelta, bytes or
    non-string keys; psycopg returns all of those, so every result passes through here.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        return float(value) if value.is_finite() else None
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(item) for item in value]
    return str(value)


def summarize(checks):
    """Counts per status and the worst status of a list of checks."""
    counts = {status: 0 for status in STATUSES}
    for item in checks:
        counts[item["status"]] += 1
    return {"status": worst(item["status"] for item in checks), "counts": counts}


def module_result(checks, changed=False, **extra):
    """The keyword arguments a module passes to ``exit_json``."""
    summary = summarize(checks)
    result = {"changed": changed, "checks": checks, "status": summary["status"], "counts": summary["counts"]}
    result.update(extra)
    return result


class Stopwatch(object):
    """Elapsed milliseconds on a monotonic clock: ``with Stopwatch() as sw: ...; sw.ms``."""

    def __init__(self):
        self._start = None
        self._end = None

    def __enter__(self):
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc_info):
        self._end = time.perf_counter()
        return False

    @property
    def ms(self):
        end = self._end if self._end is not None else time.perf_counter()
        return (end - self._start) * 1000.0


def percentile(values, pct):
    """Linear-interpolated percentile (0-100) of a non-empty list of numbers."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values")
    position = (len(ordered) - 1) * pct / 100.0
    lower = int(math.floor(position))
    upper = min(lower + 1, len(ordered) - 1)
    weight = position - lower
    return ordered[lower] * (1 - weight) + ordered[upper] * weight


def item_where(items, index, list_key, host_var):
    """Where item ``index`` of a module's target list came from, for parameter messages.

    Fleet items (tagged with ``inventory_host`` by the upkeep_fleet filter) are named by their
    host and their index in that host's own inventory variable, e.g. ``web2:
    upkeep_http_endpoints[0]``: an index into the merged fleet list means nothing to the person
    fixing the inventory. Other items keep ``endpoints[3]``."""
    item = items[index]
    host = item.get("inventory_host") if isinstance(item, dict) else None
    if not host:
        return "%s[%d]" % (list_key, index)
    position = sum(1 for other in items[:index] if isinstance(other, dict) and other.get("inventory_host") == host)
    return "%s: %s[%d]" % (host, host_var, position)


# Ansible's argument-spec message for a value of the wrong type speaks Python ("argument 'x' is
# of type str and we were unable to convert to int: "'abc'" cannot be converted to an int"):
# said in a person's words, with the value.
_TYPE_MESSAGE = re.compile(r"argument '(?P<name>[^']+)' is of type (?:<class ')?(?P<got>\w+)(?:'>)?"
                           r"(?: found in '(?P<parent>[^']+)'\.?)?"
                           r" and we were unable to convert to (?P<want>\w+)(?::.*)?$", re.S)
_WANTED = {"int": "a whole number", "float": "a number", "bool": "true or false", "list": "a list",
           "dict": "a mapping (key: value)", "str": "text", "path": "a path", "jsonarg": "JSON", "json": "JSON",
           "bytes": "a size in bytes", "bits": "a size in bits"}
_GOT = {"str": "text", "int": "a whole number", "float": "a number", "bool": "true/false", "list": "a list",
        "dict": "a mapping", "NoneType": "nothing"}


def plain_type_message(message, values=None):
    """``samples: must be a whole number, got 'abc'`` for Ansible's wrong-type message (the value
    shown when ``values`` holds it); any other message unchanged."""
    found = _TYPE_MESSAGE.search(str(message))
    if not found:
        return message
    name, parent = found.group("name"), found.group("parent")
    value = (values or {}).get(name, _MISSING) if not parent else _MISSING
    got = repr(value) if value is not _MISSING and not isinstance(value, (dict, list)) else \
        _GOT.get(found.group("got"), found.group("got"))
    where = "%s.%s" % (parent, name) if parent else name
    return "%s: must be %s, got %s" % (where, _WANTED.get(found.group("want"), found.group("want")), got)


_MISSING = object()

