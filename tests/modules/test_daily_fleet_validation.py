"""playbooks/daily.yml imports its roles with Ansible's per-host argument-spec task turned off;
each role checks every host's variables against its meta/argument_specs.yml once for the fleet.
Real ansible-playbook runs of the real playbook: a bad variable (or one that cannot even be
templated) is an unknown check filed under its host, naming the variable and item, the rest of
the fleet is probed, and no secret of a rejected item is printed. The targets are closed
loopback ports: what is checked here is where the problems go, not the probes' verdicts (module
tests cover those against real servers)."""

from __future__ import annotations

import json
import pathlib
import socket
import sys

import pytest

from tests.support.playbook import run_tasks

pytestmark = pytest.mark.slow

REPO = pathlib.Path(__file__).resolve().parents[2]
CHECK_VARIABLES = "Check every host's variables against the role's argument spec"
REPORT_PROBLEMS = "Report the variables the role's argument spec rejects, each under its host"
TOKEN = "Bearer fleet-validation-t0ken"


def _closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _local(**host_vars):
    return dict({"ansible_connection": "local", "ansible_python_interpreter": sys.executable}, **host_vars)


def _checks(results):
    return [(check["host"], check["target"], check["summary"]) for item in results for check in item.res.get("checks") or []]


@pytest.fixture(scope="module")
def daily_run(tmp_path_factory):
    port = _closed_port()
    url = "http://127.0.0.1:%d/" % port
    database = {"host": "127.0.0.1", "port": port, "user": "app", "database": "app", "connect_timeout_s": 2}
    inventory = {"all": {
        # The closed ports are critical: the play must not fail on that verdict here.
        "vars": {"upkeep_http_samples": 1, "upkeep_http_timeout_s": 2, "upkeep_smtp_timeout_s": 2,
                 "upkeep_postgres_samples": 1, "upkeep_fail_on": "never"},
        "hosts": {
            "web1": _local(upkeep_http_endpoints=[{"url": url + "one"}],
                           upkeep_smtp_servers=[{"host": "127.0.0.1", "port": port, "tls_mode": "none"}],
                           upkeep_postgres_databases=[dict(database, name="web1-db")]),
            "web2": _local(upkeep_http_endpoints=[{"url": url + "bad", "headers": {"Authorization": TOKEN}, "bogus": 1},
                                                  {"url": url + "two"}],
                           upkeep_smtp_servers=[{"host": "127.0.0.1", "port": port, "tls_mode": "sometimes"}],
                           upkeep_postgres_databases=[dict(database, name="web2-db", port="x")]),
            "web3": _local(upkeep_http_endpoints=[{"url": url + "three"}], upkeep_http_samples="many"),
            "web4": _local(upkeep_smtp_servers=[{"host": "{{ undefined_smtp_host }}"}]),
        },
    }}
    return run_tasks(None, inventory=inventory, playbook=REPO / "playbooks" / "daily.yml",
                     tmp_path=tmp_path_factory.mktemp("daily-validation"))


def test_no_per_host_argument_spec_task_runs(daily_run):
    assert daily_run.rc == 0, daily_run.stdout[-3000:]
    assert not [item for item in daily_run.results if item.task.startswith("Validating arguments against arg spec")]
    assert not [(item.task, item.res.get("msg")) for item in daily_run.results if item.failed]
    checked = daily_run.for_task(CHECK_VARIABLES)
    assert len(checked) == 6 and {item.host for item in checked} == {"web1"}  # once per role for the fleet
    assert not [item for item in checked if item.failed]


def test_bad_variables_are_unknown_checks_under_their_host_naming_the_variable(daily_run):
    found = _checks(daily_run.for_task(REPORT_PROBLEMS))
    assert [(host, target) for host, target, _ in found] == [
        ("web2", "upkeep_http_endpoints[0]"), ("web3", "upkeep_http_samples"),
        ("web2", "upkeep_smtp_servers[0]"), ("web4", "upkeep_smtp_servers"), ("web2", "upkeep_postgres_databases[0]")]
    summaries = [summary for _, _, summary in found]
    assert summaries[0].startswith("web2: upkeep_http_endpoints[0]: unsupported option bogus.")
    assert summaries[1] == "web3: upkeep_http_samples: must be a whole number, got 'many'"  # no Python type names
    assert summaries[2].startswith("web2: upkeep_smtp_servers[0]: value of tls_mode must be one of:")
    assert summaries[3] == "web4: upkeep_smtp_servers: cannot be templated: 'undefined_smtp_host' is undefined"
    assert summaries[4] == "web2: upkeep_postgres_databases[0]: port: must be a whole number, got 'x'"
    checks = [check for item in daily_run.for_task(REPORT_PROBLEMS) for check in item.res.get("checks") or []]
    assert {(check["id"], check["status"]) for check in checks} == {
        ("task.upkeep_http", "unknown"), ("task.upkeep_smtp", "unknown"), ("task.upkeep_postgres", "unknown")}


