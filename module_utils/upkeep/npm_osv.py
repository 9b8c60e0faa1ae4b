# -*- coding: utf-8 -*-
"""Offline npm audit: match a package-lock.json against a local OSV advisory directory.

For air-gapped hosts and registries that refuse npm's bulk advisory endpoint. The lockfile's
installed packages (v2/v3 ``packages``, v1 nested ``dependencies``) are matched against OSV
records (https://ossf.github.io/osv-schema/) of the ``npm`` ecosystem: ``SEMVER`` ranges with
``introduced`` / ``fixed`` / ``last_affected`` events, evaluated with semver precedence (so
1.0.0-rc.1 is inside ``fixed: 1.0.0``), and explicit ``versions`` lists.

The result has the shape npm.py builds from an ``npm audit --json`` report, so one policy
evaluates both. Standard library only.
"""

from __future__ import annotations

import json
import os

from .semver import InvalidVersion, parse

SEVERITIES = ("info", "low", "moderate", "high", "critical")
# GitHub's OSV export names severities this way; an advisory without one counts as moderate
# (the default audit level) so an unknown severity is never silently dropped.
_GHSA_SEVERITY = {"LOW": "low", "MODERATE": "moderate", "MEDIUM": "moderate", "HIGH": "high", "CRITICAL": "critical"}
DEFAULT_SEVERITY = "moderate"


class OsvError(ValueError):
    """The advisory directory or the lockfile cannot be used (message says which file and why)."""


def load_advisories(directory):
    """npm-ecosystem OSV records under ``directory`` (searched recursively): {package: [record]}."""
    if not os.path.isdir(directory):
        raise OsvError("advisory directory %s does not exist" % directory)
    by_package = {}
    for root, _dirs, files in os.walk(directory):
        for name in sorted(files):
            if not name.endswith(".json"):
                continue
            path = os.path.join(root, name)
            try:
                with open(path, encoding="utf-8") as handle:
                    record = json.load(handle)
            except (OSError, ValueError) as exc:
                raise OsvError("cannot read OSV record %s: %s" % (path, exc))
            if not isinstance(record, dict) or "id" not in record:
                raise OsvError("%s is not an OSV record (no id)" % path)
            for affected in record.get("affected") or []:
                package = affected.get("package") or {}
                if package.get("ecosystem") == "npm" and package.get("name"):
                    by_package.setdefault(package["name"], []).append((record, affected))
    return by_package


def _severity(record, affected):
    for source in (affected.get("database_specific") or {}, record.get("database_specific") or {}):
        value = str(source.get("severity") or "").upper()
        if value in _GHSA_SEVERITY:
            return _GHSA_SEVERITY[value]
    return DEFAULT_SEVERITY


def _event_version(value):
    return None if value == "0" else parse(value)


def in_range(version, events):
    """Whether ``version`` (a semver Version) is affected by one OSV SEMVER range's ``events``.

    The OSV evaluation: walk the events in version order; ``introduced`` switches affected on
    from its version ("0" meaning from the start), ``fixed`` off from its version,
    ``last_affected`` off above its version.
    """
    def order(event):
        kind, value = next(iter(event.items()))
        point = _event_version(value)
        return (point is not None, point if point is not None else 0, kind)

    affected = False
    ordered = sorted((dict([item]) for event in events for item in event.items()
                      if item[0] in ("introduced", "fixed", "last_affected")), key=order)
    for event in ordered:
        kind, value = next(iter(event.items()))
        point = _event_version(value)
        if kind == "introduced" and (point is None or version >= point):
            affected = True
        elif kind == "fixed" and point is not None and version >= point:
            affected = False
        elif kind == "last_affected" and point is not None and version > point:
            affected = False
    return affected


def _range_text(events):
    parts = []
    for event in events:
        for kind, value in event.items():
            if kind == "introduced" and value != "0":
                parts.append(">=" + value)
            elif kind == "fixed":
                parts.append("<" + value)
            elif kind == "last_affected":
                parts.append("<=" + value)
    return " ".join(parts) or "*"


