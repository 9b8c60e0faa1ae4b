"""upkeep_auth_audit and the upkeep_auth_audit role through real ansible-playbook runs on
generated auth logs, with a Python that has only the standard library as the host's interpreter."""

from __future__ import annotations

import json
import sys

import pytest

from tests.support.fixtures_logs import host_logs, stdlib_python  # noqa: F401 (fixtures)
from tests.support.playbook import run_tasks
from upkeep.sandbox.extensions import logs as sandbox_logs

pytestmark = pytest.mark.slow

AUDIT = "Audit the logins"
ROLE_TASK = "Audit the host's logins for failures, brute force and a success after failures"


def _inventory(python, **host_vars):
    return {"all": {"hosts": {"localhost": dict(
        {"ansible_connection": "local", "ansible_python_interpreter": python}, **host_vars)}}}


def test_module_finds_the_brute_force_and_the_success_after_it(host_logs, stdlib_python, tmp_path):
    variables = sandbox_logs.log_sources(str(host_logs))
    task = {"name": AUDIT, "upkeep_auth_audit": {"sources": variables["upkeep_auth_audit_sources"],
                                                 "allowlist": variables["upkeep_auth_audit_allowlist"]}}
    run = run_tasks([task], inventory=_inventory(stdlib_python), tmp_path=tmp_path)
    result = run.one(AUDIT)
    assert not result.failed, run.stdout[-3000:]
    statuses = {c["id"]: c["status"] for c in result.res["checks"]}
    assert statuses == {"auth.failed_logins": "ok", "auth.brute_force": "warning", "auth.compromise": "critical"}
    assert result.res["status"] == "critical" and result.res["changed"] is False
    assert result.res["suspicious_ips"][0]["ip"] == sandbox_logs.BRUTE_FORCE_IP


def test_check_mode_runs_the_audit(host_logs, tmp_path):
    variables = sandbox_logs.log_sources(str(host_logs))
    task = {"name": AUDIT, "upkeep_auth_audit": {"sources": variables["upkeep_auth_audit_sources"]}}
    run = run_tasks([task], inventory=_inventory(sys.executable), check=True, tmp_path=tmp_path)
    result = run.one(AUDIT)
    assert not result.failed and result.res["changed"] is False
    assert {c["id"]: c["status"] for c in result.res["checks"]}["auth.compromise"] == "critical"


def test_bad_allowlist_fails_with_a_clear_message(tmp_path):
    task = {"name": AUDIT, "upkeep_auth_audit": {"sources": [{"name": "s", "format": "syslog", "paths": ["/x"]}],
                                                 "allowlist": ["10.0.0.0/8", "not-an-ip"]}}
    run = run_tasks([task], tmp_path=tmp_path)
    result = run.one(AUDIT)
    assert result.failed and result.res["msg"] == "allowlist[1]: 'not-an-ip' is not an IP address or network"
    assert "Traceback (most recent call last)" not in run.stdout + json.dumps(result.res)


def test_role_audits_each_host(host_logs, tmp_path):
    variables = sandbox_logs.log_sources(str(host_logs))
    playbook = tmp_path / "play.yml"
    playbook.write_text("- hosts: all\n  gather_facts: false\n  roles: [upkeep_auth_audit]\n")
    inventory = _inventory(sys.executable, upkeep_auth_audit_sources=variables["upkeep_auth_audit_sources"],
                           upkeep_auth_audit_allowlist=variables["upkeep_auth_audit_allowlist"])
    run = run_tasks(None, inventory=inventory, playbook=playbook, tmp_path=tmp_path / "run")
    result = run.one(ROLE_TASK)
    assert not result.failed, run.stdout[-3000:]
    assert {c["id"] for c in result.res["checks"]} == {"auth.failed_logins", "auth.brute_force", "auth.compromise"}
