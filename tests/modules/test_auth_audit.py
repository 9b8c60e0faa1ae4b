"""upkeep_auth_audit and the upkeep_auth_audit role through real ansible-playbook runs on
generated auth logs, Supabase Auth's audit table in a real PostgreSQL and real .mmdb files, with a
Python that has only the standard library as the host's interpreter."""

from __future__ import annotations

import json
import pathlib
import sys
import time

import pytest

from tests.support import mmdb_writer
from tests.support.fixtures_logs import host_logs, stdlib_python  # noqa: F401 (fixtures)
from tests.support.fixtures_pg import APP_PASSWORD, APP_ROLE, app_options
from tests.support.playbook import run_tasks
from upkeep.sandbox.extensions import logs as sandbox_logs
from upkeep.sandbox.extensions import supabase_auth

pytestmark = pytest.mark.slow

AUDIT = "Audit the logins"
ROLE_TASK = "Audit the host's logins for failures, brute force and a success after failures"


def _inventory(python, **host_vars):
    return {"all": {"hosts": {"localhost": dict(
        {"ansible_connection": "local", "ansible_python_interpreter": python}, **host_vars)}}}


def _geoip(directory):
    """A GeoLite2-Country-shaped database: the office in AE, the brute-forcing address in RU."""
    return str(mmdb_writer.write(pathlib.Path(directory) / "GeoLite2-Country.mmdb", [
        ("192.0.2.0/24", mmdb_writer.country("AE", "United Arab Emirates", "AS")),
        ("203.0.113.0/24", mmdb_writer.country("RU", "Russia"))]))


def test_module_finds_the_brute_force_and_the_success_after_it(host_logs, stdlib_python, pg_app, tmp_path):
    """On a bare Python: logs and GeoIP work, the database source is unknown (no psycopg), nothing fails."""
    variables = sandbox_logs.log_sources(str(host_logs))
    state = tmp_path / "state" / "auth.json"
    task = {"name": AUDIT, "upkeep_auth_audit": {"sources": variables["upkeep_auth_audit_sources"],
                                                 "allowlist": variables["upkeep_auth_audit_allowlist"],
                                                 "database": pg_app, "geoip_database": [_geoip(tmp_path)],
                                                 "state_path": str(state)}}
    run = run_tasks([task], inventory=_inventory(stdlib_python), tmp_path=tmp_path / "run")
    result = run.one(AUDIT)
    assert not result.failed, run.stdout[-3000:]
    statuses = {c["id"]: c["status"] for c in result.res["checks"]}
    assert statuses == {"auth.failed_logins": "ok", "auth.brute_force": "warning", "auth.compromise": "critical",
                        "auth.audit_log": "unknown", "auth.new_sources": "ok"}
    audit_log = next(c for c in result.res["checks"] if c["id"] == "auth.audit_log")
    assert "psycopg is not installed" in audit_log["summary"]
    # The contract ranks unknown above critical: the unread source stays visible in the worst status.
    assert result.res["status"] == "unknown" and result.res["changed"] is False
    assert result.res["suspicious_ips"][0]["ip"] == sandbox_logs.BRUTE_FORCE_IP
    assert json.loads(state.read_text())["known"]  # baseline written by the bare interpreter
    assert APP_PASSWORD not in run.stdout + json.dumps(result.res)


def test_check_mode_runs_the_audit_and_writes_no_state(host_logs, tmp_path):
    variables = sandbox_logs.log_sources(str(host_logs))
    state = tmp_path / "auth.json"
    task = {"name": AUDIT, "upkeep_auth_audit": {"sources": variables["upkeep_auth_audit_sources"],
                                                 "geoip_database": [_geoip(tmp_path)], "state_path": str(state)}}
    run = run_tasks([task], inventory=_inventory(sys.executable), check=True, tmp_path=tmp_path / "run")
    result = run.one(AUDIT)
    assert not result.failed and result.res["changed"] is False
    statuses = {c["id"]: c["status"] for c in result.res["checks"]}
    assert statuses["auth.compromise"] == "critical" and statuses["auth.new_sources"] == "ok"
    assert not state.exists()


def test_module_merges_the_table_with_the_logs_and_hides_the_password(host_logs, pg_cluster, pg_database, tmp_path):
    with pg_cluster.connect(pg_database) as conn:
        supabase_auth.create_table(conn, reader=APP_ROLE)
        supabase_auth.insert(conn, supabase_auth.story(time.time()))
    variables = sandbox_logs.log_sources(str(host_logs))
    task = {"name": AUDIT, "upkeep_auth_audit": {"sources": variables["upkeep_auth_audit_sources"],
                                                 "allowlist": variables["upkeep_auth_audit_allowlist"],
                                                 "database": app_options(pg_cluster, database=pg_database)}}
    run = run_tasks([task], inventory=_inventory(sys.executable), tmp_path=tmp_path, verbosity=3)
    result = run.one(AUDIT)
    assert not result.failed, run.stdout[-3000:]
    checks = {c["id"]: c for c in result.res["checks"]}
    assert checks["auth.audit_log"]["status"] == "ok" and checks["auth.compromise"]["status"] == "critical"
    assert "admin@almazahir.com at " in checks["auth.compromise"]["findings"][0]["detail"]
    assert "(supabase-auth) after 15 failures" in checks["auth.compromise"]["findings"][0]["detail"]
    assert checks["auth.failed_logins"]["events_by_source"]["supabase-auth"]["success"] > 20
    assert APP_PASSWORD not in run.stdout + json.dumps(result.res)


