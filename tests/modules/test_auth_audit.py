"""upkeep_auth_audit and the upkeep_auth_audit role through real ansible-playbook runs on
generated auth logs, Supabase Auth's audit table in a real PostgreSQL and real .mmdb files, with a
Python that has only the standard library as the host's interpreter."""

from __future__ import annotations

import gzip
import json
import os
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


@pytest.mark.parametrize("extra, message", [
    ({"window_end": "2026-02-30"}, "window_end: '2026-02-30' is not an ISO 8601 time"),
    ({"window_end": "nan"}, "window_end: 'nan' is not a time"),
    ({"baseline_days": -1}, "baseline_days: must be greater than 0, got -1"),
    ({"window_days": 0}, "window_days: must be greater than 0, got 0"),
])
def test_bad_window_fails_with_a_clear_message(extra, message, tmp_path):
    task = {"name": AUDIT, "upkeep_auth_audit": dict({"sources": [{"name": "s", "format": "syslog", "paths": ["/x"]}]},
                                                     **extra)}
    run = run_tasks([task], tmp_path=tmp_path)
    result = run.one(AUDIT)
    assert result.failed and message in result.res["msg"], result.res
    assert "Traceback (most recent call last)" not in run.stdout + json.dumps(result.res)


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


# -- material shaped like real auth logs, made here ------------------------------------------------

DAY = 86400


def _sshd(ts, message, pid=4100):
    # OpenSSH through rsyslog: local time without a year, as /var/log/auth.log and /var/log/secure hold it.
    return "%s bastion-1 sshd[%d]: %s" % (time.strftime("%b %e %H:%M:%S", time.localtime(ts)), pid, message)


def _write(path, lines, mtime=None, compress=False):
    text = "\n".join(lines) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(text.encode()) if compress else text.encode())
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def _attack(start, ip="203.0.113.45", count=14):
    """A password guesser (new connection each try, pam and invalid users mixed in) then a login."""
    lines = []
    for index in range(count):
        ts = start + index * 7
        user = ("root", "admin", "oracle", "ubuntu")[index % 4]
        invalid = user in ("admin", "oracle")
        if invalid:
            lines.append(_sshd(ts, "Invalid user %s from %s port %d" % (user, ip, 50000 + index), 5000 + index))
        lines.append(_sshd(ts + 1, "Failed password for %s%s from %s port %d ssh2"
                           % ("invalid user " if invalid else "", user, ip, 50000 + index), 5000 + index))
        lines.append(_sshd(ts + 2, "Connection closed by %s port %d [preauth]" % (ip, 50000 + index), 5000 + index))
    lines.append(_sshd(start + count * 7 + 30, "Accepted password for root from %s port 51999 ssh2" % ip, 5999))
    return lines


def _audit(tmp_path, args, check=False):
    run = run_tasks([{"name": AUDIT, "upkeep_auth_audit": args}], check=check, tmp_path=tmp_path)
    result = run.one(AUDIT)
    assert not result.failed, run.stdout[-3000:]
    return {c["id"]: c for c in result.res["checks"]}, result.res


def test_an_old_auth_log_is_unknown_now_and_audited_at_its_window_end(tmp_path):
    """Item 1: all lines 40 days old: not "0 failed logins", but unknown with what the file holds;
    window_end and baseline_days audit the day of the attack against the day before."""
    attack_at = time.time() - 40 * DAY
    day_before = [_sshd(attack_at - DAY + i * 3600, "Failed password for deploy from 192.0.2.50 port 2222 ssh2")
                  for i in range(3)]
    log = _write(tmp_path / "logs" / "auth.log.1", day_before + _attack(attack_at), mtime=attack_at + 3600)
    source = {"name": "sshd", "format": "syslog", "paths": [str(log)]}
    checks, _ = _audit(tmp_path / "now", {"sources": [source]})
    for check_id in ("auth.failed_logins", "auth.brute_force", "auth.compromise"):
        assert checks[check_id]["status"] == "unknown", checks[check_id]
        assert "none of its lines is in the window" in checks[check_id]["summary"]
    assert time.strftime("%Y-%m-%dT%H:", time.gmtime(attack_at + 14 * 7 + 30)) in checks["auth.failed_logins"]["summary"]

    end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(attack_at + 3000))
    checks, res = _audit(tmp_path / "then", {"sources": [source], "window_end": end, "window_days": 0.5,
                                             "baseline_days": 1})
    assert checks["auth.brute_force"]["status"] == "warning" and checks["auth.compromise"]["status"] == "critical"
    metrics = checks["auth.failed_logins"]["metrics"]
    assert metrics["failed_logins"] == 14 and metrics["baseline_failed_logins"] == 3  # the day before
    assert res["window"]["days"] == 0.5 and res["window"]["baseline_days"] == 1


