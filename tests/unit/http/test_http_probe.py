"""The probe logic against real servers on loopback: the sandbox web app over HTTPS and HTTP,
a server that never answers, one that trickles bytes forever, and a closed port."""

from __future__ import annotations

import json
import socket
import ssl
import time

import pytest

from ansible.module_utils.upkeep import http
from tests.support.fixtures_http import SLOW_MS


def probe(*endpoints, **options):
    return http.run_http_checks(list(endpoints), **options)


def test_healthy_endpoint_is_ok_with_latency_metrics(https_app):
    (result,) = probe({"url": https_app.url + "/api/health", "check": "health", "ca_file": https_app.ca_file,
                       "json_assertions": ['status == "healthy"', 'checks.database == "ok"', "uptime_s > 0",
                                           'version != ""']})
    assert result["status"] == "ok", result
    assert result["id"] == "http.health" and result["target"] == https_app.url + "/api/health"
    metrics = result["metrics"]
    assert metrics["samples_count"] == 3 and metrics["status_code"] == 200 and metrics["response_bytes"] > 0
    assert 0 < metrics["latency_p50_ms"] <= metrics["latency_p95_ms"] <= metrics["latency_max_ms"]
    assert result["thresholds"] == {"latency_p95_ms": {"warning": 500.0, "critical": 3000.0}}
    assert result["findings"] == [] and "host" not in result


@pytest.mark.parametrize("warning, critical, status", [(100, 5000, "warning"), (50, 200, "critical")])
def test_slow_endpoint_is_judged_on_p95(https_app, warning, critical, status):
    (result,) = probe({"url": https_app.url + "/api/slow", "samples": 2, "latency_warning_ms": warning,
                       "latency_critical_ms": critical}, ca_file=https_app.ca_file)
    assert result["status"] == status
    assert result["metrics"]["latency_p95_ms"] >= 300
    (found,) = result["findings"]
    assert found["severity"] == status and found["title"].startswith("Slow responses: p95")


def test_server_error_is_critical(https_app):
    (result,) = probe({"url": https_app.url + "/api/error"}, ca_file=https_app.ca_file)
    assert result["status"] == "critical" and result["metrics"]["status_code"] == 500
    assert result["findings"][0]["title"] == "Unexpected HTTP status 500"
    assert result["metrics"]["samples_count"] == 1  # stops at the first failing sample


def test_closed_port_is_critical_connection_refused(closed_port):
    (result,) = probe({"url": "http://127.0.0.1:%d/api/health" % closed_port})
    assert result["status"] == "critical" and result["summary"] == "Connection refused"
    assert "127.0.0.1:%d" % closed_port in result["findings"][0]["detail"]
    assert result["metrics"] == {"samples_count": 0}


@pytest.mark.parametrize("server", ["hanging_server", "trickling_server"])
def test_unresponsive_server_is_cut_off_by_the_timeout(request, server):
    url = request.getfixturevalue(server)
    started = time.perf_counter()
    (result,) = probe({"url": url, "samples": 3}, timeout_s=1.0)
    elapsed = time.perf_counter() - started
    assert result["status"] == "critical" and result["summary"] == "No response within 1 s"
    # One sample's deadline, not three (3 s) and not the trickle's forever; the 1.5 s between
    # one and three deadlines is what a slow or loaded machine may add, not a latency target.
    assert 0.9 <= elapsed < 2.5, elapsed


def test_certificate_verified_against_the_test_ca(https_app):
    (result,) = probe({"url": https_app.url + "/api/health", "ca_file": https_app.ca_file, "samples": 1})
    assert result["status"] == "ok"


def test_unknown_ca_is_critical_with_a_certificate_finding(https_app):
    (result,) = probe({"url": https_app.url + "/api/health", "samples": 1})
    assert result["status"] == "critical"
    (found,) = result["findings"]
    assert found["title"] == "Certificate verification failed"
    assert "unable to get local issuer certificate" in found["detail"]
    assert "ca_file" in found["remediation"]


def test_validate_certs_off_accepts_the_unknown_ca(https_app):
    (result,) = probe({"url": https_app.url + "/api/health", "validate_certs": False, "samples": 1})
    assert result["status"] == "ok"


def test_tls_to_a_plain_http_port_is_a_handshake_failure(http_app):
    (result,) = probe({"url": "https://127.0.0.1:%d/api/health" % http_app.port, "samples": 1})
    assert result["status"] == "critical" and result["summary"] == "TLS handshake failed"


def test_bearer_token_accepted_and_bad_token_rejected(https_app):
    url = https_app.url + "/whatsapp/v17.0/1234567890"
    good, bad = probe(
        {"url": url, "check": "whatsapp", "headers": {"Authorization": "Bearer " + https_app.token},
         "json_assertions": ['id == "1234567890"', 'quality_rating == "GREEN"']},
        {"url": url, "check": "whatsapp", "headers": {"Authorization": "Bearer wrong-token"}},
        ca_file=https_app.ca_file)
    assert good["status"] == "ok", good
    assert bad["status"] == "critical" and bad["metrics"]["status_code"] == 401
    assert https_app.token not in json.dumps([good, bad])


