"""tls.* verdicts against real TLS servers on loopback serving certificates the tests generate."""

from __future__ import annotations

import pytest

from ansible.module_utils.upkeep import tls
from ansible.module_utils.upkeep.tls_probe import classify_protocol_error
from tests.support.fixtures_tls import cert_maker, tls_server  # noqa: F401 (fixtures)

HSTS_GOOD = [("Strict-Transport-Security", "max-age=31536000; includeSubDomains")]


def _run(server, cert_maker, **options):
    endpoint = dict({"host": "127.0.0.1", "port": server.port, "server_name": "localhost",
                     "ca_file": str(cert_maker.directory / "root.pem"), "check_hsts": False, "timeout_s": 5}, **options)
    return {item["id"]: item for item in tls.run_tls_checks({"endpoints": [endpoint]})}


def _titles(result):
    return " | ".join(item["title"] for item in result["findings"])


@pytest.mark.parametrize("lifetime, warn, crit", [(47, 47 / 3, 4.7), (90, 30, 7), (398, 30, 7), (20, 20 / 3, 2)])
def test_expiry_limits_follow_the_lifetime(lifetime, warn, crit):
    assert tls.expiry_limits(lifetime) == pytest.approx((warn, crit))


def test_healthy_certificate_with_full_chain_and_hsts(cert_maker, tls_server):
    server = tls_server(http_headers=HSTS_GOOD)
    checks = _run(server, cert_maker, check_hsts=True)
    cert = checks["tls.certificate"]
    assert cert["status"] == "ok", cert
    assert cert["metrics"]["chain_length_count"] == 2 and cert["certificate"]["key_type"] == "EC secp256r1"
    assert checks["tls.hsts"]["status"] == "ok"
    assert checks["tls.protocols"]["protocols"]["TLSv1.0"] == "rejected"
    assert checks["tls.protocols"]["status"] == "ok"


def test_47_day_certificate_does_not_warn_mid_life(cert_maker, tls_server):
    server = tls_server(cert_maker.leaf(days=47, start_days_ago=25), name="short")
    assert _run(server, cert_maker, check_protocols=False)["tls.certificate"]["status"] == "ok"


@pytest.mark.parametrize("days, age, status, words", [
    (90, 70, "warning", "expires in"),
    (90, 85, "critical", "expires in"),
    (90, 95, "critical", "expired"),
    (90, -3, "critical", "not yet valid"),
])
def test_validity_window(cert_maker, tls_server, days, age, status, words):
    server = tls_server(cert_maker.leaf(days=days, start_days_ago=age), name="validity")
    result = _run(server, cert_maker, check_protocols=False)["tls.certificate"]
    assert result["status"] == status and words in _titles(result).lower(), result


def test_wrong_hostname(cert_maker, tls_server):
    server = tls_server(cert_maker.leaf(names=("other.example",)), name="wrong")
    result = _run(server, cert_maker, check_protocols=False)["tls.certificate"]
    assert result["status"] == "critical" and "does not match localhost" in _titles(result)


def test_self_signed(cert_maker, tls_server):
    server = tls_server(cert_maker.leaf(self_signed=True), name="self", send_intermediate=False)
    result = _run(server, cert_maker, check_protocols=False)["tls.certificate"]
    assert result["status"] == "critical" and "Self-signed" in _titles(result)
    assert result["certificate"]["self_signed"] is True


def test_missing_intermediate(cert_maker, tls_server):
    server = tls_server(name="noint", send_intermediate=False)
    result = _run(server, cert_maker, check_protocols=False)["tls.certificate"]
    assert result["status"] == "critical" and "missing intermediate" in _titles(result)
    assert result["metrics"]["chain_length_count"] == 1 and result["chain_problem"] == "missing_intermediate"


def test_untrusted_without_the_private_ca(cert_maker, tls_server):
    """No ca_file: the system store, which does not know the test root."""
    server = tls_server(name="private")
    result = _run(server, cert_maker, check_protocols=False, ca_file=None)["tls.certificate"]
    assert result["status"] == "critical" and "NOT trusted" in result["summary"]
    assert result["chain_problem"] == "untrusted_root"  # the server sends its intermediate: nothing is missing


