# -*- coding: utf-8 -*-
"""Helpers the ``upkeep_pg_health`` concerns share: query rows as dicts, the check builder that
applies the caller's host and finding cap, and the wording of durations and query text.

A concern is ``function(conn, context) -> check`` where ``context`` holds ``settings`` (the
validated thresholds), ``label`` (the check target), ``host``, ``server_version`` and a
per-database ``cache``. Remediation SQL in findings is advice for a person: the concerns run
nothing but SELECTs.
"""

from __future__ import annotations

from .result import check

def shorten(text, chars):
    """``text`` on one line, cut to ``chars`` characters."""
    flat = " ".join((text or "").split())
    return flat if len(flat) <= chars else flat[:chars - 3] + "..."


def human_seconds(seconds):
    seconds = int(round(seconds or 0))
    if seconds < 60:
        return "%ds" % seconds
    if seconds < 3600:
        return "%dm %02ds" % divmod(seconds, 60)
    hours, rest = divmod(seconds, 3600)
    return "%dh %02dm" % (hours, rest // 60)


def rows_of(conn, query, params=None):
    cursor = conn.execute(query, params or {})
    names = [column.name for column in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def build(context, check_id, status, summary, metrics, limits, findings, **extra):
    return check(check_id, context["label"], status, summary, metrics=metrics, thresholds=limits,
                 findings=findings[:context["settings"]["max_findings"]], host=context["host"], **extra)


def session_line(row, chars):
    return "user=%s application=%s client=%s query=%s" % (
        row.get("usename") or "?", row.get("application_name") or "-", row.get("client_addr") or "local",
        shorten(row.get("query"), chars) or "-")
