# -*- coding: utf-8 -*-
"""Offline npm audit: match a project's installed packages against a local OSV advisory directory.

For air-gapped hosts and registries that refuse npm's bulk advisory endpoint. Installed packages
come from npm_lockfile.py; OSV records (https://ossf.github.io/osv-schema/) of the ``npm``
ecosystem are matched by their ``SEMVER`` ranges (and ``ECOSYSTEM`` ranges, whose order for npm
is semver's) with ``introduced`` / ``fixed`` / ``last_affected`` events, evaluated with semver
precedence (so 1.0.0-rc.1 is inside ``fixed: 1.0.0``), and by explicit ``versions`` lists.

Every record is checked for shape when it is loaded: a record whose fields have the wrong types
is an OsvError naming the file and the field, so the project's check is ``unknown`` rather than
the task dying on a TypeError. A range bound that is not a semantic version cannot be evaluated;
it is returned as a problem (the check reports it) instead of the range being skipped quietly.

The result has the shape npm.py builds from an ``npm audit --json`` report, so one policy
evaluates both. Standard library only; scoring CVSS vectors uses the optional ``cvss`` package
(npm_severity.py).
"""

from __future__ import annotations

import json
import os

from .npm_severity import SEVERITIES, advisory_severity
from .semver import InvalidVersion, parse

__all__ = ["SEVERITIES", "OsvError", "load_advisories", "in_range", "match_version", "audit_installed"]

_RANGE_EVENTS = ("introduced", "fixed", "last_affected")


class OsvError(ValueError):
    """The advisory directory or one of its records cannot be used (message says which file and why)."""


# -- loading and checking records -----------------------------------------------------------------

def _kind(value):
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def _expect(value, kind, where, optional=True):
    """``value`` when it has ``kind`` (None allowed when optional); OsvError naming ``where`` otherwise."""
    if value is None and optional:
        return kind()
    if not isinstance(value, kind) or isinstance(value, bool):
        wanted = {dict: "an object", list: "an array", str: "a string"}[kind]
        raise OsvError("%s must be %s, got %s" % (where, wanted, _kind(value)))
    return value


def check_record(record, path):
    """Raise OsvError (naming ``path`` and the field) unless ``record`` has the OSV shape this code reads."""
    if not isinstance(record, dict):
        raise OsvError("%s holds %s, not an OSV record (an object with an id)" % (path, _kind(record)))
    if not str(record.get("id") or "").strip() or not isinstance(record["id"], str):
        raise OsvError("%s: id must be a non-empty string" % path)
    where = "%s (%s): " % (path, record["id"])
    for key in ("summary", "details", "modified", "withdrawn"):
        _expect(record.get(key), str, where + key)
    _expect(record.get("database_specific"), dict, where + "database_specific")
    _check_severity_list(record.get("severity"), where + "severity")
    for index, reference in enumerate(_expect(record.get("references"), list, where + "references")):
        _expect(reference, dict, where + "references[%d]" % index, optional=False)
        _expect(reference.get("url"), str, where + "references[%d].url" % index)
    for index, affected in enumerate(_expect(record.get("affected"), list, where + "affected")):
        here = where + "affected[%d]" % index
        _expect(affected, dict, here, optional=False)
        package = _expect(affected.get("package"), dict, here + ".package")
        _expect(package.get("ecosystem"), str, here + ".package.ecosystem")
        _expect(package.get("name"), str, here + ".package.name")
        _expect(affected.get("database_specific"), dict, here + ".database_specific")
        _check_severity_list(affected.get("severity"), here + ".severity")
        for number, version in enumerate(_expect(affected.get("versions"), list, here + ".versions")):
            _expect(version, str, here + ".versions[%d]" % number, optional=False)
        for number, item in enumerate(_expect(affected.get("ranges"), list, here + ".ranges")):
            spot = here + ".ranges[%d]" % number
            _expect(item, dict, spot, optional=False)
            _expect(item.get("type"), str, spot + ".type", optional=False)
            for step, event in enumerate(_expect(item.get("events"), list, spot + ".events", optional=False)):
                _expect(event, dict, spot + ".events[%d]" % step, optional=False)
                for kind, value in event.items():
                    _expect(value, str, "%s.events[%d].%s" % (spot, step, kind), optional=False)


def _check_severity_list(value, where):
    for index, item in enumerate(_expect(value, list, where)):
        _expect(item, dict, "%s[%d]" % (where, index), optional=False)
        _expect(item.get("type"), str, "%s[%d].type" % (where, index), optional=False)
        _expect(item.get("score"), str, "%s[%d].score" % (where, index), optional=False)


