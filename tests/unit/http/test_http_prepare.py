"""Option validation and merging, URL redaction and the per-response judgement (pure functions)."""

from __future__ import annotations

import pytest

from ansible.module_utils.upkeep import http
from ansible.module_utils.upkeep.http_assert import judge_response
from ansible.module_utils.upkeep.result import ParameterError


def test_endpoint_options_default_from_the_top_level_and_override_it():
    first, second = http.prepare(
        [{"url": "https://app.example.com/api/health"},
         {"url": "https://app.example.com/", "samples": 1, "timeout_s": 2.5, "check": "page", "inventory_host": "web1"}],
        samples=5, timeout_s=None, latency_warning_ms=200,
    )
    assert (first["samples"], first["timeout_s"], first["latency_warning_ms"]) == (5, 10.0, 200)
    assert (second["samples"], second["timeout_s"], second["check_id"], second["inventory_host"]) == (1, 2.5, "http.page", "web1")
    assert first["check_id"] == "http.endpoint" and first["expected_status"] == [200]
    assert first["method"] == "GET" and first["inventory_host"] is None


def test_default_name_is_the_url_without_userinfo_query_or_fragment():
    (endpoint,) = http.prepare([{"url": "https://bob:hunter2@app.example.com:8443/api/health?key=abc#x"}])
    assert endpoint["name"] == "https://app.example.com:8443/api/health"
    assert http.public_url("http://[::1]:8080/p?q=1") == "http://[::1]:8080/p"


@pytest.mark.parametrize("endpoint, options, message", [
    ({"url": "ftp://x"}, {}, "endpoints[0].url: must be an http(s) URL, got 'ftp://x'"),
    ({"url": "https://"}, {}, "endpoints[0].url: must be an http(s) URL"),
    ({"url": "https://host:99999/"}, {}, "endpoints[0].url: must be an http(s) URL"),
    ({"url": "https://h/", "samples": 0}, {}, "endpoints[0] (https://h/).samples: must be an integer >= 1, got 0"),
    ({"url": "https://h/"}, {"samples": 0}, "samples: must be an integer >= 1"),
    ({"url": "https://h/", "timeout_s": 0}, {}, "timeout_s: must be > 0"),
    ({"url": "https://h/", "latency_warning_ms": 900, "latency_critical_ms": 800}, {}, "must not exceed latency_critical_ms"),
    ({"url": "https://h/", "method": "FETCH"}, {}, ".method: must be one of"),
    ({"url": "https://h/", "expected_status": [200, 999]}, {}, ".expected_status: must be HTTP status codes"),
    ({"url": "https://h/", "check": "Health Check"}, {}, ".check: must be lower-case"),
    ({"url": "https://h/", "ca_file": "/nonexistent/ca.pem"}, {}, ".ca_file: no such file '/nonexistent/ca.pem'"),
    ({"url": "https://h/", "max_redirects": -1}, {}, ".max_redirects: must be an integer >= 0"),
    ({"url": "https://h/"}, {"concurrency": 0}, "concurrency: must be an integer >= 1"),
])
def test_bad_options_raise_a_parameter_error_naming_the_option(endpoint, options, message):
    with pytest.raises(ParameterError) as caught:
        http.prepare([endpoint], **options)
    assert message in str(caught.value)


def test_a_ca_file_that_is_not_pem_is_a_parameter_error(tmp_path):
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate")
    with pytest.raises(ParameterError, match="ca_file: cannot load CA certificates from"):
        http.prepare([{"url": "https://h/"}], ca_file=str(bogus))


def test_malformed_assertion_names_the_endpoint_and_the_assertion():
    with pytest.raises(ParameterError) as caught:
        http.prepare([{"url": "https://h/ok"},
                      {"name": "api health", "url": "https://h/api/health",
                       "json_assertions": ['status == "healthy"', "status = healthy"]}])
    assert str(caught.value).startswith("endpoints[1] (api health).json_assertions[1]: cannot parse 'status = healthy'")


def test_empty_endpoint_list_is_a_parameter_error():
    with pytest.raises(ParameterError, match="endpoints: must be a non-empty list"):
        http.prepare([])


def test_a_bad_url_message_never_echoes_userinfo_or_query():
    with pytest.raises(ParameterError) as caught:
        http.prepare([{"url": "ftp://bob:hunter2@files.example.com/x?token=abc"}])
    assert "hunter2" not in str(caught.value) and "token=abc" not in str(caught.value)


def _endpoint(**overrides):
    (endpoint,) = http.prepare([dict({"url": "https://h/api/health"}, **overrides)])
    return endpoint


def test_judge_response_accepts_expected_status_and_passing_assertions():
    endpoint = _endpoint(json_assertions=['status == "healthy"', "uptime_s > 0"], body_contains="healthy")
    assert judge_response(endpoint, 200, b'{"status": "healthy", "uptime_s": 3}') == []


def test_unexpected_status_is_critical_with_the_start_of_the_body():
    (found,) = judge_response(_endpoint(expected_status=[200, 204]), 503, b'{"status": "degraded"}')
    assert found["severity"] == "critical" and found["title"] == "Unexpected HTTP status 503"
    assert "one of 200, 204" in found["detail"] and '"degraded"' in found["detail"]


def test_failed_assertion_names_the_assertion_and_the_actual_value():
    endpoint = _endpoint(json_assertions=['checks.database == "ok"', 'status == "healthy"'])
    (found,) = judge_response(endpoint, 200, b'{"status": "healthy", "checks": {"database": "error"}}')
    assert found["title"] == 'Assertion failed: checks.database == "ok"'
    assert found["detail"] == 'actual: "error"'


def test_assertions_on_a_non_json_body_and_missing_text_are_critical():
    endpoint = _endpoint(json_assertions=["status exists"], body_contains="Al Mazahir")
    titles = [item["title"] for item in judge_response(endpoint, 200, b"<html>maintenance</html>")]
    assert titles == ['Body does not contain "Al Mazahir"', "Response is not JSON"]
