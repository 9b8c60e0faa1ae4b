"""upkeep_auth_audit's logic on real sshd lines and JSON auth events."""

from __future__ import annotations

import calendar
import gzip
import json
import os
import time

import pytest

from ansible.module_utils.upkeep.auth_audit import audit, sshd_events
from ansible.module_utils.upkeep.result import ParameterError
from upkeep.sandbox.extensions import logs as sandbox_logs

NOW = calendar.timegm((2026, 11, 28, 12, 0, 0))


def _params(sources, **extra):
    params = {"sources": sources, "window_days": 7, "allowlist": [], "brute_force_failures": 10,
              "brute_force_window_s": 600, "stuffing_users": 5, "burst_failures": 5,
              "failed_logins_warning": None, "failed_logins_critical": None}
    params.update(extra)
    return params


def _by(checks):
    return {c["id"]: c for c in checks}


def _syslog(ts, message):
    return "%s app-1 sshd[%d]: %s\n" % (time.strftime("%b %e %H:%M:%S", time.localtime(ts)), 1000 + int(ts) % 5000,
                                        message)


def _write(path, lines, compress=False):
    data = "".join(lines).encode()
    path.write_bytes(gzip.compress(data) if compress else data)
    os.utime(path, (NOW, NOW))
    return str(path)


def test_sshd_lines_of_real_openssh_shapes():
    lines = [
        "Nov 28 10:00:01 app-1 sshd[811]: Failed password for root from 203.0.113.45 port 50122 ssh2",
        "Nov 28 10:00:02 app-1 sshd[812]: Failed password for invalid user admin from 203.0.113.45 port 50123 ssh2",
        "Nov 28 10:00:03 app-1 sshd[812]: Invalid user admin from 203.0.113.45 port 50123",
        "Nov 28 10:00:04 app-1 sshd-session[813]: Accepted publickey for deploy from 192.0.2.10 port 1234 ssh2: "
        "ED25519 SHA256:abc",
        "Nov 28 10:00:05 app-1 sshd[814]: message repeated 3 times: [ Failed password for root from 198.51.100.1 "
        "port 2222 ssh2]",
        "Nov 28 10:00:06 app-1 sshd[815]: pam_unix(sshd:auth): authentication failure; rhost=203.0.113.45 user=root",
        "Nov 28 10:00:07 app-1 CRON[900]: pam_unix(cron:session): session opened for user root",
        "Nov 28 10:00:08 app-1 sshd[816]: Failed password for invalid user  from 203.0.113.46 port 1 ssh2",
    ]
    events = [(kind, ip, user) for _, kind, ip, user, _method, _invalid in sshd_events(lines, NOW)]
    assert events == [("fail", "203.0.113.45", "root"), ("fail", "203.0.113.45", "admin"),
                      ("invalid_user", "203.0.113.45", "admin"), ("success", "192.0.2.10", "deploy")] + \
        [("fail", "198.51.100.1", "root")] * 3 + [("fail", "203.0.113.46", "")]


def test_brute_force_then_success_is_critical_and_allowlist_is_respected(tmp_path):
    start = NOW - 3600
    lines = [_syslog(start + i * 5, "Failed password for root from 203.0.113.45 port %d ssh2" % (40000 + i))
             for i in range(12)]
    lines.append(_syslog(start + 70, "Accepted password for root from 203.0.113.45 port 41000 ssh2"))
    # The office retries a lot, but is allowlisted; a slow guesser stays under the rate.
    lines += [_syslog(start + i * 3, "Failed password for deploy from 192.0.2.10 port %d ssh2" % i) for i in range(30)]
    lines.append(_syslog(start + 100, "Accepted publickey for deploy from 192.0.2.10 port 9 ssh2"))
    lines += [_syslog(start - i * 900, "Failed password for root from 198.51.100.9 port %d ssh2" % i) for i in range(4)]
    lines.sort(key=lambda line: line[:15])
    path = _write(tmp_path / "auth.log", lines)
    checks, extra = audit(_params([{"name": "sshd", "format": "syslog", "paths": [path]}],
                                  allowlist=["192.0.2.0/24"]), now=NOW)
    checks = _by(checks)
    assert checks["auth.failed_logins"]["metrics"]["failed_logins"] == 46
    assert checks["auth.failed_logins"]["metrics"]["allowlisted_failures"] == 30
    assert checks["auth.brute_force"]["status"] == "warning"
    assert checks["auth.brute_force"]["metrics"] == {"brute_force_ips": 1, "credential_stuffing_ips": 0}
    assert checks["auth.compromise"]["status"] == "critical"
    assert [s["ip"] for s in extra["suspicious_ips"]] == ["203.0.113.45"]
    evidence = extra["suspicious_ips"][0]
    assert evidence["max_failures_in_window"] == 12 and evidence["successes_after_failures"][0]["failures_before"] == 12