def load_advisories(directory):
    """npm-ecosystem OSV records under ``directory`` (searched recursively): {package: [(record, affected)]}.

    An empty directory, or one without a single npm record, is an OsvError: that is what a failed
    advisory sync leaves behind, and matching against it would call every project clean.
    """
    if not os.path.isdir(directory):
        raise OsvError("advisory directory %s does not exist" % directory)
    by_package = {}
    records = 0
    ecosystems = set()
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        for name in sorted(files):
            if not name.endswith(".json"):
                continue
            path = os.path.join(root, name)
            try:
                with open(path, encoding="utf-8") as handle:
                    record = json.load(handle)
            except OSError as exc:
                raise OsvError("cannot read OSV record %s: %s" % (path, exc.strerror or exc))
            except ValueError as exc:
                raise OsvError("OSV record %s is not valid JSON: %s" % (path, exc))
            check_record(record, path)
            records += 1
            for affected in record.get("affected") or []:
                package = affected.get("package") or {}
                ecosystems.add(package.get("ecosystem") or "?")
                if package.get("ecosystem") == "npm" and package.get("name"):
                    by_package.setdefault(package["name"], []).append((record, affected))
    if not records:
        raise OsvError("advisory directory %s holds no OSV records (*.json): an empty database cannot show a project "
                       "clean (did the advisory sync fail?)" % directory)
    if not by_package:
        raise OsvError("advisory directory %s holds %d OSV record(s) but none for the npm ecosystem (found: %s)"
                       % (directory, records, ", ".join(sorted(ecosystems)) or "no affected packages"))
    return by_package


# -- matching -------------------------------------------------------------------------------------

def _event_version(value):
    return None if value == "0" else parse(value)


def in_range(version, events):
    """Whether ``version`` (a semver Version) is affected by one OSV SEMVER range's ``events``.

    The OSV evaluation: walk the events in version order; ``introduced`` switches affected on
    from its version ("0" meaning from the start), ``fixed`` off from its version,
    ``last_affected`` off above its version. InvalidVersion when a bound is not semver.
    """
    def order(event):
        kind, value = next(iter(event.items()))
        point = _event_version(value)
        return (point is not None, point if point is not None else 0, kind)

    affected = False
    ordered = sorted((dict([item]) for event in events for item in event.items() if item[0] in _RANGE_EVENTS),
                     key=order)
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


def _bad_bounds(events):
    bad = []
    for event in events:
        for kind, value in event.items():
            if kind in _RANGE_EVENTS and value != "0":
                try:
                    parse(value)
                except InvalidVersion:
                    bad.append("%s %r" % (kind, value))
    return bad


def match_version(version, affected, problems=None):
    """(affected?, range text, lowest fixed version above ``version`` or None) for one OSV ``affected``.

    A SEMVER range with a bound that is not a semantic version cannot be evaluated: its text is
    appended to ``problems`` (when given) and the other ranges are still tried.
    """
    if str(version) in (affected.get("versions") or []):
        return True, "=" + str(version), None
    for item in affected.get("ranges") or []:
        if item.get("type") not in ("SEMVER", "ECOSYSTEM"):
            continue  # GIT ranges name commits, which an installed npm version cannot be placed against
        events = item.get("events") or []
        bad = _bad_bounds(events)
        if bad:
            if problems is not None:
                problems.append("range %s: %s not a semantic version" % (_range_text(events), ", ".join(bad)))
            continue
        if in_range(version, events):
            fixes = sorted(parse(event["fixed"]) for event in events if "fixed" in event)
            fixes = [fix for fix in fixes if fix > version]
            return True, _range_text(events), fixes[0] if fixes else None
    return False, "", None


def audit_installed(installed, advisories, omit_dev=False):
    """Vulnerable packages among ``installed`` (npm_lockfile.installed_packages), normalised like
    npm.normalize_report's output.

    Returns (vulnerabilities, dependencies_total, unparsed_versions, problems); each problem is a
    dict {id, package, version, problem} for an advisory range that could not be evaluated.
    """
    vulnerable = {}
    unparsed = 0
    problems = []
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
            found = []
            hit, range_text, fixed = match_version(version, affected, found)
            for text in found:
                problem = {"id": record["id"], "package": name, "version": str(version), "problem": text, "node": path}
                if not any(item["id"] == problem["id"] and item["version"] == problem["version"] and
                           item["problem"] == text and item["package"] == name for item in problems):
                    problems.append(problem)  # once per version, not once per folder it is installed in
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
                rating = advisory_severity(record, affected)
                entry["advisories"].append({
                    "id": record["id"], "source": record["id"], "title": record.get("summary") or record["id"],
                    "url": _advisory_url(record), "severity": rating["severity"], "range": range_text,
                    "severity_basis": rating["basis"], "unscored": rating["unscored"],
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
    return sorted(vulnerable.values(), key=lambda item: item["name"]), dependencies, unparsed, problems


def _advisory_url(record):
    for reference in record.get("references") or []:
        if reference.get("type") == "ADVISORY" and reference.get("url"):
            return reference["url"]
    if str(record["id"]).startswith("GHSA-"):
        return "https://github.com/advisories/%s" % record["id"]
    return ""
