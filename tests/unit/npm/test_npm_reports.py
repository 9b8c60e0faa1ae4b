"""npm.audit: real npm 7+ reports, the offline OSV match on the same lockfiles, the policy, and the
real refusal of the bulk advisory endpoint by this machine's registry."""

from __future__ import annotations

import datetime
import json
import pathlib
import shutil

import pytest

from ansible.module_utils.upkeep import npm
from ansible.module_utils.upkeep.npm_lockfile import installed_packages
from ansible.module_utils.upkeep.npm_osv import audit_installed, load_advisories
from ansible.module_utils.upkeep.result import ParameterError

DATA = pathlib.Path("/work/shared/data/npm-audit")
OSV = pathlib.Path(__file__).resolve().parents[2] / "data" / "osv"
TODAY = datetime.date(2026, 11, 28)
CASES = {"npm-critical": ("open", "critical", "GHSA-28xh-wpgr-7fm8", True),
         "npm-high": ("qs", "high", "GHSA-hrpp-h998-j3pp", False),
         "npm-moderate": ("base64url", "moderate", "GHSA-rvg8-pwq2-xj7q", True)}


def _report(case):
    return json.loads((DATA / case / "npm7-output.json").read_text())


def _project(tmp_path, case):
    target = tmp_path / case
    target.mkdir()
    for name in ("package.json", "package-lock.json"):
        shutil.copy(DATA / case / name, target / name)
        (target / name).chmod(0o644)
    return target


@pytest.mark.parametrize("case", sorted(CASES))
def test_real_reports_are_read(case):
    name, severity, ghsa, semver_major = CASES[case]
    vulns, total = npm.normalize_report(_report(case))
    assert [(v["name"], v["severity"], v["is_direct"]) for v in vulns] == [(name, severity, True)]
    assert vulns[0]["advisories"][0]["id"] == ghsa
    assert vulns[0]["fix"]["semver_major"] is semver_major
    assert total == _report(case)["metadata"]["dependencies"]["total"]


@pytest.mark.parametrize("case", sorted(CASES))
def test_offline_match_agrees_with_npm_on_the_same_lockfile(case):
    lock = json.loads((DATA / case / "package-lock.json").read_text())
    manifest = json.loads((DATA / case / "package.json").read_text())
    installed = installed_packages(lock, "package-lock.json", manifest)
    offline, _total, unparsed, problems = audit_installed(installed, load_advisories(str(OSV)))
    online, _ = npm.normalize_report(_report(case))
    assert unparsed == 0 and problems == []
    assert [(v["name"], v["severity"], v["is_direct"], v["advisories"][0]["id"]) for v in offline] == \
        [(v["name"], v["severity"], v["is_direct"], v["advisories"][0]["id"]) for v in online]
    assert offline[0]["fix"]["semver_major"] == online[0]["fix"]["semver_major"]
    from_npm = npm.evaluate(online, "moderate", [], "p", "npm")
    from_osv = npm.evaluate(offline, "moderate", [], "p", "osv")
    assert from_npm["status"] == from_osv["status"]
    keys = ("vulnerabilities_total", "counted_total", "direct_count", "fix_available_count", "semver_major_fix_count")
    assert {k: from_npm["metrics"][k] for k in keys} == {k: from_osv["metrics"][k] for k in keys}


def test_lockfile_v3_lists_transitive_packages_and_marks_direct_ones():
    lock = json.loads((DATA / "npm-high" / "package-lock.json").read_text())
    found = {name: direct for name, _version, direct, _dev, _path in installed_packages(lock, "package-lock.json")}
    assert found["qs"] is True and found["side-channel"] is False
    assert len(found) == json.loads((DATA / "npm-high" / "npm7-output.json").read_text())["metadata"]["dependencies"]["total"]


def test_lockfile_v1_nested_dependencies_and_transitive_hits():
    lock = {"lockfileVersion": 1, "dependencies": {
        "express": {"version": "4.17.1", "dependencies": {"qs": {"version": "6.10.1"}}},
        "qs": {"version": "6.11.0"}}}
    installed = installed_packages(lock, "package-lock.json", {"dependencies": {"express": "^4"}})
    vulns, total, _, _ = audit_installed(installed, load_advisories(str(OSV)))
    assert total == 3
    assert [(v["name"], v["is_direct"], v["nodes"]) for v in vulns] == \
        [("qs", False, ["node_modules/express/node_modules/qs"])]
    assert vulns[0]["fix"] == {"name": "qs", "version": "6.10.3", "semver_major": False}


