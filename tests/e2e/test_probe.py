"""``upkeep probe`` end to end: real runs of the CLI against a real loopback web app, the real
PostgreSQL of fixtures_pg and a real SMTP server; an outage made by stopping the web app."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time

import pytest
import yaml

from tests.fixtures.wrapper import BIN, upkeep
from tests.support.fixtures_pg import APP_PASSWORD
from upkeep.sandbox import webapp

pytestmark = pytest.mark.slow


def _inventory(tmp_path, base, pg=None, smtp=None, probe=None):
    password_file = tmp_path / "db-password"
    password_file.write_text(APP_PASSWORD + "\n")
    password_file.chmod(0o600)
    host = {
        "upkeep_http_endpoints": [
            {"name": "api-health", "url": base + "/api/health", "check": "health",
             "json_assertions": ['status != "down"']},
            {"name": "home-page", "url": base + "/", "check": "page"},
            {"name": "products-page", "url": base + "/products", "check": "page"},
            # not a probe target by default (a third-party API is not probed every minute)
            {"name": "whatsapp", "url": base + "/whatsapp/v17.0/1", "check": "whatsapp"},
        ],
    }
    if pg:
        host["upkeep_postgres_databases"] = [dict(
            pg, name="app-db", password="{{ lookup('ansible.builtin.file', '%s') }}" % password_file)]
    if smtp:
        host["upkeep_smtp_servers"] = [{"name": "mail", "host": smtp.host, "port": smtp.port,
                                        "ca_file": smtp.ca_file, "username": smtp.user,
                                        "password": smtp.password}]
    variables = {"upkeep_probe": probe} if probe is not None else {}
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump({"all": {"vars": variables, "hosts": {"web1": host}}}))
    return path


def _probe(inventory, report_dir, *extra, **env):
    return upkeep("probe", "-i", inventory, "--report-dir", report_dir, *extra, timeout=60, **env)


def test_an_outage_between_probe_runs_is_a_downtime_interval_and_costs_availability(tmp_path, pg_app, smtp_server):
    app = webapp.start_in_thread("127.0.0.1", 0, slow_ms=50, access_log=open("/dev/null", "w"))
    port = app.port
    report_dir = tmp_path / "reports"
    inventory = _inventory(tmp_path, app.url, pg=pg_app, smtp=smtp_server)
    try:
        first = _probe(inventory, report_dir)
        # the pg health endpoint of the app reports no database here: status is "degraded", not "down"
        assert first.returncode in (0, 1), first.stderr + first.stdout
        assert "5 targets" in first.stdout
        app.stop()
        stopped = time.time()
        down1 = _probe(inventory, report_dir)
        time.sleep(1.2)
        down2 = _probe(inventory, report_dir)
        assert down1.returncode == down2.returncode == 2
        assert "http.health api-health:" in down1.stdout and "refused" in down1.stdout.lower()
        time.sleep(max(0.0, 3.0 - (time.time() - stopped)))
        app = webapp.start_in_thread("127.0.0.1", port, slow_ms=50, access_log=open("/dev/null", "w"))
        back = _probe(inventory, report_dir)
        assert back.returncode in (0, 1), back.stdout
    finally:
        app.stop()

    shown = upkeep("probe", "report", "--json", "--report-dir", report_dir)
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    targets = {t["target"]: t for t in report["targets"]}
    assert set(targets) == {"api-health", "home-page", "products-page", "app-db", "mail"}
    health = targets["api-health"]["availability"]
    assert health["24h"] == health["30d"] and health["24h"]["samples"] == 4 and health["24h"]["up"] == 2
    assert health["24h"]["availability_pct"] == 50.0
    assert targets["app-db"]["availability"]["24h"]["availability_pct"] == 100.0
    assert targets["mail"]["availability"]["24h"]["availability_pct"] == 100.0
    assert targets["api-health"]["latency_24h_ms"]["p50"] is not None
    outages = [d for d in report["downtimes"] if d["target"] == "api-health"]
    assert len(outages) == 1
    outage = outages[0]
    assert outage["end"] is not None and outage["samples"] == 2 and 2 <= outage["duration_s"] <= 10
    assert "refused" in outage["first_error"].lower()
    assert {d["target"] for d in report["downtimes"]} == {"api-health", "home-page", "products-page"}

    text = upkeep("probe", "report", "--report-dir", report_dir).stdout
    assert "50.000%" in text and "first error:" in text

    # no report directory per run, and no secret in anything written
    assert not [p for p in report_dir.iterdir() if p.is_dir()]
    for path in report_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert APP_PASSWORD.encode() not in data and smtp_server.password.encode() not in data, path
    plan = json.loads((report_dir / "probe-plan.json").read_text())
    assert plan["plan"]["cacheable"] and plan["plan"]["postgres"][0]["password"] == {
        "__secret__": [{"file": str(tmp_path / "db-password")}]}
    assert (report_dir / "probe-plan.json").stat().st_mode & 0o077 == 0
    # the SMTP probe is the banner and STARTTLS: no AUTH, no mail
    assert smtp_server.stats.auth_attempts == 0 and smtp_server.stats.messages == 0


def test_the_plan_is_read_again_when_the_inventory_changes(tmp_path, http_app):
    report_dir = tmp_path / "reports"
    inventory = _inventory(tmp_path, http_app.url)
    assert _probe(inventory, report_dir, "--explain").stdout.startswith("plan from inventory")
    assert _probe(inventory, report_dir, "--explain").stdout.startswith("plan from cache")
    time.sleep(0.01)
    inventory = _inventory(tmp_path, http_app.url, probe={"http_checks": ["health"]})
    explained = _probe(inventory, report_dir, "--explain").stdout
    assert explained.startswith("plan from inventory") and "home-page" not in explained and "api-health" in explained


@pytest.mark.parametrize("probe, message", [
    ({"samples": 0}, "upkeep_probe.samples: must be an integer from 1 to 10, got 0"),
    ({"intervall": 60}, "upkeep_probe: unknown key(s) intervall"),
    ({"retention": {"raw_days": 30, "hourly_days": 7}}, "upkeep_probe.retention.hourly_days (7) must be at least raw_days (30)"),
    ({"http_checks": "health"}, "upkeep_probe.http_checks: must be a list of names, got 'health'"),
    ({"http_checks": ["nothing"], "postgres": False}, "nothing to probe"),
])
def test_a_bad_probe_configuration_is_a_usage_error_naming_it(tmp_path, probe, message):
    inventory = _inventory(tmp_path, "http://127.0.0.1:9", probe=probe)
    result = _probe(inventory, tmp_path / "reports")
    assert result.returncode == 64, result.stdout + result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "reports" / "history.sqlite").exists() or not sqlite3.connect(
        tmp_path / "reports" / "history.sqlite").execute("SELECT count(*) FROM probe_samples").fetchone()[0]


def test_a_secret_that_is_not_a_lookup_is_never_cached(tmp_path, http_app):
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {"web1": {"upkeep_http_endpoints": [
        {"name": "api-health", "url": http_app.url + "/api/health", "check": "health",
         "headers": {"Authorization": "Bearer literal-secret-5f1c"}}]}}}}))
    result = _probe(inventory, tmp_path / "reports")
    assert result.returncode in (0, 1), result.stderr
    assert "not cached" in result.stderr and "headers.Authorization" in result.stderr
    assert b"literal-secret-5f1c" not in (tmp_path / "reports" / "probe-plan.json").read_bytes()


def test_a_vaulted_secret_is_decrypted_each_run_and_never_cached(tmp_path, http_app):
    password_file = tmp_path / "vault-pass"
    password_file.write_text("vault-pw-1\n")
    encrypted = subprocess.run([str(BIN / "ansible-vault"), "encrypt_string", "--vault-password-file",
                                str(password_file), "vaulted-token-77", "--name", "vault_api_token"],
                               capture_output=True, text=True, check=True).stdout
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "all.yml").write_text(encrypted)
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {"web1": {"upkeep_http_endpoints": [
        {"name": "api-health", "url": http_app.url + "/api/health", "check": "health",
         "headers": {"X-Api-Token": "{{ vault_api_token }}"}}]}}}}))
    report_dir = tmp_path / "reports"
    result = _probe(inventory, report_dir, ANSIBLE_VAULT_PASSWORD_FILE=str(password_file))
    assert result.returncode in (0, 1), result.stderr
    assert "web1: upkeep_http_endpoints[0].headers.X-Api-Token is not a file or env lookup" in result.stderr
    for path in report_dir.rglob("*"):
        if path.is_file():
            assert b"vaulted-token-77" not in path.read_bytes(), path
    without = _probe(inventory, report_dir)
    assert without.returncode == 64 and "upkeep_http_endpoints cannot be templated" in without.stderr
