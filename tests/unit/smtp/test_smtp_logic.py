"""smtp.service logic against real SMTP servers on loopback (tests/support/fixtures_smtp.py)."""

from __future__ import annotations

import json
import socket
import time

import pytest

from ansible.module_utils.upkeep.result import ParameterError
from ansible.module_utils.upkeep.smtp import check_servers
from upkeep.sandbox import smtpd


def _one(params):
    (result,) = check_servers(params)
    assert result["id"] == "smtp.service"
    return result


def test_starttls_and_auth_with_the_test_ca_is_ok(smtp_server):
    result = _one(smtp_server.options())
    assert result["status"] == "ok", result
    assert set(result["metrics"]) >= {"connect_ms", "ehlo_ms", "starttls_ms", "auth_ms", "total_ms"}
    assert result["metrics"]["max_message_size_bytes"] == 10 * 1024 * 1024
    server = result["server"]
    assert server["starttls_offered"] is True and server["tls"]["version"].startswith("TLSv1.")
    assert server["tls"]["cipher"] and server["auth_mechanisms"] == ["LOGIN", "PLAIN"]
    assert server["authenticated"] is True and server["auth_mechanism"] == "PLAIN"
    assert smtp_server.stats.auth_successes == 1 and smtp_server.stats.messages == 0
    assert result["target"] == "127.0.0.1:%d" % smtp_server.port
    assert smtp_server.password not in json.dumps(result)


def test_wrong_password_is_critical_after_one_attempt(smtp_server):
    result = _one(smtp_server.options(password="wrong-smtp-pw"))
    assert result["status"] == "critical"
    (item,) = result["findings"]
    assert item["title"] == "Authentication failed for %s" % smtp_server.user and item["detail"].startswith("535")
    assert smtp_server.stats.auth_attempts == 1  # no retry with another mechanism against a lockout counter
    assert "wrong-smtp-pw" not in json.dumps(result)


def test_starttls_required_without_starttls_is_critical(smtp_server_plain):
    result = _one(smtp_server_plain.options(tls_mode="starttls_required"))
    assert result["status"] == "critical"
    assert [f["title"] for f in result["findings"]][0] == "STARTTLS required but not offered"
    assert result["server"]["starttls_offered"] is False


def test_certificate_not_verifiable_without_the_ca_is_critical(smtp_server):
    result = _one(smtp_server.options(ca_file=None))
    assert result["status"] == "critical"
    (item,) = result["findings"]
    assert item["title"].startswith("Certificate verification failed") and "ca_file" in item["remediation"]
    assert smtp_server.stats.auth_attempts == 0


def test_host_name_mismatch_is_a_certificate_problem(smtp_server, server_cert, test_ca, tmp_path):
    from upkeep.sandbox import pki
    other = pki.issue_cert(test_ca, tmp_path, "other", hostnames=("mail.example.com",))
    handle = smtpd.start_in_thread(cert=other.cert, key=other.key, user="u", password="p")
    try:
        result = _one({"host": "127.0.0.1", "port": handle.port, "ca_file": str(test_ca.cert)})
    finally:
        handle.stop()
    assert result["status"] == "critical" and "Certificate verification failed" in result["findings"][0]["title"]


def test_password_is_never_sent_over_plain_text(smtp_server_plain):
    result = _one(smtp_server_plain.options())
    assert result["status"] == "critical"
    titles = [f["title"] for f in result["findings"]]
    assert "AUTH not attempted: the session is not encrypted" in titles
    assert "PLAIN" in result["server"]["auth_mechanisms"]  # the server did invite it
    assert smtp_server_plain.stats.auth_attempts == 0


def test_plain_text_auth_only_when_explicitly_allowed(smtp_server_plain):
    result = _one(smtp_server_plain.options(allow_plaintext_auth=True))
    assert result["status"] == "warning"
    assert smtp_server_plain.stats.auth_successes == 1
    assert any("unencrypted" in f["title"] for f in result["findings"])


def test_implicit_tls(smtp_server_implicit):
    result = _one(smtp_server_implicit.options(tls_mode="implicit"))
    assert result["status"] == "ok", result
    assert "starttls_ms" not in result["metrics"] and result["server"]["tls"]["version"].startswith("TLSv1.")


def test_closed_port_is_critical_quickly(closed_port):
    result = _one({"host": "127.0.0.1", "port": closed_port})
    assert result["status"] == "critical" and result["findings"][0]["title"] == "Connection refused"
    assert result["duration_ms"] < 1000


def test_silent_server_is_cut_off_by_the_timeout():
    with socket.create_server(("127.0.0.1", 0)) as listener:
        started = time.monotonic()
        result = _one({"host": "127.0.0.1", "port": listener.getsockname()[1], "timeout_s": 0.5})
        elapsed = time.monotonic() - started
    assert result["status"] == "critical" and result["findings"][0]["title"].startswith("Timed out during connect")
    assert elapsed < 3


def test_no_credentials_means_no_auth(smtp_server):
    result = _one(smtp_server.options(username=None, password=None))
    assert result["status"] == "ok" and "auth_ms" not in result["metrics"]
    assert smtp_server.stats.auth_attempts == 0


def test_thresholds_judge_the_measured_times(smtp_server):
    result = _one(smtp_server.options(total_warning_ms=0))
    assert result["status"] == "warning"
    assert "%.1f ms" % result["metrics"]["total_ms"] in result["findings"][0]["title"]


def test_fleet_maps_servers_to_hosts(smtp_server, smtp_server_plain, closed_port):
    params = smtp_server.options(servers=[
        {"inventory_host": "web1"},
        {"inventory_host": "web2", "port": smtp_server_plain.port, "tls_mode": "starttls_required",
         "username": None},
        {"inventory_host": "web3", "port": closed_port, "name": "relay"},
    ])
    checks = check_servers(params)
    assert [(c.get("host"), c["target"], c["status"]) for c in checks] == [
        ("web1", "127.0.0.1:%d" % smtp_server.port, "ok"),
        ("web2", "127.0.0.1:%d" % smtp_server_plain.port, "critical"),
        ("web3", "relay", "critical")]
    assert check_servers({"servers": []}) == []


@pytest.mark.parametrize("options, message", [
    ({"host": None}, "servers[0].host: required"),
    ({"port": 70000}, "servers[0].port: must be a port number 1-65535, got 70000"),
    ({"tls_mode": "ssl"}, "servers[0].tls_mode: must be one of starttls_auto, starttls_required, implicit, none"),
    ({"timeout_s": 0}, "servers[0].timeout_s: must be more than 0"),
    ({"ca_file": "/nonexistent.pem"}, "servers[0].ca_file: no such file: /nonexistent.pem"),
    ({"username": "u", "password": None}, "servers[0].password: required when username is set"),
    ({"total_warning_ms": 5, "total_critical_ms": 1}, "servers[0].total_warning_ms (5) must not exceed"),
])
def test_bad_parameters_are_named(options, message):
    """A bad item is an unknown check naming the option (test_smtp_isolation.py: the fleet goes
    on); the same mistake in the top-level options of a single-server call fails the call."""
    item = dict({"host": "127.0.0.1"}, **options)
    (result,) = check_servers({"servers": [item]})
    assert result["status"] == "unknown" and result["summary"].startswith(message), result
    with pytest.raises(ParameterError) as raised:
        check_servers(item)
    assert str(raised.value).startswith(message.replace("servers[0].", ""))
