"""upkeep_http_check and the upkeep_http role through real ansible-playbook runs against the
sandbox web app on loopback."""

from __future__ import annotations

import json
import pathlib
import sys

import pytest

from tests.support.playbook import run_tasks

pytestmark = pytest.mark.slow

PROBE = "Probe the platform"


def _local(**host_vars):
    return dict({"ansible_connection": "local", "ansible_python_interpreter": sys.executable}, **host_vars)


def _everything_said(run):
    """stdout, every task result and every file ansible-runner left behind, as one text."""
    files = [path.read_text(errors="replace") for path in pathlib.Path(run.artifacts_dir).rglob("*") if path.is_file()]
    return "\n".join([run.stdout, json.dumps([item.res for item in run.results])] + files)


@pytest.fixture(scope="module")
def probe_run(https_app, tmp_path_factory):
    """One run of the module over several endpoints, the WhatsApp one with the bearer token."""
    base = https_app.url
    task = {
        "name": PROBE,
        "upkeep_http_check": {
            "ca_file": https_app.ca_file,
            "samples": 2,
            "endpoints": [
                {"url": base + "/api/health", "check": "health", "inventory_host": "web1",
                 "json_assertions": ['status == "healthy"', 'checks.database == "ok"']},
                {"url": base + "/api/error", "inventory_host": "web1"},
                {"url": base + "/whatsapp/v17.0/1234567890", "check": "whatsapp",
                 "headers": {"Authorization": "Bearer " + https_app.token}, "json_assertions": ["id exists"]},
                {"url": base + "/email/status", "check": "email", "json_assertions": ['status == "operational"']},
            ],
        },
        "register": "upkeep_http_result",
    }
    return run_tasks([task], tmp_path=tmp_path_factory.mktemp("http-run"))


def test_module_returns_one_check_per_endpoint(probe_run, https_app):
    result = probe_run.one(PROBE)
    assert not result.failed, probe_run.stdout[-3000:]
    checks = result.res["checks"]
    assert [(item["id"], item["status"]) for item in checks] == [
        ("http.health", "ok"), ("http.endpoint", "critical"), ("http.whatsapp", "ok"), ("http.email", "ok")]
    assert [item.get("host") for item in checks] == ["web1", "web1", None, None]
    assert result.res["status"] == "critical" and result.res["counts"]["critical"] == 1
    assert result.res["changed"] is False
    assert checks[0]["metrics"]["samples_count"] == 2


def test_bearer_token_appears_nowhere(probe_run, https_app):
    assert probe_run.one(PROBE).res["checks"][2]["status"] == "ok"  # the token was really sent
    assert https_app.token not in _everything_said(probe_run)


def test_check_mode_probes_and_reports_no_change(https_app, tmp_path):
    task = {"name": PROBE, "upkeep_http_check": {
        "endpoints": [{"url": https_app.url + "/api/health", "ca_file": https_app.ca_file}]}}
    run = run_tasks([task], check=True, tmp_path=tmp_path)
    result = run.one(PROBE)
    assert not result.failed and result.res["changed"] is False
    assert result.res["checks"][0]["status"] == "ok" and result.res["checks"][0]["metrics"]["status_code"] == 200


@pytest.mark.parametrize("endpoint, message", [
    ({"url": "ftp://x"}, "endpoints[1].url: must be an http(s) URL, got 'ftp://x'"),
    ({"url": "https://127.0.0.1/", "samples": 0}, "endpoints[1] (https://127.0.0.1/).samples: must be an integer >= 1, got 0"),
    ({"url": "https://127.0.0.1/", "name": "health", "json_assertions": ["status = healthy"]},
     "endpoints[1] (health).json_assertions[0]: cannot parse 'status = healthy'"),
])
def test_a_bad_endpoint_is_an_unknown_check_with_a_clear_message(https_app, endpoint, message, tmp_path):
    good = {"url": https_app.url + "/api/health", "ca_file": https_app.ca_file}
    run = run_tasks([{"name": PROBE, "upkeep_http_check": {"endpoints": [good, endpoint], "samples": 1}}],
                    tmp_path=tmp_path)
    result = run.one(PROBE)
    assert not result.failed, run.stdout[-3000:]
    assert [item["status"] for item in result.res["checks"]] == ["ok", "unknown"]
    assert result.res["checks"][1]["summary"].startswith(message)
    assert "Traceback (most recent call last)" not in run.stdout + json.dumps(result.res)


@pytest.mark.parametrize("options, message", [
    ({"samples": 0}, "samples: must be an integer >= 1, got 0"),
    ({"concurrency": 0}, "concurrency: must be an integer >= 1, got 0"),
    ({"endpoints": [{"url": "https://127.0.0.1/", "retries": 2}]}, "retries"),
])
def test_bad_top_level_parameters_fail_with_a_clear_message_and_no_traceback(options, message, tmp_path):
    arguments = dict({"endpoints": [{"url": "https://127.0.0.1/"}]}, **options)
    run = run_tasks([{"name": PROBE, "upkeep_http_check": arguments}], tmp_path=tmp_path)
    result = run.one(PROBE)
    assert result.failed
    assert message in result.res["msg"]
    # ansible-core 2.19 puts exception: "(traceback unavailable)" on every failure; a real one would show.
    assert "Traceback (most recent call last)" not in run.stdout + json.dumps(result.res)
    assert "module_stderr" not in result.res


