"""upkeep_host_resources through real ansible-playbook runs (local connection): this machine's
/proc and filesystems, a real process started here, check mode, a bad parameter, and the role."""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.support.playbook import run_tasks

pytestmark = pytest.mark.slow

TASK = "Check the host"


@pytest.fixture(scope="module")
def service():
    name = "upkeep-mod-svc"
    proc = subprocess.Popen(["bash", "-c", "exec -a %s sleep 300" % name])
    time.sleep(0.2)
    yield name
    proc.kill()
    proc.wait()


def _task(**options):
    return {"name": TASK, "upkeep_host_resources": options}


@pytest.mark.parametrize("check_mode", [False, True])
def test_module_reports_the_host_in_normal_and_check_mode(service, tmp_path, check_mode):
    services = [{"name": "node app", "process": service}, {"name": "web server", "process": "nginx-absent-here"}]
    run = run_tasks([_task(services=services)], check=check_mode, tmp_path=tmp_path)
    result = run.one(TASK)
    assert not result.failed and result.res["changed"] is False, run.stdout[-3000:]
    checks = {(item["id"], item["target"]): item for item in result.res["checks"]}
    assert {"host.load", "host.memory", "host.disk", "host.services"} == {key[0] for key in checks}
    assert checks[("host.disk", "/")]["metrics"]["disk_used_bytes"] > 0
    assert checks[("host.services", "node app")]["status"] == "ok"
    assert checks[("host.services", "web server")]["status"] == "critical"
    assert result.res["status"] == "critical"


def test_a_bad_parameter_fails_with_a_message_naming_it(tmp_path):
    run = run_tasks([_task(disk_warning_pct=95, disk_critical_pct=90)], tmp_path=tmp_path)
    result = run.one(TASK)
    assert result.failed and result.res["msg"] == "disk_warning_pct: must not exceed disk_critical_pct (95.0 > 90.0)"
    assert "Traceback" not in run.stdout


def test_the_role_registers_its_result_and_reports_rejected_variables(tmp_path):
    role = {"name": "Host resources", "ansible.builtin.import_role": {"name": "upkeep_host_resources",
                                                                       "rolespec_validate": False}}
    inventory = {"all": {"hosts": {
        "good": {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                 "upkeep_host_resources_checks": ["load", "memory"]},
        "bad": {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                "upkeep_host_resources_services": [{"name": "x", "proccess": "y"}]},
    }}}
    run = run_tasks([role], hosts="all", inventory=inventory, tmp_path=tmp_path)
    (problem,) = [check for item in run.for_task("Report the variables the role's argument spec rejects, each under its host")
                  for check in item.res["checks"]]
    assert problem["host"] == "bad" and problem["status"] == "unknown"
    assert "upkeep_host_resources_services[0]" in problem["summary"] and "proccess" in problem["summary"]
    calls = {item.host: item for item in run.for_task("Check this host's load, memory, disks and key services")}
    assert calls["bad"].event == "runner_on_skipped"
    assert [check["id"] for check in calls["good"].res["checks"]] == ["host.load", "host.memory"]
