"""What the offline audit reads from a host: lockfiles of each version (aliases included), OSV records
of the wrong shape, CVSS vectors it cannot score."""

from __future__ import annotations

import json

import pytest

from ansible.module_utils.upkeep import npm
from ansible.module_utils.upkeep.npm_lockfile import ProjectFileError, installed_packages, read_json_object
from ansible.module_utils.upkeep.npm_osv import OsvError, check_record, load_advisories
from ansible.module_utils.upkeep.npm_severity import advisory_severity

RECORD = {"id": "TEST-2026-0501", "summary": "marked XSS", "database_specific": {"severity": "MODERATE"},
          "affected": [{"package": {"ecosystem": "npm", "name": "marked"},
                        "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "0.3.6"}]}]}]}


def test_lockfile_v1_alias_is_the_real_package():
    """npm 6 keeps an alias's target in the version: "markdown": {"version": "npm:marked@0.3.5"}."""
    lock = {"lockfileVersion": 1, "dependencies": {
        "markdown": {"version": "npm:marked@0.3.5", "resolved": "https://registry.npmjs.org/marked/-/marked-0.3.5.tgz"},
        "ui": {"version": "npm:@acme/ui@2.1.0", "dependencies": {"lodash": {"version": "4.17.20"}}}}}
    found = installed_packages(lock, "package-lock.json", {"dependencies": {"markdown": "npm:marked@0.3.5"}})
    assert found == [("marked", "0.3.5", True, False, "node_modules/markdown"),
                     ("@acme/ui", "2.1.0", False, False, "node_modules/ui"),
                     ("lodash", "4.17.20", False, False, "node_modules/ui/node_modules/lodash")]


@pytest.mark.parametrize("lockfile, message", [
    ({"lockfileVersion": 3, "packages": []}, "packages must be an object, got an array"),
    ({"lockfileVersion": 3, "packages": {"": {}, "node_modules/qs": {"version": 6}}},
     'packages["node_modules/qs"].version must be a string, got a number'),
    ({"lockfileVersion": 1, "dependencies": {"qs": {"version": "6.10.2", "dependencies": ["side-channel"]}}},
     'dependencies["qs"].dependencies must be an object, got an array'),
    ({"lockfileVersion": 3, "packages": {"": {"dependencies": "qs@6"}, "node_modules/qs": {"version": "6.10.2"}}},
     'packages[""]: dependencies must be an object, got a string'),
])
def test_lockfile_of_the_wrong_shape_names_the_field(lockfile, message):
    with pytest.raises(ProjectFileError) as caught:
        installed_packages(lockfile, "/srv/app/package-lock.json")
    assert str(caught.value).startswith("/srv/app/package-lock.json") and message in str(caught.value)


def test_unreadable_project_files_name_the_file(tmp_path):
    (tmp_path / "truncated.json").write_text('{"name": "shop", "lockfileVersion": 3, "packages": {')
    with pytest.raises(ProjectFileError, match="truncated.json is not valid JSON"):
        read_json_object(str(tmp_path / "truncated.json"))
    (tmp_path / "latin1.json").write_bytes(b'{"description": "caf\xe9"}')
    with pytest.raises(ProjectFileError, match="latin1.json is not valid JSON"):
        read_json_object(str(tmp_path / "latin1.json"))


@pytest.mark.parametrize("change, message", [
    ({"affected": {"package": {"ecosystem": "npm", "name": "marked"}}}, "affected must be an array, got an object"),
    ({"affected": [{"package": "marked"}]}, "affected[0].package must be an object, got a string"),
    ({"affected": [{"package": {"ecosystem": "npm", "name": "marked"}, "ranges": {"type": "SEMVER"}}]},
     "affected[0].ranges must be an array, got an object"),
    ({"affected": [{"package": {"ecosystem": "npm", "name": "marked"},
                    "ranges": [{"type": "SEMVER", "events": [{"introduced": 0}]}]}]},
     "affected[0].ranges[0].events[0].introduced must be a string, got a number"),
    ({"affected": [{"package": {"ecosystem": "npm", "name": "marked"}, "versions": "0.3.5"}]},
     "affected[0].versions must be an array, got a string"),
    ({"severity": {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N"}}, "severity must be an array, got an object"),
    ({"database_specific": "MODERATE"}, "database_specific must be an object, got a string"),
    ({"id": 42}, "id must be a non-empty string"),
])
def test_osv_record_of_the_wrong_shape_names_the_file_and_field(change, message):
    with pytest.raises(OsvError) as caught:
        check_record(dict(RECORD, **change), "/var/lib/osv/npm/TEST-2026-0501.json")
    assert str(caught.value).startswith("/var/lib/osv/npm/TEST-2026-0501.json") and message in str(caught.value)


def test_a_json_array_in_the_advisory_directory_is_named(tmp_path):
    (tmp_path / "npm").mkdir()
    (tmp_path / "npm" / "export.json").write_text(json.dumps([RECORD]))
    with pytest.raises(OsvError, match=r"npm/export.json holds an array, not an OSV record"):
        load_advisories(str(tmp_path))


def test_records_of_other_ecosystems_only_are_not_a_clean_npm_database(tmp_path):
    (tmp_path / "PYSEC-2026-1.json").write_text(json.dumps(dict(RECORD, id="PYSEC-2026-1", affected=[
        {"package": {"ecosystem": "PyPI", "name": "jinja2"}}])))
    with pytest.raises(OsvError, match=r"holds 1 OSV record\(s\) but none for the npm ecosystem \(found: PyPI\)"):
        load_advisories(str(tmp_path))


def test_severity_order_label_then_newest_vector_then_moderate():
    affected = RECORD["affected"][0]
    labelled = dict(RECORD, severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}])
    assert advisory_severity(labelled, affected)["severity"] == "moderate"  # GitHub's label wins
    vectors = dict(RECORD, database_specific={}, severity=[
        {"type": "CVSS_V2", "score": "AV:N/AC:L/Au:N/C:N/I:N/A:P"},
        {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}])
    assert advisory_severity(vectors, affected) == {"severity": "critical", "basis": "CVSS_V3 9.8", "score": 9.8,
                                                    "unscored": None}
    none = dict(RECORD, database_specific={}, severity=[{"type": "CVSS_V3",
                                                          "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N"}])
    assert advisory_severity(none, affected)["severity"] == "info"
    assert advisory_severity(dict(RECORD, database_specific={}), affected)["basis"] == "default"


def test_malformed_vector_is_unscored_and_the_check_says_so():
    record = dict(RECORD, database_specific={}, severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:X"}])
    rating = advisory_severity(record, RECORD["affected"][0])
    assert rating["basis"] == "unscored" and "malformed CVSS_V3 vector" in rating["unscored"]
    vulnerable = [{"name": "marked", "severity": "moderate", "is_direct": True, "nodes": ["node_modules/marked"],
                   "versions": ["0.3.5"], "via_packages": [], "fix": False,
                   "advisories": [{"id": "TEST-2026-0501", "source": "TEST-2026-0501", "title": "marked XSS", "url": "",
                                   "severity": "moderate", "range": "<0.3.6", "severity_basis": "unscored",
                                   "unscored": rating["unscored"]}]}]
    result = npm.evaluate(vulnerable, "high", [], "blog", "osv")
    assert result["status"] == "unknown" and result["summary"].startswith("cannot tell: severity of 1 advisory")
    assert result["metrics"]["unscored_advisories_count"] == 1