def test_table_absent_is_unknown_for_that_source_only(host_logs, pg_cluster, pg_database, tmp_path):
    variables = sandbox_logs.log_sources(str(host_logs))
    task = {"name": AUDIT, "upkeep_auth_audit": {"sources": variables["upkeep_auth_audit_sources"],
                                                 "database": app_options(pg_cluster, database=pg_database)}}
    run = run_tasks([task], inventory=_inventory(sys.executable), tmp_path=tmp_path)
    result = run.one(AUDIT)
    assert not result.failed, run.stdout[-3000:]
    checks = {c["id"]: c for c in result.res["checks"]}
    assert checks["auth.audit_log"]["status"] == "unknown"
    assert "does not exist" in checks["auth.audit_log"]["summary"]
    assert checks["auth.compromise"]["status"] == "critical" and checks["auth.brute_force"]["status"] == "warning"


def test_bad_allowlist_fails_with_a_clear_message(tmp_path):
    task = {"name": AUDIT, "upkeep_auth_audit": {"sources": [{"name": "s", "format": "syslog", "paths": ["/x"]}],
                                                 "allowlist": ["10.0.0.0/8", "not-an-ip"]}}
    run = run_tasks([task], tmp_path=tmp_path)
    result = run.one(AUDIT)
    assert result.failed and result.res["msg"] == "allowlist[1]: 'not-an-ip' is not an IP address or network"
    assert "Traceback (most recent call last)" not in run.stdout + json.dumps(result.res)


def test_role_reads_the_table_on_the_controller_and_judges_it_with_the_host_logs(
        host_logs, stdlib_python, pg_cluster, pg_database, tmp_path):
    """The sandbox's story for real: the app host (a bare Python) has the logs with the app login
    burst, the database has GoTrue's login from the same IP right after it; the role reads the table
    on the controller (psycopg) and the host's run sees the compromise in the merged sources."""
    with pg_cluster.connect(pg_database) as conn:
        supabase_auth.create_table(conn, reader=APP_ROLE)
        supabase_auth.insert(conn, supabase_auth.story(time.time()))
    variables = sandbox_logs.log_sources(str(host_logs))
    database = dict(app_options(pg_cluster, database=pg_database), name="supabase-auth")
    playbook = tmp_path / "play.yml"
    playbook.write_text("- hosts: all\n  gather_facts: false\n  roles: [upkeep_auth_audit]\n")
    inventory = {"all": {"hosts": {"app-1": dict(
        ansible_connection="local", ansible_python_interpreter=stdlib_python,
        upkeep_auth_audit_sources=[s for s in variables["upkeep_auth_audit_sources"] if s["name"] == "app-auth"],
        upkeep_auth_audit_allowlist=variables["upkeep_auth_audit_allowlist"], upkeep_auth_audit_database=database)}}}
    run = run_tasks(None, inventory=inventory, playbook=playbook, tmp_path=tmp_path / "run", verbosity=3)
    collected = run.one("Read Supabase Auth's audit log on the controller")
    assert not collected.failed, run.stdout[-3000:]
    result = run.one(ROLE_TASK)
    assert not result.failed, run.stdout[-3000:]
    checks = {c["id"]: c for c in result.res["checks"]}
    assert checks["auth.audit_log"]["status"] == "ok" and checks["auth.audit_log"]["metrics"]["audit_log_events"] > 20
    assert checks["auth.compromise"]["status"] == "critical"
    suspect = next(s for s in result.res["suspicious_ips"] if s["ip"] == sandbox_logs.BRUTE_FORCE_IP)
    assert suspect["failures_by_source"] == {"app-auth": 15}
    assert [c["source"] for c in suspect["successes_after_failures"]] == ["supabase-auth"]
    assert suspect["successes_after_failures"][0]["user"] == supabase_auth.COMPROMISED_USER
    # The handed-over events are summarised, not echoed, in the host task's invocation.
    assert result.res["invocation"]["module_args"]["collected"]["events"].endswith(" events")
    artifacts = "".join(p.read_text(errors="replace") for p in pathlib.Path(run.artifacts_dir).rglob("*") if p.is_file())
    assert APP_PASSWORD not in run.stdout + artifacts


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
    assert not run.for_task("Read Supabase Auth's audit log on the controller")[0].res.get("checks")  # skipped


