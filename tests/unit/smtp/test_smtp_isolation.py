"""One bad server costs only its own check: an item with bad options, or an unexpected error while
talking to it, becomes an ``unknown`` check filed under its own host while the other servers are
still checked (real SMTP servers on loopback, tests/support/fixtures_smtp.py)."""

from __future__ import annotations

import json

import pytest

from ansible.module_utils.upkeep import smtp
from ansible.module_utils.upkeep.result import ParameterError


@pytest.mark.parametrize("broken, message", [
    ({"port": 70000}, "web1: upkeep_smtp_servers[1].port: must be a port number 1-65535, got 70000"),
    ({"ca_file": "/nonexistent.pem"}, "web1: upkeep_smtp_servers[1].ca_file: no such file: /nonexistent.pem"),
    ({"total_warning_ms": 5, "total_critical_ms": 1}, "web1: upkeep_smtp_servers[1].total_warning_ms (5) must not exceed"),
    ({"tls_mode": "ssl"}, "web1: upkeep_smtp_servers[1].tls_mode: must be one of starttls_auto"),
])
def test_a_bad_item_is_an_unknown_check_of_its_host_and_the_fleet_is_still_checked(smtp_server, broken, message):
    params = smtp_server.options(servers=[
        {"inventory_host": "web1", "name": "mail-1"},
        dict({"inventory_host": "web1", "name": "broken"}, **broken),
        {"inventory_host": "web2", "name": "mail-2"},
    ])
    checks = smtp.check_servers(params)
    assert [(c["host"], c["target"], c["status"]) for c in checks] == [
        ("web1", "mail-1", "ok"), ("web1", "broken", "unknown"), ("web2", "mail-2", "ok")]
    assert checks[1]["id"] == "smtp.service"
    assert checks[1]["summary"].startswith(message), checks[1]["summary"]
    assert smtp_server.password not in json.dumps(checks)


def test_items_without_a_host_keep_their_index_in_the_list(smtp_server):
    checks = smtp.check_servers(smtp_server.options(servers=[{}, {"port": 0}]))
    assert [c["status"] for c in checks] == ["ok", "unknown"]
    assert checks[1]["summary"].startswith("servers[1].port: must be a port number")
    assert checks[1]["target"] == "127.0.0.1:0" and "host" not in checks[1]


@pytest.mark.parametrize("options, message", [
    ({"timeout_s": 0}, "timeout_s: must be more than 0"),
    ({"ca_file": "/nonexistent.pem"}, "ca_file: no such file: /nonexistent.pem"),
    ({"max_workers": 300}, "max_workers: must be 1-256"),
])
def test_bad_top_level_options_fail_a_call_without_fleet_items(options, message):
    with pytest.raises(ParameterError) as raised:
        smtp.check_servers(dict({"servers": [{"host": "127.0.0.1"}]}, **options))
    assert str(raised.value).startswith(message)


@pytest.mark.parametrize("options, message", [
    ({"timeout_s": 0}, "upkeep_smtp_timeout_s: must be more than 0"),
    ({"ca_file": "/nonexistent.pem"}, "upkeep_smtp_ca_file: no such file: /nonexistent.pem"),
])
def test_a_bad_shared_setting_keeps_every_fleet_server_as_an_unknown_check(options, message):
    checks = smtp.check_servers(dict({"servers": [{"host": "127.0.0.1", "port": 25, "inventory_host": "web1"},
                                                  {"name": "provider", "host": "mx.test", "inventory_host": "web2"}]},
                                     **options))
    assert [(c["id"], c["target"], c["host"], c["status"]) for c in checks] == [
        ("smtp.service", "127.0.0.1:25", "web1", "unknown"), ("smtp.service", "provider", "web2", "unknown")]
    assert all(c["summary"].startswith(message) for c in checks)


def test_an_unexpected_error_is_unknown_for_that_server_only(smtp_server, monkeypatch):
    """A mock, because the fault is a bug: nothing a real server does should raise outside the
    handled exceptions, so one server's check_server is made to raise an AttributeError."""
    real = smtp.check_server

    def sometimes_broken(target):
        if target["name"] == "odd":
            raise AttributeError("'NoneType' object has no attribute 'sock'")
        return real(target)

    monkeypatch.setattr(smtp, "check_server", sometimes_broken)
    checks = smtp.check_servers(smtp_server.options(servers=[
        {"inventory_host": "web1", "name": "odd"}, {"inventory_host": "web2", "name": "mail-2"}]))
    assert [(c["host"], c["status"]) for c in checks] == [("web1", "unknown"), ("web2", "ok")]
    assert checks[0]["summary"] == "could not evaluate: unexpected AttributeError while talking to the server"
