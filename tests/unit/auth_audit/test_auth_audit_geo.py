"""auth.new_sources: countries and networks of successful logins against the remembered ones,
with real .mmdb files built by tests/support/mmdb_writer."""

from __future__ import annotations

import json
import time

import pytest

from ansible.module_utils.upkeep.auth_audit import audit
from tests.support import mmdb_writer

NOW = time.time()


def _params(sources, **extra):
    params = {"sources": sources, "window_days": 7, "allowlist": [], "brute_force_failures": 10,
              "brute_force_window_s": 600, "stuffing_users": 5, "burst_failures": 5, "failed_logins_warning": None,
              "failed_logins_critical": None, "mode": "audit", "collected": None, "database": None,
              "geoip_database": [], "state_path": None}
    params.update(extra)
    return params


def _app_log(path, logins):
    """A JSON app log with a successful login per (ip, user)."""
    path.write_text("".join(json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - 3600 + i)),
                                        "event": "login_success", "ip": ip, "user": user}) + "\n"
                            for i, (ip, user) in enumerate(logins)))
    return [{"name": "app-auth", "format": "json", "paths": [str(path)]}]


@pytest.fixture
def geoip(tmp_path):
    country = mmdb_writer.write(tmp_path / "GeoLite2-Country.mmdb", [
        ("192.0.2.0/24", mmdb_writer.country("AE", "United Arab Emirates", "AS")),
        ("198.51.100.0/24", mmdb_writer.country("SA", "Saudi Arabia", "AS")),
        ("203.0.113.0/24", mmdb_writer.country("RU", "Russia"))])
    asn = mmdb_writer.write(tmp_path / "GeoLite2-ASN.mmdb", [
        ("192.0.2.0/24", mmdb_writer.asn(5384, "Emirates Telecommunications Corporation")),
        ("198.51.100.0/24", mmdb_writer.asn(25019, "Saudi Telecom Company JSC")),
        ("203.0.113.0/24", mmdb_writer.asn(64500, "Bulletproof Hosting"))], database_type="GeoLite2-ASN", record_size=24)
    return [str(country), str(asn)]


def _new_sources(checks):
    return next(c for c in checks if c["id"] == "auth.new_sources")


def test_baseline_then_a_new_country_and_network(tmp_path, geoip):
    state = tmp_path / "state" / "auth.json"
    first = _app_log(tmp_path / "week1.log", [("192.0.2.10", "sales@almazahir.com"), ("198.51.100.4", "buyer@x.sa")])
    check = _new_sources(audit(_params(first, geoip_database=geoip, state_path=str(state)), now=NOW)[0])
    assert check["status"] == "ok" and check["findings"] == []
    assert "first run: baseline of 4 countries/networks recorded" in check["summary"]
    assert check["countries"] == ["AE", "SA"] and check["networks"][0].startswith("AS25019")
    assert json.loads(state.read_text())["known"].keys() == {
        "country:AE", "country:SA", "network:AS5384 Emirates Telecommunications Corporation",
        "network:AS25019 Saudi Telecom Company JSC"}

    second = _app_log(tmp_path / "week2.log", [("192.0.2.11", "sales@almazahir.com"),
                                              ("203.0.113.45", "admin@almazahir.com")])
    check = _new_sources(audit(_params(second, geoip_database=geoip, state_path=str(state)), now=NOW)[0])
    assert check["status"] == "warning"
    assert [(n["kind"], n["value"]) for n in check["new"]] == [("country", "RU"),
                                                             ("network", "AS64500 Bulletproof Hosting")]
    finding = check["findings"][0]
    assert finding["title"] == "Logins from a new source country: RU"
    assert "203.0.113.45" in finding["detail"] and "admin@almazahir.com" in finding["detail"]
    assert finding["sources"] == ["app-auth"]
    # Reported once: remembered from now on.
    check = _new_sources(audit(_params(second, geoip_database=geoip, state_path=str(state)), now=NOW)[0])
    assert check["status"] == "ok"


def test_check_mode_reads_the_state_but_writes_none(tmp_path, geoip):
    state = tmp_path / "auth.json"
    logins = _app_log(tmp_path / "app.log", [("203.0.113.45", "admin@almazahir.com")])
    checks, _ = audit(_params(logins, geoip_database=geoip, state_path=str(state)), now=NOW, check_mode=True)
    assert not state.exists()
    assert "check mode: state file not written" in _new_sources(checks)["summary"]


def test_allowlisted_and_unknown_addresses_claim_no_country(tmp_path, geoip):
    state = tmp_path / "auth.json"
    state.write_text(json.dumps({"schema": "upkeep.auth_audit_state/1", "known": {}}))
    logins = _app_log(tmp_path / "app.log", [("203.0.113.45", "admin@almazahir.com"), ("10.1.2.3", "ops"), ("-", "x")])
    check = _new_sources(audit(_params(logins, geoip_database=geoip, state_path=str(state),
                                       allowlist=["203.0.113.0/24"]), now=NOW)[0])
    assert check["status"] == "ok" and check["metrics"]["source_countries"] == 0


