# -*- coding: utf-8 -*-
"""The npm severity level (info, low, moderate, high, critical) of one OSV advisory.

Which field wins, in this order:

1. ``database_specific.severity`` (of the ``affected`` entry, then of the record): GitHub's
   label. It is what ``npm audit`` itself reports for the same advisory, so the ``npm``, ``osv``
   and ``auto`` sources give one verdict; GitHub derives it from the advisory's CVSS score.
2. The OSV standard ``severity`` field (of the ``affected`` entry, then of the record): the newest
   CVSS version present (CVSS_V4, then CVSS_V3, then CVSS_V2) is scored by the ``cvss`` package
   and its qualitative rating mapped to npm's levels: None -> info, Low -> low, Medium ->
   moderate, High -> high, Critical -> critical.
3. Neither: moderate, the default audit level, so an advisory without a rating still counts.

Where this runs: upkeep_npm_audit runs on the app host, whose Python may have nothing but the
standard library (DESIGN.md). Scoring a vector by hand would be a second, unreviewed CVSS
implementation, so ``cvss`` is an optional import instead. Without it (or with a vector it
rejects), an advisory that carries only a vector is *unscored*: it keeps the placeholder level
moderate, says why in ``unscored``, and the policy (npm.evaluate) makes the check ``unknown``
unless it is critical anyway - a missing library must not turn a critical advisory into a
moderate one silently. GitHub-labelled records, the common case, never need the library.
"""

from __future__ import annotations

try:
    import cvss as _cvss
except ImportError:  # optional on the host: only vector-only records need it (see above)
    _cvss = None

SEVERITIES = ("info", "low", "moderate", "high", "critical")
DEFAULT_SEVERITY = "moderate"
# GitHub's OSV export names severities this way.
_GHSA_SEVERITY = {"LOW": "low", "MODERATE": "moderate", "MEDIUM": "moderate", "HIGH": "high", "CRITICAL": "critical"}
# FIRST's qualitative rating scale (CVSS v3.1/v4.0 specifications), as the cvss package names it.
_RATING = {"none": "info", "low": "low", "medium": "moderate", "high": "high", "critical": "critical"}
_VECTOR_TYPES = ("CVSS_V4", "CVSS_V3", "CVSS_V2")
CVSS_MISSING = "the cvss Python package is not installed on this host (pip install cvss)"


def _label(sources):
    for source in sources:
        value = str((source or {}).get("severity") or "").upper()
        if value in _GHSA_SEVERITY:
            return _GHSA_SEVERITY[value]
    return None


def _vector(entries):
    """(type, vector) of the newest CVSS version among OSV ``severity`` entries, or None."""
    by_type = {}
    for entries_of_one_level in entries:
        for item in entries_of_one_level or []:
            by_type.setdefault(item.get("type"), item.get("score"))
    for kind in _VECTOR_TYPES:
        if by_type.get(kind):
            return kind, by_type[kind]
    return None


def score_vector(kind, vector):
    """(base score, npm level) of a CVSS vector; ValueError with the reason when it cannot be scored."""
    if _cvss is None:
        raise ValueError(CVSS_MISSING)
    try:
        if kind == "CVSS_V4":
            parsed = _cvss.CVSS4(vector)
            score, rating = parsed.base_score, parsed.severity
        else:
            parsed = (_cvss.CVSS3 if kind == "CVSS_V3" else _cvss.CVSS2)(vector)
            score, rating = parsed.scores()[0], parsed.severities()[0]
    except _cvss.CVSSError as exc:
        raise ValueError("malformed %s vector %r: %s" % (kind, vector, exc))
    level = _RATING.get(str(rating).lower())
    if level is None:
        raise ValueError("%s vector %r has no qualitative rating (%r)" % (kind, vector, rating))
    return float(score), level


def advisory_severity(record, affected):
    """{severity, basis, score, unscored} of one advisory for one affected package (see module doc).

    ``basis`` says which field decided (``github``, ``CVSS_V3 9.8``, ``default``, ``unscored``);
    ``unscored`` is None or the reason a vector could not be scored.
    """
    label = _label((affected.get("database_specific"), record.get("database_specific")))
    if label:
        return {"severity": label, "basis": "github", "score": None, "unscored": None}
    found = _vector((affected.get("severity"), record.get("severity")))
    if found is None:
        return {"severity": DEFAULT_SEVERITY, "basis": "default", "score": None, "unscored": None}
    kind, vector = found
    try:
        score, level = score_vector(kind, vector)
    except ValueError as exc:
        return {"severity": DEFAULT_SEVERITY, "basis": "unscored", "score": None,
                "unscored": "%s: %s" % (vector, exc) if _cvss is None else str(exc)}
    return {"severity": level, "basis": "%s %.1f" % (kind, score), "score": score, "unscored": None}