def test_policy_levels_and_statuses():
    vulns, _ = npm.normalize_report(_report("npm-moderate"))
    assert npm.evaluate(vulns, "moderate", [], "p", "npm")["status"] == "warning"
    high_only = npm.evaluate(vulns, "high", [], "p", "npm")
    assert high_only["status"] == "ok" and high_only["findings"][0]["severity"] == "info"
    critical, _ = npm.normalize_report(_report("npm-critical"))
    result = npm.evaluate(critical, "moderate", [], "p", "npm")
    assert result["status"] == "critical" and result["metrics"]["vulnerabilities_critical"] == 1
    assert "semver-major" in result["findings"][0]["remediation"]


def test_allowlist_suppresses_until_it_expires():
    vulns, _ = npm.normalize_report(_report("npm-high"))
    entry = {"id": "GHSA-hrpp-h998-j3pp", "reason": "not reachable from user input", "expires": "2026-12-31"}
    live = npm.evaluate(vulns, "moderate", npm.parse_allowlist([entry], TODAY), "p", "npm")
    assert live["status"] == "ok" and live["metrics"]["allowlisted_count"] == 1
    expired = npm.evaluate(vulns, "moderate", npm.parse_allowlist([entry], datetime.date(2027, 1, 1)), "p", "npm")
    assert expired["status"] == "critical"
    assert any("expired" in item["title"] for item in expired["findings"])
    by_number = npm.parse_allowlist([dict(entry, id="1094102")], TODAY)
    assert npm.evaluate(vulns, "moderate", by_number, "p", "npm")["status"] == "ok"


@pytest.mark.parametrize("entry, message", [
    ({"id": "GHSA-x", "expires": "2026-01-01"}, "allowlist[0].reason"),
    ({"id": "GHSA-x", "reason": "r", "expires": "next year"}, "allowlist[0].expires"),
])
def test_bad_allowlist_entries_name_the_field(entry, message):
    with pytest.raises(ParameterError, match=message.replace("[", r"\[").replace("]", r"\]")):
        npm.parse_allowlist([entry], TODAY)


def test_error_reports_are_never_zero_vulnerabilities():
    refused = {"message": "405 Method Not Allowed - POST https://u:p@registry.example/-/npm/v1/security/advisories/bulk",
               "statusCode": 405, "error": {"summary": "", "detail": ""}}
    with pytest.raises(npm.ReportError, match="HTTP 405") as caught:
        npm.normalize_report(refused)
    assert "u:p@" not in str(caught.value)
    with pytest.raises(npm.ReportError, match="npm 6"):
        npm.normalize_report({"advisories": {}, "metadata": {}})


def test_missing_lockfile_and_directory_are_unknown(tmp_path):
    (tmp_path / "package.json").write_text("{}")
    params = {"projects": [{"path": str(tmp_path)}, {"path": str(tmp_path / "gone")}]}
    first, second = npm.audit_projects(params, "/usr/bin/npm")
    assert first["status"] == "unknown" and "lockfile" in first["summary"]
    assert second["status"] == "unknown" and "does not exist" in second["summary"]


def test_missing_npm_is_unknown_unless_offline(tmp_path):
    project = _project(tmp_path, "npm-high")
    [result] = npm.audit_projects({"path": str(project)}, None)
    assert result["status"] == "unknown" and "npm is not installed" in result["summary"]
    [auto] = npm.audit_projects({"path": str(project), "mode": "auto", "osv_dir": str(OSV)}, None)
    assert auto["status"] == "critical" and auto["source"].startswith("osv:")
    assert any("npm audit unavailable" in item["title"] for item in auto["findings"])


@pytest.mark.skipif(shutil.which("npm") is None, reason="needs the machine's npm")
def test_this_registry_refuses_the_bulk_endpoint_for_real(tmp_path):
    """Runs the machine's real npm against its configured registry: it answers HTTP 405."""
    project = _project(tmp_path, "npm-high")
    [result] = npm.audit_projects({"path": str(project), "timeout_s": 60}, shutil.which("npm"))
    assert result["status"] == "unknown", result
    assert "405" in result["summary"] and "0 vuln" not in result["summary"]
