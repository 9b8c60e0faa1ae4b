"""upkeep_npm_audit and the upkeep_npm role through real ansible-playbook runs, with the machine's
real npm (whose registry refuses the bulk advisory endpoint) and the offline OSV directory."""

from __future__ import annotations

import base64
import hashlib
import json
import pathlib
import shutil
import sys

import pytest

from tests.support.playbook import run_tasks

pytestmark = pytest.mark.slow

DATA = pathlib.Path("/work/shared/data/npm-audit")
OSV = str(pathlib.Path(__file__).resolve().parents[1] / "data" / "osv")
TASK = "Audit npm"
ROLE_TASK = "Audit the npm projects of this host"


def _project(tmp_path, case):
    target = tmp_path / case
    target.mkdir()
    for name in ("package.json", "package-lock.json"):
        shutil.copy(DATA / case / name, target / name)
    return str(target)


# -- material in the shape npm and OSV databases write it -----------------------------------------

def _installed(package, version, **extra):
    """A lockfile v3 ``packages`` entry as npm writes it for a registry package."""
    digest = base64.b64encode(hashlib.sha512(("%s@%s" % (package, version)).encode()).digest()).decode()
    return dict({"version": version, "resolved": "https://registry.npmjs.org/%s/-/%s-%s.tgz"
                 % (package, package.rsplit("/", 1)[-1], version), "integrity": "sha512-" + digest}, **extra)


def _write_project(directory, dependencies, packages=None, lockfile=None):
    """package.json declaring ``dependencies`` and a lockfile v3 holding ``packages`` ({folder: entry}),
    or the raw ``lockfile`` text."""
    directory.mkdir(parents=True)
    manifest = {"name": directory.name, "version": "1.0.0", "private": True, "dependencies": dependencies}
    (directory / "package.json").write_text(json.dumps(manifest, indent=2))
    if lockfile is None:
        root = {"name": directory.name, "version": "1.0.0", "dependencies": dependencies}
        lockfile = json.dumps({"name": directory.name, "version": "1.0.0", "lockfileVersion": 3, "requires": True,
                               "packages": dict({"": root}, **{"node_modules/" + folder: entry
                                                               for folder, entry in (packages or {}).items()})},
                              indent=2)
    (directory / "package-lock.json").write_text(lockfile)
    return str(directory)


def _osv_record(record_id, package, events, summary, label=None, vectors=(), **changes):
    """One OSV record of the npm ecosystem (schema 1.6), with GitHub's label and/or CVSS vectors."""
    record = {"schema_version": "1.6.0", "id": record_id, "modified": "2026-11-20T08:00:00Z",
              "published": "2026-11-18T16:30:00Z", "summary": summary, "details": summary + ".",
              "affected": [{"package": {"ecosystem": "npm", "name": package, "purl": "pkg:npm/%s" % package},
                            "ranges": [{"type": "SEMVER", "events": events}]}],
              "references": [{"type": "WEB", "url": "https://example.org/advisories/%s" % record_id}]}
    if label:
        record["database_specific"] = {"severity": label, "cwe_ids": ["CWE-79"]}
    if vectors:
        record["severity"] = [{"type": kind, "score": vector} for kind, vector in vectors]
    record.update(changes)
    return record


def _osv_dir(directory, *records, raw=()):
    """An OSV directory laid out like osv.dev's export (one JSON file per record under npm/)."""
    (directory / "npm").mkdir(parents=True)
    for record in records:
        (directory / "npm" / ("%s.json" % record["id"])).write_text(json.dumps(record, indent=2))
    for name, text in raw:
        (directory / "npm" / name).write_text(text)
    return str(directory)


MARKED_XSS = dict(record_id="TEST-2026-0101", package="marked", events=[{"introduced": "0"}, {"fixed": "0.3.6"}],
                  summary="Cross-site scripting in marked via data: URIs", label="MODERATE")


def _checks(tmp_path, projects, audit_level="moderate"):
    task = {"name": TASK, "upkeep_npm_audit": {"projects": projects, "audit_level": audit_level}}
    run = run_tasks([task], tmp_path=tmp_path / "run")
    result = run.one(TASK)
    assert not result.failed, run.stdout[-3000:]
    assert "Traceback" not in json.dumps(result.res)
    return {check["target"]: check for check in result.res["checks"]}


@pytest.mark.skipif(shutil.which("npm") is None, reason="needs the machine's npm")
def test_module_online_refusal_offline_and_check_mode(tmp_path):
    high, moderate = _project(tmp_path, "npm-high"), _project(tmp_path, "npm-moderate")
    task = {"name": TASK, "upkeep_npm_audit": {"projects": [
        {"path": high, "name": "online"},
        {"path": high, "name": "offline", "mode": "osv", "osv_dir": OSV},
        {"path": moderate, "name": "allowed", "mode": "osv", "osv_dir": OSV},
    ], "allowlist": [{"id": "GHSA-rvg8-pwq2-xj7q", "reason": "tokens only", "expires": "2999-01-01"}]}}
    for check in (False, True):
        run = run_tasks([task], check=check, tmp_path=tmp_path / ("run-%s" % check))
        result = run.one(TASK)
        assert not result.failed, run.stdout[-3000:]
        statuses = [(c["target"], c["status"]) for c in result.res["checks"]]
        assert statuses == [("online", "unknown"), ("offline", "critical"), ("allowed", "ok")]
        assert "405" in result.res["checks"][0]["summary"]
        assert result.res["changed"] is False