def test_the_rest_of_the_fleet_is_still_probed(daily_run):
    (probe,) = daily_run.for_task("Probe the HTTP endpoints of every host in the play")
    assert not probe.failed
    # web2's rejected item is left out, its good one probed: one bad item no longer fails the fleet's call.
    assert [(check["host"], check["target"].rsplit("/", 1)[1]) for check in probe.res["checks"]] == [
        ("web1", "one"), ("web2", "two"), ("web3", "three")]
    (smtp,) = daily_run.for_task("Check the mail servers of every host in the play")
    assert [check["host"] for check in smtp.res["checks"]] == ["web1"]
    (ping,) = daily_run.for_task("Connect to every database of the play and time a trivial query")
    assert [check["target"] for check in ping.res["checks"]] == ["web1-db"]
    # Host side: every host reads its own resources.
    host_checks = daily_run.for_task("Check this host's load, memory, disks and key services")
    assert sorted(item.host for item in host_checks if not item.failed) == ["web1", "web2", "web3", "web4"]


def test_the_run_summary_counts_the_problems_and_no_secret_is_printed(daily_run):
    (summary,) = daily_run.for_task("Publish the run summary as job artifacts")
    published = summary.res["ansible_stats"]["data"]["upkeep"]
    assert published["status"] == "unknown" and published["exit_code"] == 3
    assert published["counts"]["unknown"] == 5
    assert TOKEN not in daily_run.stdout and TOKEN not in json.dumps([item.res for item in daily_run.results])


def test_a_bad_play_or_role_var_is_checked_where_the_role_reads_it(tmp_path):
    """Role defaults, play and role vars never reach hostvars: the run-once host's task context
    is checked, so a role var the role would silently read as false is reported."""
    playbook = tmp_path / "weekly-like.yml"
    playbook.write_text(json.dumps([{
        "name": "Backups with a bad switch", "hosts": "all", "gather_facts": False,
        "tasks": [{"name": "Backups", "ansible.builtin.import_role": {"name": "upkeep_backup", "rolespec_validate": False},
                   "vars": {"upkeep_backup_restore_verify_enabled": "maybe"}}],
    }]))
    inventory = {"all": {"hosts": {"web1": _local(), "web2": _local()}}}
    run = run_tasks(None, inventory=inventory, playbook=playbook, tmp_path=tmp_path)
    assert run.rc == 0, run.stdout[-3000:]
    found = _checks(run.for_task(REPORT_PROBLEMS))
    assert len(found) == 1 and found[0][:2] == ("web1", "upkeep_backup_restore_verify_enabled"), found
    assert found[0][2] == "web1: upkeep_backup_restore_verify_enabled: must be true or false, got 'maybe'"


def test_a_bad_shared_setting_keeps_every_endpoint_in_the_report_as_unknown(tmp_path):
    """`-e upkeep_http_samples=0` once removed every HTTP check without a word: each endpoint is
    now an unknown check under its id, target and host, naming the variable, its value and the rule."""
    url = "http://127.0.0.1:%d/" % _closed_port()
    inventory = {"all": {"hosts": {
        "web1": _local(upkeep_http_endpoints=[{"url": url + "api/health", "check": "health"}, {"url": url, "name": "home"}]),
        "web2": _local(upkeep_http_endpoints=[{"url": url + "api/health", "check": "health"}]),
    }}}
    run = run_tasks(None, inventory=inventory, playbook=REPO / "playbooks" / "daily.yml", tmp_path=tmp_path,
                    extra_vars={"upkeep_http_samples": 0})
    http = [check for item in run.for_task("Probe the HTTP endpoints of every host in the play")
            for check in item.res.get("checks") or []]
    assert [(c["host"], c["id"], c["target"], c["status"]) for c in http] == [
        ("web1", "http.health", url + "api/health", "unknown"), ("web1", "http.endpoint", "home", "unknown"),
        ("web2", "http.health", url + "api/health", "unknown")]
    assert all(c["summary"] == "upkeep_http_samples: must be an integer >= 1, got 0" for c in http)
    # The play fails on its verdict (unknown reaches the default upkeep_fail_on), and on nothing else.
    failed = [item for item in run.results if item.failed]
    assert [item.task for item in failed] == ["Fail the run when its worst status reaches upkeep_fail_on"], run.stdout[-2000:]
    assert failed[0].res["msg"].startswith("upkeep verdict: daily run is UNKNOWN (upkeep_fail_on=critical)")