def test_without_a_geoip_database_nothing_is_claimed(tmp_path):
    logins = _app_log(tmp_path / "app.log", [("203.0.113.45", "admin@almazahir.com")])
    checks, _ = audit(_params(logins, state_path=str(tmp_path / "auth.json")), now=NOW)
    assert "auth.new_sources" not in {c["id"] for c in checks}
    assert not (tmp_path / "auth.json").exists()


def test_an_unreadable_geoip_database_is_unknown(tmp_path):
    bad = tmp_path / "GeoLite2-Country.mmdb"
    bad.write_bytes(b"not a database")
    logins = _app_log(tmp_path / "app.log", [("203.0.113.45", "admin@almazahir.com")])
    checks, _ = audit(_params(logins, geoip_database=[str(bad)]), now=NOW)
    check = _new_sources(checks)
    assert check["status"] == "unknown" and "no metadata marker" in check["summary"]
    assert {c["id"]: c["status"] for c in checks}["auth.failed_logins"] == "ok"


def _hostile_country_db(path):
    """A Country database whose one record is a map keyed by an array (a TypeError before the fix)."""
    tree = (1 + 16).to_bytes(3, "big") * 2
    record = bytes([0xE0 | 1, 0x01, 11 - 7, 0x41]) + b"x" + bytes([0x41]) + b"x"
    encoder = mmdb_writer._Encoder()
    encoder.value({"binary_format_major_version": 2, "database_type": "GeoLite2-Country", "ip_version": 4,
                   "node_count": 1, "record_size": 24})
    path.write_bytes(tree + b"\0" * 16 + record + mmdb_writer.MARKER + bytes(encoder.out))
    return str(path)


def test_a_hostile_geoip_record_is_unknown_while_every_other_check_reports(tmp_path):
    logins = _app_log(tmp_path / "app.log", [("203.0.113.45", "admin@almazahir.com")])
    hostile = _hostile_country_db(tmp_path / "GeoLite2-Country.mmdb")
    checks, _ = audit(_params(logins, geoip_database=[hostile], state_path=str(tmp_path / "auth.json")), now=NOW)
    statuses = {c["id"]: c["status"] for c in checks}
    assert statuses == {"auth.failed_logins": "ok", "auth.brute_force": "ok", "auth.compromise": "ok",
                        "auth.new_sources": "unknown"}
    check = _new_sources(checks)
    assert "1 GeoIP lookups failed" in check["summary"] and "map key of type list" in check["summary"]
    assert check["metrics"]["geoip_lookup_errors"] == 1


@pytest.mark.parametrize("database_type", ["GeoIP2-ISP", "GeoIP2-Anonymous-IP", "GeoIP2-Connection-Type"])
def test_a_database_neither_country_nor_asn_is_unknown(tmp_path, database_type):
    other = mmdb_writer.write(tmp_path / "other.mmdb", [("203.0.113.0/24", {"isp": "Example", "is_anonymous": True})],
                              database_type=database_type)
    logins = _app_log(tmp_path / "app.log", [("203.0.113.45", "admin@almazahir.com")])
    checks, _ = audit(_params(logins, geoip_database=[str(other)]), now=NOW)
    check = _new_sources(checks)
    assert check["status"] == "unknown", check
    assert "%r database: neither Country/City nor ASN" % database_type in check["summary"]
    assert {c["id"]: c["status"] for c in checks}["auth.failed_logins"] == "ok"


def test_an_unexpected_fault_in_the_geoip_part_costs_that_check_only(tmp_path, geoip, monkeypatch):
    """Mock: a fault of a kind no file produces now that the reader is hardened (a future bug)."""
    from ansible.module_utils.upkeep import auth_audit_geo

    def broken(*args):
        raise KeyError("boom")

    monkeypatch.setattr(auth_audit_geo, "_sources_of_logins", broken)
    logins = _app_log(tmp_path / "app.log", [("203.0.113.45", "admin@almazahir.com")])
    checks, _ = audit(_params(logins, geoip_database=geoip), now=NOW)
    assert _new_sources(checks)["status"] == "unknown"
    assert _new_sources(checks)["summary"] == "GeoIP evaluation failed: KeyError: 'boom'"
    assert len(checks) == 4


def test_a_corrupt_database_is_given_up_after_a_few_failed_lookups(tmp_path):
    """Each failed lookup of a hostile file may cost a whole decoding budget: thousands of logins
    must not make thousands of them."""
    from ansible.module_utils.upkeep.auth_audit_geo import MAX_LOOKUP_ERRORS

    logins = _app_log(tmp_path / "app.log", [("203.0.113.%d" % (i % 250), "user%d@example.org" % i) for i in range(300)])
    hostile = _hostile_country_db(tmp_path / "GeoLite2-Country.mmdb")
    checks, _ = audit(_params(logins, geoip_database=[hostile]), now=NOW)
    check = _new_sources(checks)
    assert check["status"] == "unknown"
    assert check["metrics"]["geoip_lookup_errors"] == MAX_LOOKUP_ERRORS == 10
    assert "; a corrupt database was given up after 10 failed lookups" in check["summary"]
