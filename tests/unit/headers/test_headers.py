"""headers.security against the sandbox web app (few security headers: a real finding) and a small
loopback server sending good ones, plus the judging rules on header sets."""

from __future__ import annotations

import httpx
import pytest

from ansible.module_utils.upkeep import headers
from tests.support.fixtures_tls import cert_maker, tls_server  # noqa: F401 (fixtures)

GOOD = [("Strict-Transport-Security", "max-age=63072000; includeSubDomains"),
        ("Content-Security-Policy", "default-src 'self'; script-src 'self'; frame-ancestors 'none'"),
        ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "strict-origin-when-cross-origin"),
        ("Set-Cookie", "sid=s3cr3t-session-value; Path=/; Secure; HttpOnly; SameSite=Lax")]


def _page(url, **options):
    return headers.prepare([dict({"url": url}, **options)], {})[0]


def _titles(result):
    return [item["title"] for item in result["findings"]]


def test_sandbox_app_lacks_security_headers(https_app):
    [result] = headers.run_header_checks({"pages": [{"url": https_app.url + "/", "ca_file": https_app.ca_file,
                                                     "inventory_host": "web1"}]})
    assert result["status"] == "warning" and result["host"] == "web1"
    assert "HSTS missing" in _titles(result) and "Content-Security-Policy missing" in _titles(result)
    assert result["metrics"]["status_code"] == 200


def test_good_headers_pass(cert_maker, tls_server):
    server = tls_server(http_headers=GOOD, name="hdr-good")
    [result] = headers.run_header_checks({"pages": [{"url": "https://localhost:%d/" % server.port,
                                                     "ca_file": str(cert_maker.directory / "root.pem")}]})
    assert result["status"] == "ok", result
    assert result["metrics"]["cookies_count"] == 1 and result["metrics"]["cookies_insecure_count"] == 0
    assert "s3cr3t" not in str(result)


def test_unsafe_inline_weak_cookies_and_leaky_referrer(cert_maker, tls_server):
    bad = [item for item in GOOD if item[0] not in ("Content-Security-Policy", "Set-Cookie", "Referrer-Policy")]
    bad += [("Content-Security-Policy", "default-src 'self' 'unsafe-inline'"), ("Referrer-Policy", "unsafe-url"),
            ("Set-Cookie", "sid=s3cr3t-session-value; Path=/"), ("X-Frame-Options", "ALLOW-FROM x")]
    server = tls_server(http_headers=bad, name="hdr-bad")
    url = "https://localhost:%d/" % server.port
    ca = str(cert_maker.directory / "root.pem")
    [result] = headers.run_header_checks({"pages": [{"url": url, "ca_file": ca}]})
    titles = _titles(result)
    assert "CSP allows 'unsafe-inline' scripts" in titles
    assert "Cookie sid lacks Secure, HttpOnly, SameSite" in titles
    assert "Referrer-Policy leaks full URLs" in titles and "No clickjacking protection" in titles
    assert "s3cr3t" not in str(result)
    [lenient] = headers.run_header_checks({"pages": [{"url": url, "ca_file": ca, "forbid_unsafe_inline": False}]})
    assert "CSP allows 'unsafe-inline' scripts" not in _titles(lenient)


def test_nonces_make_unsafe_inline_harmless():
    page = _page("https://example.test/")
    values = httpx.Headers(dict(GOOD[:4], **{"Content-Security-Policy":
                                             "script-src 'self' 'unsafe-inline' 'nonce-abc'; frame-ancestors 'self'"}))
    findings, _ = headers.judge_headers(page, "https://example.test/", values, [])
    assert findings == []


def test_unreachable_page_is_critical(closed_port):
    [result] = headers.run_header_checks({"pages": [{"url": "http://127.0.0.1:%d/" % closed_port, "timeout_s": 2}]})
    assert result["status"] == "critical" and "refused" in result["summary"].lower()


@pytest.mark.parametrize("page, message", [({"url": "ftp://x"}, r"pages\[0\].url"),
                                           ({"url": "https://x", "timeout_s": 0}, r"pages\[0\].timeout_s")])
def test_bad_parameters(page, message):
    with pytest.raises(headers.ParameterError, match=message):
        headers.prepare([page], {})
