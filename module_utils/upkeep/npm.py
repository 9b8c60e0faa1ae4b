# -*- coding: utf-8 -*-
"""``npm.audit``: known vulnerabilities in an npm project's installed dependencies, under a policy.

Two sources, one result shape:

- ``npm``: runs ``npm audit --json`` in the project (a lockfile is required) and reads the npm 7+
  report (``auditReportVersion: 2``). A report that is not one - the registry refusing the bulk
  advisory endpoint (HTTP 405), no network, an npm 6 report - is ``unknown`` with the reason,
  never "0 vulnerabilities".
- ``osv``: matches the lockfile against a local OSV directory (npm_osv.py), for air-gapped hosts.
  Severities: npm_severity.py says which field wins.
- ``auto``: ``npm``, falling back to ``osv`` when npm cannot produce a report and an OSV
  directory is configured; the check says which source answered and why.

In every mode the project's package.json and lockfile are read first (npm_lockfile.py): a file
of the wrong shape, or a lockfile listing nothing while package.json declares dependencies, is
``unknown`` naming the file, since npm audit too would call such a project clean. The policy
that turns vulnerabilities into a verdict is npm_policy.py.

Standard library only: it runs on the app host.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import subprocess

from .npm_lockfile import ProjectFileError, read_project
from .npm_osv import OsvError, audit_installed, load_advisories
from .npm_policy import CHECK_ID, allowlist_spec, evaluate, parse_allowlist  # noqa: F401 (the module's spec)
from .result import ParameterError, Stopwatch, unknown_check

MODES = ("npm", "osv", "auto")
AUDIT_LEVELS = ("info", "low", "moderate", "high", "critical", "none")
LOCKFILES = ("npm-shrinkwrap.json", "package-lock.json")
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

# -- one project ----------------------------------------------------------------------------------

def _lockfile(project_dir):
    for name in LOCKFILES:
        path = os.path.join(project_dir, name)
        if os.path.isfile(path):
            return path
    return None


def _advisories(directory, cache):
    """load_advisories once per directory and module call: a full npm export is tens of thousands of
    files, and a host's projects usually share one directory. Errors are remembered too."""
    if cache is None:
        return load_advisories(directory)
    if directory not in cache:
        try:
            cache[directory] = load_advisories(directory)
        except OsvError as exc:
            cache[directory] = exc
    if isinstance(cache[directory], OsvError):
        raise cache[directory]
    return cache[directory]


def audit_project(settings, npm_path, allowlist, timeout_s=120, advisory_cache=None):
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
            # Read in every mode: npm audit, too, reports a lockfile that lists nothing as 0 vulnerabilities.
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
                advisories = _advisories(settings["osv_dir"], advisory_cache)
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
    cache = {}
    return [audit_project(settings, npm_path, allowlist, timeout_s, cache) for settings in prepared]
