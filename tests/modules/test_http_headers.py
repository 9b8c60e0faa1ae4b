"""upkeep_http_headers and the upkeep_http_headers role through real ansible-playbook runs."""

from __future__ import annotations

import json
import sys

import pytest

from tests.support.playbook import run_tasks

pytestmark = pytest.mark.slow

TASK = "Check headers"
ROLE_TASK = "Check the security headers of every host's pages"
QUERY_SECRET = "qtok-5f1e9a7c33"


def _local(**host_vars):
    return dict({"ansible_connection": "local", "ansible_python_interpreter": sys.executable}, **host_vars)


def test_role_checks_every_hosts_pages_in_check_mode(https_app, tmp_path):
    url = https_app.url.replace("://", "://user:pw-9d8e7f@") + "/products?token=" + QUERY_SECRET
    inventory = {"all": {"hosts": {
        "web1": _local(upkeep_http_headers_pages=[{"url": url, "ca_file": https_app.ca_file}]),
        "web2": _local(upkeep_http_headers_pages=[{"name": "home", "url": https_app.url + "/",
                                                   "ca_file": https_app.ca_file}]),
        "db1": _local()}}}
    playbook = tmp_path / "play.yml"
    playbook.write_text("- hosts: all\n  gather_facts: false\n  roles: [upkeep_http_headers]\n")
    run = run_tasks(None, inventory=inventory, playbook=playbook, check=True, tmp_path=tmp_path / "run")
    [task] = [r for r in run.for_task(ROLE_TASK) if r.event == "runner_on_ok"]
    checks = task.res["checks"]
    assert [(c["host"], c["status"]) for c in checks] == [("web1", "warning"), ("web2", "warning")]
    assert checks[0]["target"] == https_app.url + "/products" and checks[1]["target"] == "home"
    assert task.res["changed"] is False
    said = json.dumps(checks)  # the URL as given is echoed in invocation, as for upkeep_http_check
    assert QUERY_SECRET not in said and "pw-9d8e7f" not in said


def test_bad_parameters_fail_with_a_clear_message(tmp_path):
    task = {"name": TASK, "upkeep_http_headers": {"pages": [{"url": "gopher://x"}]}}
    result = run_tasks([task], tmp_path=tmp_path).one(TASK)
    assert result.failed and "pages[0].url" in result.res["msg"]
    assert "Traceback" not in str(result.res)