def test_both_modules_choose_files_by_content_with_true_reasons(tmp_path):
    """Item 2: an app auth log with fresh lines but an mtime of last year is read by both modules;
    an archive whose newest line is older than the baseline is skipped by both, for that reason."""
    now = time.time()
    app = tmp_path / "logs" / "app-auth.log"
    _write(app, [json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(now - 3600 + i * 5)),
                             "level": 40, "event": "auth.login_failed", "ip": "198.51.100.23",
                             "user": "user%d@example.com" % i}) for i in range(12)], mtime=now - 400 * DAY)
    archive = _write(tmp_path / "logs" / "app-auth.log.3.gz", [json.dumps(
        {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 30 * DAY)), "level": 30, "event": "login",
         "ip": "192.0.2.5", "user": "a@example.com"})], compress=True)
    paths = [str(tmp_path / "logs" / "app-auth.log*")]
    tasks = [{"name": AUDIT, "upkeep_auth_audit": {"sources": [{"name": "app", "format": "json", "paths": paths}]}},
             {"name": "Scan", "upkeep_log_scan": {"sources": [{"name": "app", "format": "json", "paths": paths}]}}]
    run = run_tasks(tasks, tmp_path=tmp_path / "run")
    audit = {c["id"]: c for c in run.one(AUDIT).res["checks"]}
    scan = {c["id"]: c for c in run.one("Scan").res["checks"]}
    assert audit["auth.failed_logins"]["metrics"]["failed_logins"] == 12
    assert audit["auth.brute_force"]["status"] == "warning"  # 12 users from one address: credential stuffing
    assert scan["log.errors"]["metrics"]["entries"] == 12
    skipped_by_audit = [f for f in audit["auth.failed_logins"]["files"] if "skipped" in f]
    skipped_by_scan = [f for f in scan["log.errors"]["files"] if "skipped" in f]
    same = [(f["path"], f["newest_line_at"], f["skipped"].split(",")[0]) for f in skipped_by_audit]
    assert same == [(f["path"], f["newest_line_at"], f["skipped"].split(",")[0]) for f in skipped_by_scan]
    assert [f["path"] for f in skipped_by_scan] == [str(archive)] and "older than the baseline" in same[0][2]
    assert skipped_by_scan[0]["newest_line_at"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 30 * DAY))


def test_an_archived_december_auth_log_keeps_its_years(tmp_path):
    """Item 3: Dec 31 into Jan 1 of an archive written in January 2025: the attack on New Year's Eve
    is 2024's, found with the window ending on Jan 1 2025, and the evidence says the year was inferred."""
    attack_at = time.mktime((2024, 12, 31, 23, 58, 0, 0, 0, -1))
    lines = _attack(attack_at) + [_sshd(attack_at + 7200, "Accepted publickey for deploy from 192.0.2.10 port "
                                                          "40000 ssh2: ED25519 SHA256:Hx3kq")]
    log = _write(tmp_path / "logs" / "auth.log.4.gz", lines, mtime=attack_at + 7300, compress=True)
    source = {"name": "sshd", "format": "syslog", "paths": [str(log)]}
    checks, _ = _audit(tmp_path / "run", {"sources": [source], "window_end": "2025-01-01T12:00:00Z", "window_days": 1})
    assert checks["auth.compromise"]["status"] == "critical"
    finding = checks["auth.compromise"]["findings"][0]["detail"]
    assert time.strftime("%Y-%m-%d", time.gmtime(attack_at + 14 * 7 + 30)) in finding
    years = checks["auth.failed_logins"]["files"][0]["year_inferred"]
    assert years.startswith("2024") and "modification time" in years


def test_sshd_failures_by_method_probes_apart_and_accepted_logins_listed(tmp_path):
    """Item 5: "Failed none" is a client asking which methods exist, not a wrong password: 30 of
    them from a scanner are no brute force; failures are counted per method and for invalid vs
    existing users, and each accepted login shows user, source and method."""
    now = time.time() - 7200
    lines = [_sshd(now + i, "Failed none for invalid user %s from 198.51.100.99 port %d ssh2"
                   % (("admin", "test", "pi")[i % 3], 40000 + i)) for i in range(30)]
    lines += [_sshd(now + 100, "Failed none for root from 198.51.100.98 port 1 ssh2")]
    lines += [_sshd(now + 200 + i, "Failed publickey for git from 192.0.2.77 port %d ssh2: RSA SHA256:abc" % i)
              for i in range(2)]
    lines += [_sshd(now + 300, "Failed keyboard-interactive/pam for invalid user oracle from 203.0.113.9 port 5 ssh2")]
    lines += _attack(now + 600)
    lines += [_sshd(now + 900, "Accepted publickey for deploy from 192.0.2.10 port 40001 ssh2: ED25519 SHA256:Hx"),
              _sshd(now + 960, "Accepted publickey for deploy from 192.0.2.10 port 40002 ssh2: ED25519 SHA256:Hx"),
              _sshd(now + 990, "Accepted keyboard-interactive/pam for admin from 192.0.2.11 port 40003 ssh2")]
    log = _write(tmp_path / "logs" / "secure", lines)
    checks, res = _audit(tmp_path / "run", {"sources": [{"name": "sshd", "format": "syslog", "paths": [str(log)]}]})
    failed = checks["auth.failed_logins"]
    metrics = failed["metrics"]
    assert metrics["method_probes"] == 31 and metrics["failed_password"] == 14
    assert metrics["failed_publickey"] == 2 and metrics["failed_keyboard_interactive_pam"] == 1
    assert metrics["failed_logins"] == 17
    assert metrics["failed_invalid_users"] == 8 and metrics["failed_existing_users"] == 9  # 7 + 1 of the attack, 2 git
    assert [s["ip"] for s in res["suspicious_ips"]] == ["203.0.113.45"]  # the probing scanner is not a brute force
    patterns = {(p["user"], p["ip"], p["method"]): p["logins"] for p in failed["access_patterns"]}
    assert patterns == {("deploy", "192.0.2.10", "publickey"): 2, ("admin", "192.0.2.11", "keyboard-interactive/pam"): 1,
                        ("root", "203.0.113.45", "password"): 1}
