# -*- coding: utf-8 -*-
"""Acknowledged findings: a reviewed finding is kept in the result but stops counting.

Every finding a module wants to make acknowledgeable carries a ``fingerprint``: a short hash of
what the finding is *about* (check id, target, resource, kind), never of the numbers that move
between runs (sizes, counts, durations), so the same problem gets the same fingerprint next month.

The inventory keeps the acknowledgements as code::

    upkeep_postgres_acknowledgements:
      - fingerprint: 3f1c0a9e5b7d2c41
        reason: "Kept for the yearly report; dropped in Q3"
        expires: 2026-09-30
        by: alice

``apply()`` marks an unexpired match ``acknowledged: {reason, expires, by}`` and re-derives the
check's status from the findings that still count; an expired match counts again and carries
``acknowledgement_expired``. This fits checks whose status is the worst of their findings
(review-style checks); a check judged on a metric should not pass through it.

Standard library only.
"""

from __future__ import annotations

import datetime
import hashlib
import re

from .result import CRITICAL, OK, UNKNOWN, WARNING, ParameterError, worst

_FINGERPRINT_RE = re.compile(r"^[0-9a-f]{16}$")
_SEVERITY_STATUS = {"info": OK, WARNING: WARNING, CRITICAL: CRITICAL}


def fingerprint(check_id, target, resource, kind=""):
    """A stable 16-hex-digit id of one finding. Only identities go in, never measurements."""
    text = "\x1f".join(str(part) for part in (check_id, target, resource, kind))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def acknowledgement_spec():
    """The ``acknowledgements`` option (argument-spec form)."""
    return dict(type="list", elements="dict", default=[], options=dict(
        fingerprint=dict(type="str", required=True),
        reason=dict(type="str", required=True),
        expires=dict(type="str", required=True),
        by=dict(type="str"),
        inventory_host=dict(type="str"),
    ))


def _parse_date(value, where):
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.datetime.strptime(str(value), "%Y-%m-%d").date()
    except ValueError:
        raise ParameterError("%s.expires: must be a date YYYY-MM-DD, got %r" % (where, value))


def parse_acknowledgements(items, option="acknowledgements"):
    """``{fingerprint: {reason, expires (date), by}}`` from the option's list, validated."""
    index = {}
    for position, item in enumerate(items or []):
        where = "%s[%d]" % (option, position)
        if not isinstance(item, dict):
            raise ParameterError("%s: must be a dict with fingerprint, reason, expires, got %r" % (where, item))
        mark = str(item.get("fingerprint") or "").strip().lower()
        if not _FINGERPRINT_RE.match(mark):
            raise ParameterError("%s.fingerprint: must be the 16 hex digits a finding carries, got %r"
                                 % (where, item.get("fingerprint")))
        reason = str(item.get("reason") or "").strip()
        if not reason:
            raise ParameterError("%s.reason: say why the finding is accepted" % where)
        if not item.get("expires"):
            raise ParameterError("%s.expires: an acknowledgement needs an expiry date YYYY-MM-DD" % where)
        entry = {"reason": reason, "expires": _parse_date(item["expires"], where), "by": item.get("by") or ""}
        previous = index.get(mark)
        # The same finding acknowledged twice (two hosts, say): the later expiry wins.
        if previous is None or entry["expires"] > previous["expires"]:
            index[mark] = entry
    return index


def _public(entry):
    result = {"reason": entry["reason"], "expires": entry["expires"].isoformat()}
    if entry["by"]:
        result["by"] = entry["by"]
    return result


def apply(checks, acknowledgements, today=None):
    """Mark acknowledged findings in ``checks`` (in place, also returned) and re-derive each
    touched check's status. ``acknowledgements`` is parse_acknowledgements()'s result."""
    today = today or datetime.date.today()
    for item in checks:
        if item["status"] == UNKNOWN:
            continue
        counted, silenced, expired = [], 0, 0
        for found in item.get("findings", []):
            entry = acknowledgements.get(found.get("fingerprint"))
            if entry is not None and entry["expires"] >= today:
                found["acknowledged"] = _public(entry)
                silenced += 1
                continue
            if entry is not None:
                found["acknowledgement_expired"] = _public(entry)
                found["detail"] = ("acknowledgement expired on %s; " % entry["expires"].isoformat()) + found.get("detail", "")
                expired += 1
            counted.append(_SEVERITY_STATUS[found["severity"]])
        item.setdefault("metrics", {})["findings_acknowledged"] = silenced
        if silenced or expired:
            item["status"] = worst(counted)
            notes = []
            if silenced:
                notes.append("%d acknowledged" % silenced)
            if expired:
                notes.append("%d acknowledgement(s) expired" % expired)
            item["summary"] = "%s (%s)" % (item["summary"], ", ".join(notes))
    return checks


def status_of(findings):
    """A review check's status: the worst severity among its findings (info counts as ok)."""
    return worst(_SEVERITY_STATUS[found["severity"]] for found in findings)