def test_a_bad_shared_setting_of_the_role_is_an_unknown_check_per_fleet_endpoint(tmp_path):
    """Fleet items (the role's call) each stay in the result as an unknown check naming the role variable."""
    arguments = {"samples": 0, "endpoints": [{"url": "https://127.0.0.1/", "check": "health", "inventory_host": "web1"},
                                             {"url": "https://127.0.0.2/", "inventory_host": "web2"}]}
    result = run_tasks([{"name": PROBE, "upkeep_http_check": arguments}], tmp_path=tmp_path).one(PROBE)
    assert not result.failed and result.res["status"] == "unknown"
    assert [(c["host"], c["id"], c["status"]) for c in result.res["checks"]] == [
        ("web1", "http.health", "unknown"), ("web2", "http.endpoint", "unknown")]
    assert result.res["checks"][0]["summary"] == "upkeep_http_samples: must be an integer >= 1, got 0"


def test_header_values_stay_hidden_when_the_arguments_are_rejected_at_verbosity_3(https_app, tmp_path):
    """Ansible itself rejects ``samples: abc`` before the module runs, and its failure echoes the
    arguments: only no_log on ``headers`` keeps the token out of that echo."""
    task = {"name": PROBE, "upkeep_http_check": {"endpoints": [{
        "url": https_app.url + "/whatsapp/v17.0/42", "samples": "abc",
        "headers": {"Authorization": "Bearer " + https_app.token}}]}}
    run = run_tasks([task], tmp_path=tmp_path, verbosity=3)
    result = run.one(PROBE)
    assert result.failed and "samples" in result.res["msg"]
    assert "endpoints" in json.dumps(result.res.get("invocation", {}))  # the arguments were echoed
    assert https_app.token not in _everything_said(run)


def test_role_probes_each_hosts_endpoints_in_one_call(https_app, tmp_path):
    base = https_app.url
    inventory = {"all": {
        "vars": {"upkeep_http_ca_file": https_app.ca_file, "upkeep_http_samples": 1},
        "hosts": {
            "web1": _local(upkeep_http_endpoints=[
                {"url": base + "/api/health", "check": "health", "json_assertions": ['status == "healthy"']}]),
            "web2": _local(upkeep_http_endpoints=[
                {"url": base + "/", "check": "page", "body_contains": "Al Mazahir"},
                {"url": base + "/whatsapp/v17.0/42", "check": "whatsapp",
                 "headers": {"Authorization": "Bearer " + https_app.token}}]),
        },
    }}
    tasks = [{"name": "Run the role", "ansible.builtin.include_role": {"name": "upkeep_http"}}]
    run = run_tasks(tasks, hosts="all", inventory=inventory, tmp_path=tmp_path)
    probes = run.for_task("Probe the HTTP endpoints of every host in the play")
    assert len(probes) == 1 and not probes[0].failed, run.stdout[-3000:]  # one call for the fleet
    checks = probes[0].res["checks"]
    assert [(item["host"], item["id"], item["status"]) for item in checks] == [
        ("web1", "http.health", "ok"), ("web2", "http.page", "ok"), ("web2", "http.whatsapp", "ok")]
    assert all(item["metrics"]["samples_count"] == 1 for item in checks)
    assert https_app.token not in _everything_said(run)


def test_role_files_a_bad_item_under_its_own_host_and_probes_the_rest(https_app, tmp_path):
    """A roles: playbook over two hosts, one of which has a broken endpoint: the healthy host
    keeps all its checks, the broken one gets exactly one unknown naming its variable and index."""
    base = https_app.url
    inventory = {"all": {
        "vars": {"upkeep_http_ca_file": https_app.ca_file, "upkeep_http_samples": 1},
        "hosts": {
            "web1": _local(upkeep_http_endpoints=[
                {"url": base + "/api/health", "check": "health", "json_assertions": ['status == "healthy"']},
                {"url": base + "/", "check": "page", "body_contains": "Al Mazahir"}]),
            "web2": _local(upkeep_http_endpoints=[
                {"url": base + "/api/health", "check": "health"},
                {"url": base + "/", "check": "page", "latency_warning_ms": 900, "latency_critical_ms": 800}]),
        },
    }}
    playbook = tmp_path / "site.yml"
    playbook.write_text(json.dumps([{"name": "Upkeep", "hosts": "all", "gather_facts": False,
                                     "roles": ["upkeep_http"]}]))
    run = run_tasks(None, inventory=inventory, playbook=playbook, tmp_path=tmp_path)
    probes = run.for_task("Probe the HTTP endpoints of every host in the play")
    assert len(probes) == 1 and not probes[0].failed, run.stdout[-3000:]
    checks = probes[0].res["checks"]
    assert [(item["host"], item["id"], item["status"]) for item in checks] == [
        ("web1", "http.health", "ok"), ("web1", "http.page", "ok"),
        ("web2", "http.health", "ok"), ("web2", "http.page", "unknown")]
    assert checks[3]["summary"] == ("web2: upkeep_http_endpoints[1] (%s/).latency_warning_ms (900.0) must not "
                                    "exceed latency_critical_ms (800.0)" % base)
    assert run.rc == 0


def test_role_skips_cleanly_when_no_host_has_endpoints(tmp_path):
    inventory = {"all": {"hosts": {"web1": _local(), "web2": _local()}}}
    tasks = [{"name": "Run the role", "ansible.builtin.include_role": {"name": "upkeep_http"}}]
    run = run_tasks(tasks, hosts="all", inventory=inventory, tmp_path=tmp_path)
    assert run.rc == 0, run.stdout[-3000:]
    probes = run.for_task("Probe the HTTP endpoints of every host in the play")
    assert probes and all(item.event == "runner_on_skipped" for item in probes)
