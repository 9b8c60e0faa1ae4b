"""The host-side npm audit logic runs on a Python with only the standard library (no site-packages)."""

from __future__ import annotations

import json
import pathlib
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