def test_bad_parameters_fail_with_a_clear_message(tmp_path):
    task = {"name": TASK, "upkeep_npm_audit": {"path": str(tmp_path), "allowlist": [
        {"id": "GHSA-x", "reason": "because", "expires": "soon"}]}}
    result = run_tasks([task], tmp_path=tmp_path).one(TASK)
    assert result.failed and "allowlist[0].expires" in result.res["msg"]
    assert "Traceback" not in str(result.res)


def test_role_audits_each_hosts_projects(tmp_path):
    inventory = {"all": {"hosts": {"app1": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "upkeep_npm_projects": [{"path": _project(tmp_path, "npm-critical"), "name": "shop"}]},
        "db1": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}
    playbook = tmp_path / "play.yml"
    playbook.write_text("- hosts: all\n  gather_facts: false\n  vars:\n    upkeep_npm_mode: osv\n"
                        "    upkeep_npm_osv_dir: %s\n  roles: [upkeep_npm]\n" % OSV)
    run = run_tasks(None, inventory=inventory, playbook=playbook, tmp_path=tmp_path / "run")
    by_host = {r.host: r for r in run.for_task(ROLE_TASK)}
    assert by_host["db1"].event == "runner_on_skipped"
    [check] = by_host["app1"].res["checks"]
    assert check["status"] == "critical" and check["target"] == "shop"
    assert check["metrics"]["semver_major_fix_count"] == 1


def test_empty_lockfile_and_empty_advisory_directory_are_unknown(tmp_path):
    """Issue 9 item 13: nothing read is never "no vulnerable packages"."""
    # What `npm init` plus hand-edited dependencies leaves: a lockfile holding only the root package.
    empty = _write_project(tmp_path / "shop", {"next": "14.1.0", "react": "^18.2.0", "zod": "^3.22.4"})
    # What a sync that downloaded osv.dev's npm archive but never unpacked it leaves.
    synced = tmp_path / "osv-failed"
    synced.mkdir()
    (synced / "all.zip").write_bytes(b"")
    real = _project(tmp_path, "npm-high")
    checks = _checks(tmp_path, [
        {"path": empty, "name": "empty-lock", "mode": "osv", "osv_dir": OSV},
        {"path": empty, "name": "empty-lock-npm"},
        {"path": real, "name": "no-advisories", "mode": "osv", "osv_dir": str(synced)},
        {"path": real, "name": "healthy-input", "mode": "osv", "osv_dir": OSV}])
    assert {target: check["status"] for target, check in checks.items()} == {
        "empty-lock": "unknown", "empty-lock-npm": "unknown", "no-advisories": "unknown", "healthy-input": "critical"}
    for target in ("empty-lock", "empty-lock-npm"):
        assert "lists no installed packages while package.json declares 3 dependencies (next, react, zod)" \
            in checks[target]["summary"]
    assert "holds no OSV records" in checks["no-advisories"]["summary"] and str(synced) in checks["no-advisories"]["summary"]


def test_npm_alias_is_matched_under_the_real_package_name(tmp_path):
    """Issue 9 item 14: "markdown": "npm:marked@0.3.5" installs marked, and marked's advisory applies."""
    osv = _osv_dir(tmp_path / "osv", _osv_record(**MARKED_XSS))
    project = _write_project(tmp_path / "blog", {"markdown": "npm:marked@0.3.5"},
                             {"markdown": _installed("marked", "0.3.5", name="marked", bin={"marked": "bin/marked"})})
    [check] = _checks(tmp_path, [{"path": project, "name": "blog", "mode": "osv", "osv_dir": osv}]).values()
    assert check["status"] == "warning", check
    [found] = check["findings"]
    assert found["title"] == "marked (moderate, direct): TEST-2026-0101"
    assert found["resource"] == "node_modules/markdown" and found["remediation"].startswith("Upgrade to marked@0.3.6")


def test_cvss_vectors_give_the_severity_when_github_does_not(tmp_path):
    """Issue 9 item 15: records with only the OSV standard severity field are scored from the vector;
    GitHub's label wins where a record has both."""
    osv = _osv_dir(
        tmp_path / "osv",
        _osv_record("TEST-2026-0201", "jsonwebtoken", [{"introduced": "0"}, {"fixed": "9.0.0"}],
                    "jsonwebtoken accepts forged tokens signed with the none algorithm",
                    vectors=[("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")]),
        _osv_record("TEST-2026-0202", "semver", [{"introduced": "7.0.0"}, {"fixed": "7.5.2"}],
                    "semver vulnerable to Regular Expression Denial of Service",
                    vectors=[("CVSS_V3", "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:N/A:L"),
                             ("CVSS_V4", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:H/SC:N/SI:N/SA:N")]),
        _osv_record("TEST-2026-0203", "debug", [{"introduced": "2.0.0"}, {"fixed": "2.6.9"}],
                    "debug vulnerable to Regular Expression Denial of Service", label="LOW",
                    vectors=[("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")]))
    project = _write_project(tmp_path / "api", {"jsonwebtoken": "^8.5.1", "semver": "^7.5.1", "debug": "2.6.8"}, {
        "jsonwebtoken": _installed("jsonwebtoken", "8.5.1"), "semver": _installed("semver", "7.5.1"),
        "debug": _installed("debug", "2.6.8")})
    [check] = _checks(tmp_path, [{"path": project, "name": "api", "mode": "osv", "osv_dir": osv}], "low").values()
    by_package = {item["title"].split(" ")[0]: item for item in check["findings"]}
    assert [by_package[name]["title"].split(",")[0] for name in ("jsonwebtoken", "semver", "debug")] == \
        ["jsonwebtoken (critical", "semver (high", "debug (low"]
    assert "[severity TEST-2026-0201: from CVSS_V3 9.8]" in by_package["jsonwebtoken"]["detail"]
    assert "[severity TEST-2026-0202: from CVSS_V4 8.7]" in by_package["semver"]["detail"]  # the newest version wins
    assert "[severity" not in by_package["debug"]["detail"]  # GitHub's label decided
    assert check["status"] == "critical" and check["metrics"]["vulnerabilities_critical"] == 1


def test_broken_lockfiles_and_records_are_unknown_for_their_project_only(tmp_path):
    """Issue 9 item 16: each project with a broken input is unknown naming the file and the problem;
    a range bound that is not semver is reported; the other projects still report."""
    qs = {"qs": "6.10.2"}
    array_lock = _write_project(tmp_path / "exported", qs, lockfile=json.dumps([{"name": "qs", "version": "6.10.2"}]))
    string_entry = _write_project(tmp_path / "hand-edited", qs, {"qs": "6.10.2"})
    text = json.loads((tmp_path / "hand-edited" / "package-lock.json").read_text())
    text["packages"]["node_modules/qs"] = "6.10.2"
    (tmp_path / "hand-edited" / "package-lock.json").write_text(json.dumps(text))
    bad_record = _osv_record("TEST-2026-0301", "qs", [{"introduced": "6.10.0"}, {"fixed": "6.10.3"}], "qs pollution",
                             label="HIGH")
    bad_record["affected"] = bad_record["affected"][0]  # an object where OSV has an array
    broken_osv = _osv_dir(tmp_path / "osv-broken", bad_record)
    loose = dict(MARKED_XSS, record_id="TEST-2026-0302", events=[{"introduced": "0"}, {"fixed": "0.4"}])
    loose_osv = _osv_dir(tmp_path / "osv-loose", _osv_record(**loose))
    blog = _write_project(tmp_path / "blog", {"marked": "0.3.5"}, {"marked": _installed("marked", "0.3.5")})
    checks = _checks(tmp_path, [
        {"path": array_lock, "name": "array-lock", "mode": "osv", "osv_dir": OSV},
        {"path": string_entry, "name": "string-entry", "mode": "osv", "osv_dir": OSV},
        {"path": _project(tmp_path, "npm-high"), "name": "bad-record", "mode": "osv", "osv_dir": broken_osv},
        {"path": blog, "name": "loose-range", "mode": "osv", "osv_dir": loose_osv},
        {"path": _project(tmp_path, "npm-critical"), "name": "healthy-input", "mode": "osv", "osv_dir": OSV}])
    assert {target: check["status"] for target, check in checks.items()} == {
        "array-lock": "unknown", "string-entry": "unknown", "bad-record": "unknown", "loose-range": "unknown",
        "healthy-input": "critical"}
    assert checks["array-lock"]["summary"] == "%s holds an array where npm writes an object" % (
        tmp_path / "exported" / "package-lock.json")
    assert checks["string-entry"]["summary"] == '%s: packages["node_modules/qs"] must be an object, got a string' % (
        tmp_path / "hand-edited" / "package-lock.json")
    assert checks["bad-record"]["summary"] == "offline audit failed: %s (TEST-2026-0301): affected must be an array, " \
        "got an object" % (tmp_path / "osv-broken" / "npm" / "TEST-2026-0301.json")
    loose_check = checks["loose-range"]
    assert "range <0.4: fixed '0.4' not a semantic version" in loose_check["summary"]
    assert loose_check["metrics"]["unevaluated_ranges_count"] == 1
    assert any(item["title"] == "Advisory TEST-2026-0302 not evaluated for marked@0.3.5" for item in loose_check["findings"])