def match_version(version, affected):
    """(affected?, range text, lowest fixed version above ``version`` or None) for one OSV ``affected``."""
    if str(version) in [str(item) for item in affected.get("versions") or []]:
        return True, "=" + str(version), None
    for item in affected.get("ranges") or []:
        if item.get("type") != "SEMVER":
            continue  # GIT and ECOSYSTEM ranges cannot be evaluated against an npm version
        events = item.get("events") or []
        try:
            hit = in_range(version, events)
        except InvalidVersion:
            continue
        if hit:
            fixes = []
            for event in events:
                if "fixed" in event:
                    try:
                        fixes.append(parse(event["fixed"]))
                    except InvalidVersion:
                        pass
            fixes = sorted(fix for fix in fixes if fix > version)
            return True, _range_text(events), fixes[0] if fixes else None
    return False, "", None


def installed_packages(lockfile, manifest=None):
    """[(name, version text, is_direct, is_dev, path)] installed according to a parsed lockfile.

    ``manifest`` (package.json) names the direct dependencies for lockfile v1, which does not.
    """
    packages = lockfile.get("packages")
    if isinstance(packages, dict) and packages:
        root = packages.get("") or {}
        direct = set()
        for key in ("dependencies", "devDependencies", "optionalDependencies", "peerDependencies"):
            direct.update((root.get(key) or {}).keys())
        found = []
        for path, entry in packages.items():
            if not path or entry.get("link") or "node_modules/" not in path:
                continue
            name = path.rsplit("node_modules/", 1)[1]
            found.append((name, str(entry.get("version", "")), path == "node_modules/" + name and name in direct,
                          bool(entry.get("dev")), path))
        return found
    manifest = manifest or {}
    direct = set()
    for key in ("dependencies", "devDependencies", "optionalDependencies", "peerDependencies"):
        direct.update((manifest.get(key) or {}).keys())
    found = []

    def walk(tree, prefix, top):
        for name, entry in sorted((tree or {}).items()):
            path = prefix + "node_modules/" + name
            found.append((name, str(entry.get("version", "")), top and name in direct, bool(entry.get("dev")), path))
            walk(entry.get("dependencies"), path + "/", False)

    walk(lockfile.get("dependencies"), "", True)
    return found


def audit_lockfile(lockfile, advisories, manifest=None, omit_dev=False):
    """Vulnerable packages of a parsed lockfile, normalised like npm.normalize_report's output.

    Returns (vulnerabilities, dependencies_total, unparsed_versions).
    """
    vulnerable = {}
    unparsed = 0
    installed = installed_packages(lockfile, manifest)
    for name, version_text, is_direct, is_dev, path in installed:
        if omit_dev and is_dev:
            continue
        if name not in advisories:
            continue
        try:
            version = parse(version_text)
        except InvalidVersion:
            unparsed += 1  # git, file: or tarball dependencies: not comparable to advisory ranges
            continue
        for record, affected in advisories[name]:
            hit, range_text, fixed = match_version(version, affected)
            if not hit:
                continue
            entry = vulnerable.setdefault(name, {
                "name": name, "is_direct": False, "nodes": [], "versions": [], "advisories": [],
                "via_packages": [], "fix": None, "fixes": [],
            })
            entry["is_direct"] = entry["is_direct"] or is_direct
            if path not in entry["nodes"]:
                entry["nodes"].append(path)
                entry["versions"].append(str(version))
            if record["id"] not in [item["id"] for item in entry["advisories"]]:
                entry["advisories"].append({
                    "id": record["id"], "source": record["id"], "title": record.get("summary") or record["id"],
                    "url": _advisory_url(record), "severity": _severity(record, affected), "range": range_text,
                })
            entry["fixes"].append((version, fixed))
    for entry in vulnerable.values():
        entry["severity"] = max((item["severity"] for item in entry["advisories"]), key=SEVERITIES.index)
        fixes = entry.pop("fixes")
        if all(fixed is not None for _version, fixed in fixes):
            target = max(fixed for _version, fixed in fixes)
            entry["fix"] = {"name": entry["name"], "version": str(target),
                            "semver_major": any(target.major != version.major for version, _fixed in fixes)}
        else:
            entry["fix"] = False
    dependencies = sum(1 for item in installed if not (omit_dev and item[3]))
    return sorted(vulnerable.values(), key=lambda item: item["name"]), dependencies, unparsed


def _advisory_url(record):
    for reference in record.get("references") or []:
        if reference.get("type") == "ADVISORY" and reference.get("url"):
            return reference["url"]
    if str(record["id"]).startswith("GHSA-"):
        return "https://github.com/advisories/%s" % record["id"]
    return ""
