# -*- coding: utf-8 -*-
"""The ``npm.audit`` policy (as audit-ci): one verdict from normalised vulnerabilities, whichever
source (npm's report or the offline OSV match) produced them.

Vulnerabilities at or above ``audit_level`` count, unless every advisory behind them is on the
allowlist with an unexpired date. Counted high/critical make the check critical, counted
low/moderate a warning; the rest appear as info findings. An expired allowlist entry no longer
suppresses anything and is itself a warning finding. What could not be read or rated leaves the
verdict open (``unknown``) unless it is critical anyway.

Standard library only: it runs on the app host.
"""

from __future__ import annotations

import datetime

from .npm_osv import SEVERITIES
from .result import CRITICAL, OK, UNKNOWN, WARNING, ParameterError, check, finding

CHECK_ID = "npm.audit"
MAX_FINDINGS = 40


def allowlist_spec():
    return dict(
        id=dict(type="str", required=True),
        reason=dict(type="str", required=True),
        expires=dict(type="str", required=True),
        package=dict(type="str"),
    )


# -- allowlist ------------------------------------------------------------------------------------

def parse_allowlist(entries, today):
    """Validated allowlist: [{id, reason, expires (date), package, expired}]."""
    parsed = []
    for index, entry in enumerate(entries or []):
        where = "allowlist[%d]" % index
        if not isinstance(entry, dict):
            raise ParameterError("%s: must be a dict with id, reason and expires" % where)
        for key in ("id", "reason", "expires"):
            if not str(entry.get(key) or "").strip():
                raise ParameterError("%s.%s: required (an allowlisted advisory needs an id, a reason and an expiry date)"
                                     % (where, key))
        try:
            expires = datetime.date.fromisoformat(str(entry["expires"]).strip())
        except ValueError:
            raise ParameterError("%s.expires: must be a date YYYY-MM-DD, got %r" % (where, entry["expires"]))
        parsed.append({"id": str(entry["id"]).strip(), "reason": str(entry["reason"]), "expires": expires,
                       "package": entry.get("package"), "expired": expires < today})
    return parsed


def _allowed(advisory, package, allowlist):
    """The allowlist entry covering ``advisory`` of ``package`` (expired ones too), or None."""
    keys = {str(advisory.get("id")), str(advisory.get("source"))}
    for entry in allowlist:
        if entry["id"] in keys and (not entry["package"] or entry["package"] == package):
            return entry
    return None


# -- policy ---------------------------------------------------------------------------------------

def _reachable_advisories(name, by_name, seen=None):
    """Advisories behind a vulnerable package: its own and those of the packages it is affected through."""
    seen = seen if seen is not None else set()
    if name in seen or name not in by_name:
        return []
    seen.add(name)
    entry = by_name[name]
    found = [(name, advisory) for advisory in entry["advisories"]]
    for other in entry["via_packages"]:
        found.extend(_reachable_advisories(other, by_name, seen))
    return found