COLLECT_TASK = "Read Supabase Auth's audit log on the controller"
# Ordinary logins: judged, never flagged, so no check has a reason to name them.
QUIET_LOGINS = [("quiet.user%d@example.org" % i, "192.0.2.%d" % (200 + i)) for i in range(5)]


def _job_events(run):
    return [json.loads(p.read_text()) for p in pathlib.Path(run.artifacts_dir).rglob("job_events/*.json")]


def _shared_database_play(tmp_path, pg_cluster, pg_database, hosts, verbosity=0, **host_vars):
    """A play over ``hosts`` (local connections) that all use one Supabase Auth database holding QUIET_LOGINS."""
    with pg_cluster.connect(pg_database) as conn:
        supabase_auth.create_table(conn, reader=APP_ROLE)
        supabase_auth.insert(conn, [supabase_auth.entry(time.time() - 600 - i, "login", user, ip)
                                    for i, (user, ip) in enumerate(QUIET_LOGINS)])
    database = dict(app_options(pg_cluster, database=pg_database), name="supabase-auth")
    playbook = tmp_path / "play.yml"
    playbook.write_text("- hosts: all\n  gather_facts: false\n  roles: [upkeep_auth_audit]\n")
    inventory = {"all": {"hosts": {host: dict({"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                                              "upkeep_auth_audit_database": database}, **host_vars)
                                   for host in hosts}}}
    return run_tasks(None, inventory=inventory, playbook=playbook, tmp_path=tmp_path / "run", verbosity=verbosity)


def test_role_reads_a_shared_database_once_and_reports_it_once(pg_cluster, pg_database, tmp_path):
    run = _shared_database_play(tmp_path, pg_cluster, pg_database, ["app-1", "app-2", "app-3"])
    collects = run.for_task(COLLECT_TASK)
    assert len(collects) == 1, [c.res for c in collects]  # once for the play, not once per host
    items = [e for e in _job_events(run) if e.get("event") in ("runner_item_on_ok", "runner_item_on_failed")
             and e.get("event_data", {}).get("task") == COLLECT_TASK]
    assert len(items) == 1  # one read of the one database the three hosts share
    audits = {r.host: r for r in run.for_task(ROLE_TASK)}
    assert sorted(audits) == ["app-1", "app-2", "app-3"] and not any(r.failed for r in audits.values())
    audit_logs = [(host, c) for host, r in audits.items() for c in r.res["checks"] if c["id"] == "auth.audit_log"]
    assert [host for host, _ in audit_logs] == ["app-1"]
    assert audit_logs[0][1]["shared_by"] == ["app-1", "app-2", "app-3"]
    for host, result in audits.items():  # every host still judges the table's events
        checks = {c["id"]: c for c in result.res["checks"]}
        assert checks["auth.failed_logins"]["events_by_source"]["supabase-auth"]["success"] == len(QUIET_LOGINS), host


def test_role_puts_no_login_e_mail_or_ip_in_the_output_or_artifacts(pg_cluster, pg_database, tmp_path):
    run = _shared_database_play(tmp_path, pg_cluster, pg_database, ["app-1", "app-2"], verbosity=3)
    results = run.for_task(ROLE_TASK)
    assert len(results) == 2 and not any(r.failed for r in results), run.stdout[-3000:]
    assert all(any(c["id"] == "auth.failed_logins" and c["metrics"]["successful_logins"] == len(QUIET_LOGINS)
                   for c in r.res["checks"]) for r in results)
    artifacts = "".join(p.read_text(errors="replace") for p in pathlib.Path(run.artifacts_dir).rglob("*") if p.is_file())
    for user, ip in QUIET_LOGINS:
        assert user not in run.stdout + artifacts
        assert ip not in run.stdout + artifacts


def test_a_bad_handed_over_event_fails_without_echoing_the_events(tmp_path):
    now = time.time()
    task = {"name": AUDIT, "upkeep_auth_audit": {"collected": {"sources": [], "events": [
        [now - 60, "success", "192.0.2.77", "private.person@example.org", "supabase-auth"],
        [now - 30, "success", "192.0.2.78", "other.person@example.org"]]}}}
    run = run_tasks([task], tmp_path=tmp_path, verbosity=3)
    result = run.one(AUDIT)
    assert result.failed
    assert result.res["msg"] == ("collected.events[1]: must be [epoch, kind, ip, user, source] (optionally with method "
                                 "and invalid_user after them), got a list of 4 items")
    assert result.res["invocation"]["module_args"]["collected"]["events"] == "2 events"
    everything = run.stdout + json.dumps(result.res)
    for secret in ("private.person@example.org", "other.person@example.org", "192.0.2.77", "192.0.2.78"):
        assert secret not in everything
