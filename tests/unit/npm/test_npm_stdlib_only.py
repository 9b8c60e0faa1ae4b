"""The host-side npm audit logic runs on a Python with only the standard library (no site-packages)."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[3]
OSV = REPO / "tests" / "data" / "osv"
DATA = pathlib.Path("/work/shared/data/npm-audit/npm-high")

SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
from hostside import npm
checks = npm.audit_projects({"path": sys.argv[2], "mode": "osv", "osv_dir": sys.argv[3]}, None)
print(json.dumps([sorted(sys.modules)] + checks))
"""


def test_offline_audit_without_site_packages(tmp_path):
    (tmp_path / "hostside").symlink_to(REPO / "module_utils" / "upkeep")
    project = tmp_path / "project"
    project.mkdir()
    for name in ("package.json", "package-lock.json"):
        (project / name).write_bytes((DATA / name).read_bytes())
    # -I: isolated (no user site, no PYTHON* env), -S: no site-packages at all.
    done = subprocess.run([sys.executable, "-I", "-S", "-c", SCRIPT, str(tmp_path), str(project), str(OSV)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    modules, check = json.loads(done.stdout)
    assert check["status"] == "critical" and check["metrics"]["vulnerabilities_high"] == 1
    assert not [name for name in modules if name.split(".")[0] in ("ansible", "cryptography", "httpx", "yaml")]


CVSS_SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
from hostside import npm
checks = npm.audit_projects({"projects": [{"path": sys.argv[2], "name": "vector-only"},
                                          {"path": sys.argv[3], "name": "critical-anyway"}],
                             "mode": "osv", "osv_dir": sys.argv[4], "audit_level": "high"}, None)
print(json.dumps(checks))
"""


def _lock(path, packages):
    path.mkdir()
    root = {"name": path.name, "version": "1.0.0", "dependencies": {name: version for name, version in packages}}
    lock = {"name": path.name, "lockfileVersion": 3, "packages": dict(
        {"": root}, **{"node_modules/" + name: {"version": version} for name, version in packages})}
    (path / "package.json").write_text(json.dumps({"name": path.name, "dependencies": root["dependencies"]}))
    (path / "package-lock.json").write_text(json.dumps(lock))
    return str(path)


def test_without_the_cvss_package_a_vector_only_advisory_leaves_the_verdict_open(tmp_path):
    """A bare host has no cvss package: a record rated only by a CVSS vector cannot be placed against
    audit_level high, so the check is unknown and says why - unless it is critical anyway."""
    (tmp_path / "hostside").symlink_to(REPO / "module_utils" / "upkeep")
    osv = tmp_path / "osv"
    osv.mkdir()
    (osv / "TEST-2026-0401.json").write_text(json.dumps({
        "id": "TEST-2026-0401", "summary": "jsonwebtoken accepts forged tokens",
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
        "affected": [{"package": {"ecosystem": "npm", "name": "jsonwebtoken"},
                      "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "9.0.0"}]}]}]}))
    shutil.copy(OSV / "npm" / "GHSA-28xh-wpgr-7fm8.json", osv / "GHSA-28xh-wpgr-7fm8.json")
    only_vector = _lock(tmp_path / "api", [("jsonwebtoken", "8.5.1")])
    with_critical = _lock(tmp_path / "shop", [("jsonwebtoken", "8.5.1"), ("open", "0.0.5")])
    done = subprocess.run([sys.executable, "-I", "-S", "-c", CVSS_SCRIPT, str(tmp_path), only_vector, with_critical,
                           str(osv)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    unknown, critical = json.loads(done.stdout)
    assert unknown["status"] == "unknown", unknown
    assert unknown["summary"].startswith("cannot tell: severity of 1 advisory not computed (TEST-2026-0401: CVSS:3.1/")
    assert "the cvss Python package is not installed on this host" in unknown["summary"]
    assert critical["status"] == "critical"
    assert any(item["title"] == "Severity of TEST-2026-0401 (jsonwebtoken) not computed" for item in critical["findings"])
