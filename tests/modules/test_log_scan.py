"""upkeep_log_scan and the upkeep_logs role through real ansible-playbook runs on generated logs,
with a Python that has only the standard library as the host's interpreter."""

from __future__ import annotations

import json
import os
import sys

import pytest

from tests.support.fixtures_logs import host_logs, stdlib_python  # noqa: F401 (fixtures)
from tests.support.playbook import run_tasks
from upkeep.sandbox.extensions import logs as sandbox_logs

pytestmark = pytest.mark.slow

SCAN = "Scan the logs"
ROLE_TASK = "Scan the host's logs for error rate, latency and new error signatures"
PLANTED_SECRET = "pw-9c1e77f3d2"


def _inventory(python, **host_vars):
    return {"all": {"hosts": {"localhost": dict(
        {"ansible_connection": "local", "ansible_python_interpreter": python}, **host_vars)}}}


def _statuses(checks):
    return {(c["id"], c["target"]): c["status"] for c in checks}


def test_module_scans_on_a_bare_python_and_masks_secrets(host_logs, stdlib_python, tmp_path):
    with open(host_logs / "app" / "app.log", "a") as app:
        app.write(json.dumps({"time": "2030-01-01T00:00:00Z", "level": 50,
                              "msg": "db login failed password=%s for app" % PLANTED_SECRET}) + "\n")
    state, report = tmp_path / "state.json", tmp_path / "report.json"
    sources = sandbox_logs.log_sources(str(host_logs))["upkeep_logs_sources"]
    task = {"name": SCAN, "upkeep_log_scan": {"sources": sources, "state_path": str(state),
                                               "report_path": str(report)}}
    run = run_tasks([task], inventory=_inventory(stdlib_python), tmp_path=tmp_path / "run")
    result = run.one(SCAN)
    assert not result.failed, run.stdout[-3000:]
    statuses = _statuses(result.res["checks"])
    assert statuses[("log.errors", "nginx-access")] == "warning"
    assert statuses[("log.latency", "nginx-access")] == "warning"
    assert statuses[("log.signatures", "error signatures")] == "warning"
    assert result.res["changed"] is False and result.res["state_written"] is True
    assert state.exists() and json.loads(report.read_text())["signatures"]
    said = run.stdout + json.dumps([r.res for r in run.results]) + report.read_text() + state.read_text()
    assert PLANTED_SECRET not in said
    assert len(json.dumps(result.res)) < 60000  # the result stays small; detail is in the report file


def test_check_mode_leaves_state_and_report_untouched(host_logs, tmp_path):
    state, report = tmp_path / "state.json", tmp_path / "report.json"
    state.write_text('{"schema": "upkeep.log_scan_state/1", "signatures": {}}')
    os.utime(state, (1000000000, 1000000000))
    sources = sandbox_logs.log_sources(str(host_logs))["upkeep_logs_sources"]
    task = {"name": SCAN, "upkeep_log_scan": {"sources": sources, "state_path": str(state),
                                               "report_path": str(report)}}
    run = run_tasks([task], inventory=_inventory(sys.executable), check=True, tmp_path=tmp_path / "run")
    result = run.one(SCAN)
    assert not result.failed and result.res["changed"] is False and result.res["state_written"] is False
    assert state.stat().st_mtime == 1000000000 and not report.exists()
    signatures = [c for c in result.res["checks"] if c["id"] == "log.signatures"][0]
    assert "check mode" in signatures["summary"] and "detail_path" not in signatures


@pytest.mark.parametrize("args, message", [
    ({"sources": [{"name": "a", "format": "json", "paths": ["/x"]}], "window_days": 0},
     "window_days: must be greater than 0"),
    ({"sources": [{"name": "a", "format": "xml", "paths": ["/x"]}]}, "format"),
    ({"sources": [{"name": "a", "format": "json"}]}, "paths"),
])
def test_bad_parameters_fail_with_a_clear_message(args, message, tmp_path):
    run = run_tasks([{"name": SCAN, "upkeep_log_scan": args}], tmp_path=tmp_path)
    result = run.one(SCAN)
    assert result.failed and message in result.res["msg"]
    assert "Traceback (most recent call last)" not in run.stdout + json.dumps(result.res)


def test_role_scans_each_host_with_its_sources(host_logs, tmp_path):
    variables = sandbox_logs.log_sources(str(host_logs))
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        "- hosts: all\n  gather_facts: false\n  roles: [upkeep_logs]\n")
    inventory = _inventory(sys.executable, upkeep_logs_sources=variables["upkeep_logs_sources"],
                           upkeep_logs_state_path=str(tmp_path / "state.json"),
                           upkeep_logs_report_path=str(tmp_path / "report.json"))
    run = run_tasks(None, inventory=inventory, playbook=playbook, tmp_path=tmp_path / "run")
    result = run.one(ROLE_TASK)
    assert not result.failed, run.stdout[-3000:]
    assert {c["id"] for c in result.res["checks"]} == {"log.errors", "log.latency", "log.signatures"}
    assert (tmp_path / "state.json").exists() and run.rc == 0