def test_rsa_1024_and_sha1(cert_maker, tls_server):
    weak = _run(tls_server(cert_maker.leaf(rsa_bits=1024), name="rsa1024"), cert_maker, check_protocols=False)
    assert "Weak key: RSA 1024 bits" in _titles(weak["tls.certificate"])
    strong = _run(tls_server(cert_maker.leaf(rsa_bits=2048), name="rsa2048"), cert_maker, check_protocols=False)
    assert strong["tls.certificate"]["status"] == "ok"
    sha1 = _run(tls_server(cert_maker.sha1_leaf(), name="sha1"), cert_maker, check_protocols=False)
    assert sha1["tls.certificate"]["status"] == "critical" and "SHA1" in _titles(sha1["tls.certificate"])


def test_old_protocols_accepted_is_a_warning(cert_maker, tls_server):
    result = _run(tls_server(name="old", old_protocols=True), cert_maker)["tls.protocols"]
    assert result["protocols"]["TLSv1.0"] == "accepted" and result["status"] == "warning"


def test_client_side_refusal_is_could_not_test():
    """OpenSSL here still offers TLS 1.0 at security level 0, so a client refusal cannot be produced
    for real; the classifier is fed the errors OpenSSL raises in that case."""
    import ssl
    refused = ssl.SSLError(1, "[SSL: NO_PROTOCOLS_AVAILABLE] no protocols available")
    refused.reason = "NO_PROTOCOLS_AVAILABLE"
    assert classify_protocol_error(refused) == "could_not_test"
    alert = ssl.SSLError(1, "tlsv1 alert protocol version")
    alert.reason = "TLSV1_ALERT_PROTOCOL_VERSION"
    assert classify_protocol_error(alert) == "rejected"


def test_hsts_missing_and_short(cert_maker, tls_server):
    missing = _run(tls_server(http_headers=[], name="nohsts"), cert_maker, check_hsts=True, check_protocols=False)
    assert missing["tls.hsts"]["status"] == "warning"
    short = _run(tls_server(http_headers=[("Strict-Transport-Security", "max-age=300")], name="short-hsts"),
                 cert_maker, check_hsts=True, check_protocols=False)
    assert short["tls.hsts"]["status"] == "warning" and short["tls.hsts"]["metrics"]["max_age_s"] == 300


def test_changed_certificate_is_information_and_check_mode_keeps_state(cert_maker, tls_server, tmp_path):
    state = tmp_path / "tls-state.json"
    first = tls_server(name="first")
    params = {"state_path": str(state), "endpoints": [{
        "host": "127.0.0.1", "port": first.port, "server_name": "localhost", "check_hsts": False,
        "check_protocols": False, "ca_file": str(cert_maker.directory / "root.pem")}]}
    assert not tls.run_tls_checks(params)[0].get("certificate_changed")
    assert not tls.run_tls_checks(params)[0].get("certificate_changed")  # same certificate again
    first.close()
    tls_server(name="renewed", port=first.port)  # a renewal: same endpoint, new certificate
    before = state.read_text()
    changed = tls.run_tls_checks(params, check_mode=True)[0]
    assert changed["certificate_changed"] is True and changed["status"] == "ok"
    assert any(item["severity"] == "info" and "changed" in item["title"] for item in changed["findings"])
    assert state.read_text() == before  # check mode writes nothing
    assert tls.run_tls_checks(params)[0]["certificate_changed"] is True
    assert not tls.run_tls_checks(params)[0].get("certificate_changed")  # reported once, then the new normal


def test_refused_port_is_critical(closed_port):
    [result] = tls.run_tls_checks({"endpoints": [{"host": "127.0.0.1", "port": closed_port, "timeout_s": 2}]})
    assert result["status"] == "critical" and "refused" in result["summary"]


def test_bad_parameters_name_the_option(tmp_path):
    with pytest.raises(tls.ParameterError, match=r"endpoints\[0\].kind"):
        tls.prepare([{"host": "x", "kind": "ftp"}], {})
    with pytest.raises(tls.ParameterError, match=r"endpoints\[0\].ca_file"):
        tls.prepare([{"host": "x", "ca_file": str(tmp_path / "nope.pem")}], {})
