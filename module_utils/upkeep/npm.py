# -*- coding: utf-8 -*-
"""``npm.audit``: known vulnerabilities in an npm project's installed dependencies, under a policy.

Two sources, one result shape:

- ``npm``: runs ``npm audit --json`` in the project (a lockfile is required) and reads the npm 7+
  report (``auditReportVersion: 2``). A report that is not one - the registry refusing the bulk
  advisory endpoint (HTTP 405), no network, an npm 6 report - is ``unknown`` with the reason,
  never "0 vulnerabilities".
- ``osv``: matches the lockfile against a local OSV directory (npm_osv.py), for air-gapped hosts.
- ``auto``: ``npm``, falling back to ``osv`` when npm cannot produce a report and an OSV
  directory is configured; the check says which source answered and why.

Policy (as audit-ci): vulnerabilities at or above ``audit_level`` count, unless every advisory
behind them is on the allowlist with an unexpired date. Counted high/critical make the check
critical, counted low/moderate a warning; the rest appear as info findings. An expired allowlist
entry no longer suppresses anything and is itself a warning finding.

Standard library only: it runs on the app host.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import subprocess

from .npm_lockfile import ProjectFileError, read_project
from .npm_osv import SEVERITIES, OsvError, audit_installed, load_advisories
from .result import CRITICAL, OK, UNKNOWN, WARNING, ParameterError, Stopwatch, check, finding, unknown_check

CHECK_ID = "npm.audit"
MODES = ("npm", "osv", "auto")
AUDIT_LEVELS = ("info", "low", "moderate", "high", "critical", "none")
LOCKFILES = ("npm-shrinkwrap.json", "package-lock.json")
MAX_FINDINGS = 40
_GHSA = re.compile(r"GHSA(-[23456789cfghjmpqrvwx]{4}){3}")
_USERINFO = re.compile(r"(https?://)[^/@\s]+@")


def project_spec():
    """Options of one project (argument-spec form); unset values inherit the top level."""
    return dict(
        path=dict(type="path", required=True),
        name=dict(type="str"),
        mode=dict(type="str", choices=list(MODES)),
        osv_dir=dict(type="path"),
        audit_level=dict(type="str", choices=list(AUDIT_LEVELS)),
        omit_dev=dict(type="bool"),
    )


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


# -- reading npm's report -------------------------------------------------------------------------

class ReportError(ValueError):
    """npm produced no usable audit report; the message is the reason shown as unknown."""


def _advisory_id(via):
    match = _GHSA.search(str(via.get("url") or ""))
    return match.group(0) if match else str(via.get("source"))


def normalize_report(report):
    """(vulnerabilities, dependencies_total) from an npm 7+ ``npm audit --json`` report.

    Each vulnerability: name, severity, is_direct, nodes, advisories (its own), via_packages
    (vulnerable dependencies it is affected through), fix (False, True, or {name, version,
    semver_major}). Raises ReportError for anything that is not such a report.
    """
    if not isinstance(report, dict):
        raise ReportError("npm audit printed no JSON object")
    if report.get("auditReportVersion") != 2 or not isinstance(report.get("vulnerabilities"), dict):
        raise ReportError(_failure_reason(report))
    found = []
    for key, item in sorted(report["vulnerabilities"].items()):
        advisories, via_packages = [], []
        for via in item.get("via") or []:
            if isinstance(via, dict):
                advisories.append({"id": _advisory_id(via), "source": str(via.get("source")),
                                   "title": str(via.get("title") or ""), "url": str(via.get("url") or ""),
                                   "severity": str(via.get("severity") or "moderate"),
                                   "range": str(via.get("range") or "")})
            else:
                via_packages.append(str(via))
        fix = item.get("fixAvailable")
        if isinstance(fix, dict):
            fix = {"name": fix.get("name"), "version": fix.get("version"), "semver_major": bool(fix.get("isSemVerMajor"))}
        found.append({"name": item.get("name") or key, "severity": str(item.get("severity") or "moderate"),
                      "is_direct": bool(item.get("isDirect")), "nodes": list(item.get("nodes") or []),
                      "versions": [], "range": str(item.get("range") or ""), "advisories": advisories,
                      "via_packages": via_packages, "fix": fix if fix is not None else False})
    dependencies = (report.get("metadata") or {}).get("dependencies") or {}
    total = dependencies.get("total") if isinstance(dependencies, dict) else None
    return found, total


def _failure_reason(report):
    status = report.get("statusCode")
    error = report.get("error")
    message = str(report.get("message") or "")
    if isinstance(error, dict):
        message = message or str(error.get("summary") or error.get("code") or "")
    elif error:
        message = message or str(error)
    message = _USERINFO.sub(r"\1", " ".join(message.split()))[:300]
    if status == 405 or "405" in message:
        return ("the registry refused npm's bulk advisory endpoint (HTTP 405 Method Not Allowed), so npm could not "
                "audit; this is not a clean result (%s)" % message)
    if "advisories" in report and "auditReportVersion" not in report:
        return "npm printed an npm 6 audit report; upkeep reads npm 7+ reports (auditReportVersion 2)"
    if status:
        return "the registry answered the audit request with HTTP %s: %s" % (status, message)
    return "npm audit produced no report: %s" % (message or "unexpected output")


def run_npm_audit(npm_path, project_dir, omit_dev=False, timeout_s=120):
    """Parsed JSON printed by ``npm audit --json`` in ``project_dir``; ReportError if none."""
    argv = [npm_path, "audit", "--json"] + (["--omit=dev"] if omit_dev else [])
    try:
        completed = subprocess.run(argv, cwd=project_dir, capture_output=True, text=True, timeout=timeout_s,
                                   stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ReportError("npm audit did not finish within %d s (registry unreachable?)" % timeout_s)
    except OSError as exc:
        raise ReportError("cannot run %s: %s" % (npm_path, exc))
    try:
        return json.loads(completed.stdout)
    except ValueError:
        tail = " ".join((completed.stderr or completed.stdout or "").split())[-300:]
        raise ReportError("npm audit exited %d without a JSON report: %s" % (completed.returncode, _USERINFO.sub(r"\1", tail)))


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


# -- one project ----------------------------------------------------------------------------------

def _lockfile(project_dir):
    for name in LOCKFILES:
        path = os.path.join(project_dir, name)
        if os.path.isfile(path):
            return path
    return None


def audit_project(settings, npm_path, allowlist, timeout_s=120):
    """The ``npm.audit`` check of one project (settings merged with defaults, see audit_projects)."""
    target = settings["name"] or settings["path"]
    host = settings.get("inventory_host")
    with Stopwatch() as watch:
        if not os.path.isdir(settings["path"]):
            return unknown_check(CHECK_ID, target, "project directory %s does not exist" % settings["path"], host=host)
        lockfile = _lockfile(settings["path"])
        if lockfile is None:
            return unknown_check(CHECK_ID, target, "no package-lock.json or npm-shrinkwrap.json in %s: the audit needs a "
                                 "lockfile" % settings["path"], host=host,
                                 remediation="Commit the lockfile (npm install --package-lock-only creates one).")
        manifest = os.path.join(settings["path"], "package.json")
        try:
            # Read in every mode: npm audit, too, calls an empty or broken lockfile clean.
            installed, declared = read_project(lockfile, manifest if os.path.isfile(manifest) else None)
        except ProjectFileError as exc:
            return unknown_check(CHECK_ID, target, str(exc), host=host, duration_ms=watch.ms,
                                 remediation="Regenerate the file with npm install (or restore it from version control).")
        if declared and not installed:
            return unknown_check(
                CHECK_ID, target, "%s lists no installed packages while package.json declares %d dependenc%s (%s): "
                "nothing was audited" % (lockfile, len(declared), "y" if len(declared) == 1 else "ies",
                                         ", ".join(declared[:5]) + (", ..." if len(declared) > 5 else "")),
                host=host, duration_ms=watch.ms,
                remediation="Run npm install (or npm install --package-lock-only) and commit the lockfile it writes.")
        notes, source, unevaluated = [], settings["mode"], []
        if settings["mode"] in ("npm", "auto"):
            try:
                if not npm_path:
                    raise ReportError("npm is not installed on this host (not found on PATH)")
                vulnerabilities, total = normalize_report(run_npm_audit(npm_path, settings["path"], settings["omit_dev"],
                                                                        timeout_s))
                source = "npm"
            except ReportError as exc:
                if settings["mode"] == "npm" or not settings["osv_dir"]:
                    return unknown_check(CHECK_ID, target, str(exc), host=host, duration_ms=watch.ms,
                                         remediation="Audit offline against an OSV advisory directory (mode: osv or auto "
                                                     "with osv_dir), or audit from a host whose registry serves the "
                                                     "bulk advisory endpoint.")
                notes.append("npm audit unavailable, used the offline advisory database: %s" % exc)
                source = "osv"
        if source == "osv":
            try:
                advisories = load_advisories(settings["osv_dir"])
            except OsvError as exc:
                return unknown_check(CHECK_ID, target, "offline audit failed: %s" % exc, host=host, duration_ms=watch.ms,
                                     remediation="Repair or re-sync the OSV advisory directory.")
            vulnerabilities, total, unparsed, unevaluated = audit_installed(installed, advisories, settings["omit_dev"])
            if unparsed:
                notes.append("%d installed package(s) with non-semver versions (git, file, tarball) not checked" % unparsed)
            source = "osv:%s" % settings["osv_dir"]
    return evaluate(vulnerabilities, settings["audit_level"], allowlist, target, source, total, host=host,
                    duration_ms=watch.ms, notes=notes, unevaluated=unevaluated)


def audit_projects(params, npm_path, today=None):
    """``npm.audit`` checks for the projects of one upkeep_npm_audit call (its params as a dict)."""
    today = today or datetime.date.today()
    allowlist = parse_allowlist(params.get("allowlist"), today)
    defaults = {"mode": params.get("mode") or "npm", "osv_dir": params.get("osv_dir"),
                "audit_level": params.get("audit_level") or "moderate", "omit_dev": bool(params.get("omit_dev"))}
    projects = params.get("projects")
    if projects is None:
        if not params.get("path"):
            raise ParameterError("path: required when projects is not given")
        projects = [{"path": params["path"], "name": params.get("name")}]
    timeout_s = params.get("timeout_s") or 120
    prepared = []
    for index, raw in enumerate(projects):
        where = "projects[%d]" % index
        if not isinstance(raw, dict) or not raw.get("path"):
            raise ParameterError("%s.path: required (the project directory holding package.json)" % where)
        settings = dict(defaults)
        settings.update({key: value for key, value in raw.items() if value is not None})
        settings.setdefault("name", None)
        if settings["mode"] not in MODES:
            raise ParameterError("%s.mode: must be one of %s, got %r" % (where, ", ".join(MODES), settings["mode"]))
        if settings["audit_level"] not in AUDIT_LEVELS:
            raise ParameterError("%s.audit_level: must be one of %s, got %r"
                                 % (where, ", ".join(AUDIT_LEVELS), settings["audit_level"]))
        if settings["mode"] == "osv" and not settings["osv_dir"]:
            raise ParameterError("%s.osv_dir: required with mode osv" % where)
        prepared.append(settings)
    return [audit_project(settings, npm_path, allowlist, timeout_s) for settings in prepared]
