"""upkeep_smtp_check and the upkeep_smtp role through real ansible-playbook runs against real
SMTP servers on loopback."""

from __future__ import annotations

import json
import pathlib
import sys

import pytest

from tests.support.playbook import run_tasks

pytestmark = pytest.mark.slow

CHECK = "Check the mail servers"
ROLE_TASK = "Check the mail servers of every host in the play"
WRONG_PASSWORD = "wrong-smtp-pw-c4d2e8"


def _local(**host_vars):
    return dict({"ansible_connection": "local", "ansible_python_interpreter": sys.executable}, **host_vars)


def _everything_said(run):
    """stdout, every task result and every file ansible-runner left behind, as one text."""
    files = [path.read_text(errors="replace") for path in pathlib.Path(run.artifacts_dir).rglob("*") if path.is_file()]
    return "\n".join([run.stdout, json.dumps([item.res for item in run.results])] + files)


def test_module_checks_servers_and_hides_passwords(smtp_server, smtp_server_plain, tmp_path):
    task = {"name": CHECK, "upkeep_smtp_check": {
        "ca_file": smtp_server.ca_file, "username": smtp_server.user,
        "servers": [
            {"inventory_host": "web1", "name": "submission", "host": "127.0.0.1", "port": smtp_server.port,
             "password": smtp_server.password},
            {"inventory_host": "web2", "host": "127.0.0.1", "port": smtp_server.port, "password": WRONG_PASSWORD},
            {"inventory_host": "web3", "host": "127.0.0.1", "port": smtp_server_plain.port,
             "password": smtp_server_plain.password},
        ]}}
    run = run_tasks([task], tmp_path=tmp_path)
    result = run.one(CHECK)
    assert not result.failed, run.stdout[-3000:]
    checks = result.res["checks"]
    assert [(c["host"], c["status"]) for c in checks] == [("web1", "ok"), ("web2", "critical"), ("web3", "critical")]
    assert checks[0]["target"] == "submission" and checks[0]["server"]["authenticated"] is True
    assert checks[1]["findings"][0]["title"].startswith("Authentication failed")
    assert "AUTH not attempted" in json.dumps(checks[2]["findings"])
    assert smtp_server_plain.stats.auth_attempts == 0
    assert result.res["changed"] is False
    said = _everything_said(run)
    assert smtp_server.password not in said and WRONG_PASSWORD not in said


def test_check_mode_checks_and_reports_no_change(smtp_server, tmp_path):
    run = run_tasks([{"name": CHECK, "upkeep_smtp_check": smtp_server.options()}], check=True, tmp_path=tmp_path)
    result = run.one(CHECK)
    assert not result.failed and result.res["changed"] is False
    assert result.res["checks"][0]["status"] == "ok" and smtp_server.stats.messages == 0


@pytest.mark.parametrize("options, message", [
    ({"host": "127.0.0.1", "port": 70000}, "port: must be a port number 1-65535, got 70000"),
    ({"host": "127.0.0.1", "tls_mode": "ssl"}, "value of tls_mode must be one of: starttls_auto, starttls_required"),
    ({"port": 25}, "host: required"),
    ({"host": "127.0.0.1", "username": "u"}, "password: required when username is set"),
])
def test_bad_parameters_fail_with_a_clear_message_and_no_traceback(options, message, tmp_path):
    run = run_tasks([{"name": CHECK, "upkeep_smtp_check": options}], tmp_path=tmp_path)
    result = run.one(CHECK)
    assert result.failed
    assert message in result.res["msg"]
    assert "Traceback (most recent call last)" not in run.stdout + json.dumps(result.res)
    assert "module_stderr" not in result.res


def test_a_bad_server_item_is_an_unknown_check_and_the_others_are_checked(smtp_server, tmp_path):
    servers = [{"name": "mail-1"}, {"name": "broken", "port": 70000}]
    run = run_tasks([{"name": CHECK, "upkeep_smtp_check": smtp_server.options(servers=servers)}], tmp_path=tmp_path)
    result = run.one(CHECK)
    assert not result.failed, run.stdout[-3000:]
    assert [(c["target"], c["status"]) for c in result.res["checks"]] == [("mail-1", "ok"), ("broken", "unknown")]
    assert result.res["checks"][1]["summary"] == "servers[1].port: must be a port number 1-65535, got 70000"
    assert smtp_server.password not in _everything_said(run)


def test_role_files_a_bad_item_under_its_own_host_and_checks_the_rest(smtp_server, tmp_path):
    """A roles: playbook over two hosts, one of which has a broken server item: the healthy host
    keeps its check, the broken one gets exactly one unknown naming its variable and index."""
    server = {"host": "127.0.0.1", "port": smtp_server.port, "username": smtp_server.user,
              "password": smtp_server.password}
    inventory = {"all": {
        "vars": {"upkeep_smtp_ca_file": smtp_server.ca_file},
        "hosts": {
            "web1": _local(upkeep_smtp_servers=[dict(server, name="mail-1")]),
            "web2": _local(upkeep_smtp_servers=[dict(server, name="mail-2", ca_file="/nonexistent/ca.pem")]),
        },
    }}
    playbook = tmp_path / "site.yml"
    playbook.write_text(json.dumps([{"name": "Upkeep", "hosts": "all", "gather_facts": False,
                                     "roles": ["upkeep_smtp"]}]))
    run = run_tasks(None, inventory=inventory, playbook=playbook, tmp_path=tmp_path)
    calls = run.for_task(ROLE_TASK)
    assert len(calls) == 1 and not calls[0].failed, run.stdout[-3000:]
    checks = calls[0].res["checks"]
    assert [(c["host"], c["target"], c["status"]) for c in checks] == [("web1", "mail-1", "ok"), ("web2", "mail-2", "unknown")]
    assert checks[1]["summary"] == "web2: upkeep_smtp_servers[0].ca_file: no such file: /nonexistent/ca.pem"
    assert smtp_server.password not in _everything_said(run)


def test_role_checks_each_hosts_servers_in_one_call(smtp_server, tmp_path):
    server = {"host": "127.0.0.1", "port": smtp_server.port, "username": smtp_server.user,
              "password": smtp_server.password}
    inventory = {"all": {
        "vars": {"upkeep_smtp_ca_file": smtp_server.ca_file, "upkeep_smtp_tls_mode": "starttls_required"},
        "hosts": {
            "web1": _local(upkeep_smtp_servers=[dict(server, name="mail-1")]),
            "web2": _local(upkeep_smtp_servers=[dict(server, name="mail-2", validate_certs=True, ca_file=None)]),
            "web3": _local(),
        },
    }}
    tasks = [{"name": "Run the role", "ansible.builtin.include_role": {"name": "upkeep_smtp"}},
             {"name": "Use the registered result", "ansible.builtin.assert": {
                 "that": ["upkeep_smtp_result.checks | length == 2"], "quiet": True}}]
    run = run_tasks(tasks, hosts="all", inventory=inventory, tmp_path=tmp_path)
    calls = run.for_task(ROLE_TASK)
    assert len(calls) == 1 and not calls[0].failed, run.stdout[-3000:]
    checks = calls[0].res["checks"]
    assert [(c["host"], c["target"], c["status"]) for c in checks] == [("web1", "mail-1", "ok"), ("web2", "mail-2", "ok")]
    assert all(c["server"]["tls_mode"] == "starttls_required" for c in checks)
    assert all(not r.failed for r in run.for_task("Use the registered result"))
    assert smtp_server.password not in _everything_said(run)