def test_failing_assertion_is_critical_naming_assertion_and_actual_value(https_app):
    https_app.state.health_status = "degraded"
    try:
        (result,) = probe({"url": https_app.url + "/api/health", "expected_status": [200, 503],
                           "json_assertions": ['status == "healthy"']}, ca_file=https_app.ca_file)
    finally:
        https_app.state.health_status = "auto"
    assert result["status"] == "critical"
    (found,) = result["findings"]
    assert found["title"] == 'Assertion failed: status == "healthy"' and found["detail"] == 'actual: "degraded"'
    assert result["summary"].startswith('Assertion failed: status == "healthy"')


def test_redirects_followed_counted_and_limited(http_app):
    followed, not_followed, loop = probe(
        {"url": http_app.url + "/catalogue", "body_contains": "Products"},
        {"url": http_app.url + "/catalogue", "follow_redirects": False, "expected_status": [301]},
        {"url": http_app.url + "/loop", "max_redirects": 3})
    assert followed["status"] == "ok" and followed["metrics"]["redirects_count"] == 1
    assert not_followed["status"] == "ok" and not_followed["metrics"]["status_code"] == 301
    assert "redirects_count" not in not_followed["metrics"]
    assert loop["status"] == "critical" and loop["findings"][0]["detail"] == "more than 3 redirects"


def test_fleet_endpoints_are_probed_concurrently_and_keep_their_host(http_app):
    # Answers that take 1 s each make the two outcomes far apart whatever the machine's speed:
    # four in sequence take 4 s, four at once about 1 s. The latency limits sit far above the
    # sleep, so the verdict is about the answers, not about how loaded the machine is.
    endpoints = [{"url": http_app.url + "/api/slow", "samples": 1, "inventory_host": "web%d" % n,
                  "latency_warning_ms": 60000, "latency_critical_ms": 120000} for n in range(4)]
    http_app.state.slow_ms = 1000
    try:
        started = time.perf_counter()
        results = probe(*endpoints, concurrency=4)
        elapsed = time.perf_counter() - started
    finally:
        http_app.state.slow_ms = SLOW_MS
    assert [item["host"] for item in results] == ["web0", "web1", "web2", "web3"]
    assert all(item["status"] == "ok" for item in results), results
    assert all(item["metrics"]["latency_p95_ms"] >= 1000 for item in results)  # the slow answer was served
    assert elapsed < 2.5, elapsed  # not in sequence (4 s); 1.5 s of slack for a loaded machine


def test_no_secret_from_headers_userinfo_or_query_reaches_a_result(https_app, closed_port):
    secrets = ("s3cret-header-value", "hunter2", "apikey123")
    results = probe(
        {"url": "https://bob:hunter2@127.0.0.1:%d/api/health?key=apikey123" % https_app.port,
         "headers": {"X-Api-Key": "s3cret-header-value"}, "json_assertions": ["status == 1"]},
        {"url": "http://bob:hunter2@127.0.0.1:%d/x?key=apikey123" % closed_port,
         "headers": {"X-Api-Key": "s3cret-header-value"}},
        ca_file=https_app.ca_file)
    text = json.dumps(results)
    assert results[0]["target"] == "https://127.0.0.1:%d/api/health" % https_app.port
    assert not [secret for secret in secrets if secret in text]


def test_secrets_echoed_back_by_the_server_are_scrubbed_from_findings(echo_server):
    (result,) = probe({"url": echo_server + "?session=q-secret-1", "headers": {"Authorization": "Bearer echo-token-1"}})
    detail = result["findings"][0]["detail"]
    assert result["status"] == "critical"
    assert "Authorization: ********" in detail  # the server did echo it: the scrub is what hid it
    text = json.dumps(result)
    assert "echo-token-1" not in text and "q-secret-1" not in text


def test_error_descriptions_for_faults_not_produced_for_real():
    """DNS failure and certificate errors are described from the exception chain. A real DNS
    failure would send a query off loopback, so this builds the exceptions httpx raises."""
    import httpx

    endpoint = http.prepare([{"url": "https://app.example.com/api/health", "timeout_s": 2}])[0]
    try:
        try:
            raise socket.gaierror(-2, "Name or service not known")
        except socket.gaierror as exc:
            raise httpx.ConnectError("[Errno -2] Name or service not known") from exc
    except httpx.ConnectError as exc:
        title, detail, remediation = http.describe_error(exc, endpoint)
    assert title == "Host name did not resolve" and "app.example.com" in remediation
    verify = ssl.SSLCertVerificationError(1, "certificate verify failed")
    verify.verify_message = "certificate has expired"
    title, detail, _ = http.describe_error(_chained(httpx.ConnectError("tls"), verify), endpoint)
    assert title == "Certificate verification failed" and detail == "app.example.com:443: certificate has expired"


def _chained(outer, cause):
    outer.__cause__ = cause
    return outer
