"""upkeep_npm_audit and the upkeep_npm role through real ansible-playbook runs, with the machine's
real npm (whose registry refuses the bulk advisory endpoint) and the offline OSV directory."""

from __future__ import annotations

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