def evaluate(vulnerabilities, audit_level, allowlist, target, source, dependencies_total=None, host=None,
             duration_ms=None, notes=(), unevaluated=()):
    """The ``npm.audit`` check for normalised ``vulnerabilities`` under the policy.

    ``unevaluated`` lists advisory ranges that could not be evaluated (npm_osv problems). They and
    advisories whose severity could not be computed (``unscored``) leave the verdict open: the
    check is ``unknown`` with the reason unless it is critical anyway, which nothing unread can undo.
    """
    threshold = len(SEVERITIES) if audit_level == "none" else SEVERITIES.index(audit_level)
    by_name = {item["name"]: item for item in vulnerabilities}
    counts = {severity: 0 for severity in SEVERITIES}
    counted = {severity: 0 for severity in SEVERITIES}
    findings, below, used_entries, unscored = [], [], {}, {}
    direct = transitive = fixable = major_fixes = allowlisted = 0
    for item in vulnerabilities:
        counts[item["severity"]] = counts.get(item["severity"], 0) + 1
        live = []
        for package, advisory in _reachable_advisories(item["name"], by_name):
            entry = _allowed(advisory, package, allowlist)
            if entry is not None:
                used_entries[entry["id"]] = entry
            if entry is None or entry["expired"]:
                live.append(advisory)
        if not live and (item["advisories"] or item["via_packages"]):
            allowlisted += 1
            continue
        for advisory in live:
            if advisory.get("unscored"):
                unscored.setdefault(advisory["id"], (item["name"], advisory["unscored"]))
        severity = max((advisory["severity"] for advisory in live), key=_rank, default=item["severity"])
        severity = min(severity, item["severity"], key=_rank)  # npm's package severity caps what it inherits
        if _rank(severity) < threshold:
            below.append((item, severity))
            continue
        counted[severity] += 1
        direct += item["is_direct"]
        transitive += not item["is_direct"]
        fix = item["fix"]
        fixable += bool(fix)
        major_fixes += isinstance(fix, dict) and fix["semver_major"]
        findings.append(_finding(item, severity, live))
    for item, severity in below:
        findings.append(_finding(item, severity, item["advisories"], info=True))
    for entry in used_entries.values():
        if entry["expired"]:
            findings.append(finding(WARNING, "Allowlist entry %s expired on %s" % (entry["id"], entry["expires"]),
                                    target, "reason given: %s" % entry["reason"],
                                    "Fix the vulnerability, or review the risk again and extend the expiry date."))
    for note in notes:
        findings.append(finding("info", note, target))
    for advisory_id, (package, reason) in sorted(unscored.items()):
        findings.append(finding(WARNING, "Severity of %s (%s) not computed" % (advisory_id, package), target,
                                reason, "Install the cvss package on this host, or use an advisory database "
                                        "that labels severities (GitHub's database_specific.severity)."))
    for problem in unevaluated:
        findings.append(finding(WARNING, "Advisory %s not evaluated for %s@%s" % (problem["id"], problem["package"],
                                                                               problem["version"]),
                                problem.get("node") or target, problem["problem"],
                                "Correct the record in the advisory database (OSV SEMVER bounds are semantic "
                                "versions), or check this package against the advisory by hand."))
    high = counted["critical"] + counted["high"]
    total_counted = sum(counted.values())
    status = CRITICAL if high else WARNING if total_counted else OK
    open_questions = []
    if unscored:
        open_questions.append("severity of %d advisor%s not computed (%s)" % (
            len(unscored), "y" if len(unscored) == 1 else "ies", "; ".join(
                "%s: %s" % (key, reason) for key, (_package, reason) in sorted(unscored.items()))[:300]))
    if unevaluated:
        open_questions.append("%d advisory range%s not evaluated (%s)" % (
            len(unevaluated), "" if len(unevaluated) == 1 else "s", "; ".join(
                "%s for %s@%s: %s" % (p["id"], p["package"], p["version"], p["problem"]) for p in unevaluated)[:300]))
    if open_questions and status != CRITICAL:
        status = UNKNOWN
    findings.sort(key=lambda item: ("critical", "warning", "info").index(item["severity"]))
    dropped = max(0, len(findings) - MAX_FINDINGS)
    findings = findings[:MAX_FINDINGS]
    metrics = {"vulnerabilities_total": sum(counts.values()), "counted_total": total_counted,
               "direct_count": direct, "transitive_count": transitive, "fix_available_count": fixable,
               "semver_major_fix_count": major_fixes, "allowlisted_count": allowlisted,
               "findings_dropped_count": dropped, "unscored_advisories_count": len(unscored),
               "unevaluated_ranges_count": len(unevaluated)}
    for severity in SEVERITIES:
        metrics["vulnerabilities_%s" % severity] = counts[severity]
    if dependencies_total is not None:
        metrics["dependencies_total"] = dependencies_total
    parts = ["%d %s" % (counted[s], s) for s in reversed(SEVERITIES) if counted[s]]
    summary = ("%d vulnerable package%s at or above %s (%s)" % (total_counted, "" if total_counted == 1 else "s",
                                                                audit_level, ", ".join(parts))
               if total_counted else "no vulnerable packages at or above %s" % audit_level)
    extra = sum(counts.values()) - total_counted
    if extra:
        summary += "; %d more below the level or allowlisted" % extra
    if status == UNKNOWN:
        summary = "cannot tell: %s; %s" % ("; ".join(open_questions), summary)
    summary += " [source: %s]" % source
    return check(CHECK_ID, target, status, summary, metrics=metrics,
                 thresholds={"audit_level": {"critical": "high", "warning": audit_level}},
                 findings=findings, duration_ms=duration_ms, host=host, source=source, audit_level=audit_level)


_BASIS = {"default": "not rated by the record, counted as moderate", "unscored": "not computed, counted as moderate"}


def _rank(severity):
    return SEVERITIES.index(severity) if severity in SEVERITIES else SEVERITIES.index("moderate")


def _finding(item, severity, advisories, info=False):
    ids = ", ".join(sorted({advisory["id"] for advisory in advisories})) or "via " + ", ".join(item["via_packages"])
    titles = "; ".join(sorted({advisory["title"] for advisory in advisories if advisory["title"]}))
    kind = "direct" if item["is_direct"] else "transitive"
    if item["via_packages"] and not item["advisories"]:
        titles = titles or "vulnerable through " + ", ".join(item["via_packages"])
    fix = item["fix"]
    if isinstance(fix, dict):
        remediation = ("Upgrade to %s@%s%s." % (fix["name"], fix["version"],
                       " - a semver-major change: test before deploying (npm audit fix --force)"
                       if fix["semver_major"] else " (npm audit fix)"))
    elif fix:
        remediation = "npm audit fix resolves it within the declared ranges."
    else:
        remediation = "No fix is available: replace the package, mitigate, or allowlist with a reason and an expiry date."
    level = "info" if info else (CRITICAL if severity in ("high", "critical") else WARNING)
    # Which field decided the severity, when it was not GitHub's label (npm_severity.py's order).
    bases = sorted({"%s: %s" % (advisory["id"], _BASIS.get(advisory["severity_basis"], "from " + advisory["severity_basis"]))
                    for advisory in advisories if advisory.get("severity_basis", "github") != "github"})
    detail = titles[:300] + (" [severity %s]" % "; ".join(bases) if bases else "")
    return finding(level, "%s (%s, %s): %s" % (item["name"], severity, kind, ids), ", ".join(item["nodes"]) or item["name"],
                   detail, remediation)