def test_credential_stuffing_from_json_app_events(tmp_path):
    events = [{"ts": "2026-11-27T10:%02d:00Z" % i, "action": "signin_failed", "remote": {"addr": "198.51.100.77"},
               "email": "user%d@example.com" % i} for i in range(8)]
    events.append({"ts": "2026-11-27T11:00:00Z", "action": "signin_ok", "remote": {"addr": "192.0.2.5"},
                   "email": "staff@example.com"})
    path = _write(tmp_path / "app.log.1.gz", [json.dumps(e) + "\n" for e in events] + ["not json\n"], compress=True)
    source = {"name": "app", "format": "json", "paths": [str(tmp_path / "app.log*")],
              "fields": {"timestamp": "ts", "event": "action", "ip": "remote.addr", "user": "email"},
              "failure_events": ["signin_failed"], "success_events": ["signin_ok"]}
    checks, extra = audit(_params([source]), now=NOW)
    checks = _by(checks)
    assert path.endswith(".gz")
    assert checks["auth.failed_logins"]["metrics"]["failed_logins"] == 8
    assert checks["auth.failed_logins"]["metrics"]["successful_logins"] == 1
    assert checks["auth.brute_force"]["metrics"] == {"brute_force_ips": 0, "credential_stuffing_ips": 1}
    assert checks["auth.compromise"]["status"] == "ok"
    assert extra["suspicious_ips"][0]["reasons"] == ["credential_stuffing"]


def test_sandbox_auth_logs_show_the_planted_attack(tmp_path):
    sandbox_logs.generate(tmp_path, now=NOW)
    variables = sandbox_logs.log_sources(str(tmp_path))
    checks, extra = audit(_params(variables["upkeep_auth_audit_sources"],
                                  allowlist=variables["upkeep_auth_audit_allowlist"]), now=NOW)
    checks = _by(checks)
    assert checks["auth.compromise"]["status"] == "critical"
    flagged = {s["ip"]: s["reasons"] for s in extra["suspicious_ips"]}
    assert "success_after_failures" in flagged[sandbox_logs.BRUTE_FORCE_IP]
    assert flagged[sandbox_logs.STUFFING_IP] == ["credential_stuffing"]
    assert checks["auth.failed_logins"]["metrics"]["invalid_user_attempts"] > 0


def test_failed_login_volume_thresholds_and_unreadable_sources(tmp_path):
    path = _write(tmp_path / "auth.log", [_syslog(NOW - 60 * i, "Failed password for root from 203.0.113.%d port 1 ssh2"
                                                  % i) for i in range(1, 30)])
    checks, _ = audit(_params([{"name": "sshd", "format": "syslog", "paths": [path]}], failed_logins_warning=20,
                              failed_logins_critical=50), now=NOW)
    assert _by(checks)["auth.failed_logins"]["status"] == "warning"
    checks, _ = audit(_params([{"name": "sshd", "format": "syslog", "paths": [str(tmp_path / "missing*")]}]), now=NOW)
    assert {c["status"] for c in checks} == {"unknown"}


@pytest.mark.parametrize("change, message", [
    ({"allowlist": ["10.0.0.0/8", "office"]}, "allowlist[1]: 'office' is not an IP address or network"),
    ({"sources": [{"name": "x", "format": "csv", "paths": ["/x"]}]}, "sources[0].format"),
    ({"brute_force_failures": 0}, "brute_force_failures: must be at least 1"),
    ({"brute_force_window_s": -1}, "brute_force_window_s: must be greater than 0"),
    ({"collected": {"events": [[1, "boom", "192.0.2.1", "u", "s"]]}}, "collected.events[0]: unknown kind (must be one of fail, success, invalid_user)"),
    ({"collected": {"events": [[1, "fail"]]}}, "collected.events[0]: must be [epoch, kind, ip, user, source]"),
    ({"database": {"failure_actions": ["login"]}}, "database.failure_actions: login also listed in success_actions"),
    ({"database": {"max_events": 0}}, "database.max_events and database.statement_timeout_ms: must be at least 1"),
])
def test_bad_parameters_name_the_parameter(change, message):
    params = _params([{"name": "sshd", "format": "syslog", "paths": ["/nonexistent"]}])
    params.update(change)
    with pytest.raises(ParameterError) as caught:
        audit(params, now=NOW)
    assert message in str(caught.value)


def test_a_source_in_another_format_is_unknown_not_zero_failures(tmp_path):
    """An nginx access log configured as the sshd source: nothing reads as syslog, so the audit
    cannot say "0 failed logins"."""
    path = tmp_path / "auth.log"
    _write(path, ['203.0.113.5 - - [28/Nov/2026:11:00:00 +0000] "POST /login HTTP/1.1" 401 12 "-" "curl"\n'] * 5)
    checks = _by(audit(_params([{"name": "sshd", "format": "syslog", "paths": [str(path)]}]), now=NOW)[0])
    assert checks["auth.failed_logins"]["status"] == "unknown"
    assert "format not recognised: none of its 5 lines reads as syslog" in checks["auth.failed_logins"]["summary"]
