# -*- coding: utf-8 -*-
"""Pieces every PostgreSQL review check shares: the context it runs in, the check it returns
(status = worst finding, fingerprinted findings), SQL quoting for remediation text."""

from __future__ import annotations

from .ack import fingerprint, status_of
from .result import check, finding

# Marks upkeep's own statements, so the slow-query check can leave them out of pg_stat_statements.
TAG = "/* upkeep */ "
_SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
# Reserved words a bare identifier cannot be (the ones schema authors actually use as names).
_RESERVED = frozenset("""all analyse analyze and any array as asc asymmetric both case cast check collate column
constraint create current_catalog current_date current_role current_time current_timestamp current_user default
deferrable desc distinct do else end except false fetch for foreign from grant group having in initially intersect
into lateral leading limit localtime localtimestamp not null offset on only or order placing primary references
returning select session_user some symmetric table then to trailing true union unique user using variadic when
where window with""".split())


class Context(object):
    """What a check function needs besides the connection."""

    def __init__(self, label, host, settings, server_version_num):
        self.label = label
        self.host = host
        self.settings = settings
        self.server_version_num = server_version_num

    def finding(self, check_id, severity, title, resource, kind, detail="", remediation=""):
        """A finding with its fingerprint (check id, this target, resource, kind: no numbers)."""
        return finding(severity, title, resource, detail, remediation,
                       fingerprint=fingerprint(check_id, self.label, resource, kind))

    def review_check(self, check_id, summary, findings, metrics=None, thresholds=None, **extra):
        """The check: worst finding decides the status; at most max_findings kept (worst first)."""
        limit = int(self.settings.get("max_findings", 50))
        ranked = sorted(findings, key=lambda f: _SEVERITY_ORDER[f["severity"]])
        kept, left_out = ranked[:limit], max(0, len(ranked) - limit)
        metrics = dict(metrics or {}, findings=len(findings))
        if left_out:
            summary += "; %d more finding(s) not listed (max_findings %d)" % (left_out, limit)
        return check(check_id, self.label, status_of(findings), summary, metrics=metrics, thresholds=thresholds,
                     findings=kept, host=self.host, **extra)


def fetch(conn, query, params=None):
    """Rows of ``query`` as dicts."""
    cur = conn.execute(TAG + query, params)
    names = [column.name for column in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def quote_ident(name):
    if name.isascii() and name.isidentifier() and name == name.lower() and name not in _RESERVED:
        return name
    return '"%s"' % name.replace('"', '""')


def qualified(schema, name):
    """schema.name quoted as SQL wants it (for remediation text)."""
    return "%s.%s" % (quote_ident(schema), quote_ident(name))


def human_bytes(value):
    value = float(value or 0)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(value) < 1024 or unit == "TB":
            return ("%d %s" % (value, unit)) if unit == "B" else ("%.1f %s" % (value, unit))
        value /= 1024.0
