# -*- coding: utf-8 -*-
"""``headers.security``: the security headers and cookie flags of the site's pages.

Per page (one GET, redirects followed): HSTS (HTTPS pages, max-age >= 180 days), a
Content-Security-Policy (enforced, not only report-only) without 'unsafe-inline' in its script
policy where ``forbid_unsafe_inline`` is set, X-Content-Type-Options: nosniff, framing protection
(CSP frame-ancestors or X-Frame-Options DENY/SAMEORIGIN), a Referrer-Policy that does not leak
full URLs, and every Set-Cookie with Secure (on HTTPS), HttpOnly and SameSite. Each gap is a
warning finding; a page that cannot be fetched is critical. Controller side, fleet mode.
"""

from __future__ import annotations

import concurrent.futures
import ssl
from urllib.parse import urlsplit

from .http import describe_error, httpx, public_url
from .result import CRITICAL, OK, WARNING, ParameterError, Stopwatch, check, finding, worst

CHECK_ID = "headers.security"
DEFAULTS = {"timeout_s": 10.0, "validate_certs": True, "ca_file": None, "require_csp": True,
            "forbid_unsafe_inline": True, "hsts_min_age_s": 15552000}
LEAKY_REFERRER = ("unsafe-url", "no-referrer-when-downgrade")


def page_spec():
    """Options of one page (argument-spec form); unset values inherit the top level."""
    return dict(url=dict(type="str", required=True), name=dict(type="str"), inventory_host=dict(type="str"),
                timeout_s=dict(type="float"), validate_certs=dict(type="bool"), ca_file=dict(type="path"),
                require_csp=dict(type="bool"), forbid_unsafe_inline=dict(type="bool"))


def prepare(pages, defaults):
    if not isinstance(pages, list):
        raise ParameterError("pages: must be a list of page dicts")
    options = dict(DEFAULTS)
    options.update({key: value for key, value in defaults.items() if key in DEFAULTS and value is not None})
    prepared = []
    for index, raw in enumerate(pages):
        where = "pages[%d]" % index
        url = raw.get("url") if isinstance(raw, dict) else None
        try:
            parts = urlsplit(url) if isinstance(url, str) else None
            valid = parts is not None and parts.scheme in ("http", "https") and bool(parts.hostname)
        except ValueError:
            valid = False
        if not valid:
            raise ParameterError("%s.url: must be an http(s) URL, got %r" % (where, public_url(url) if url else url))
        page = {key: raw.get(key) if raw.get(key) is not None else options[key] for key in DEFAULTS}
        if not page["timeout_s"] > 0:
            raise ParameterError("%s.timeout_s: must be > 0, got %r" % (where, page["timeout_s"]))
        page.update(url=url, name=raw.get("name") or public_url(url), inventory_host=raw.get("inventory_host"),
                    max_redirects=5)
        prepared.append(page)
    return prepared


def parse_csp(value):
    """{directive: [sources]} of a Content-Security-Policy value."""
    policy = {}
    for part in (value or "").split(";"):
        tokens = part.strip().split()
        if tokens:
            policy.setdefault(tokens[0].lower(), [token.lower() for token in tokens[1:]])
    return policy


def _max_age(value):
    for part in value.split(";"):
        key, _, number = part.strip().partition("=")
        if key.strip().lower() == "max-age":
            try:
                return int(number.strip().strip('"'))
            except ValueError:
                return None
    return None


def judge_headers(page, url, headers, cookies):
    """Findings for a response's ``headers`` (a case-insensitive mapping) and ``cookies`` (Set-Cookie values)."""
    name, findings = page["name"], []

    def gap(title, detail, remediation):
        findings.append(finding(WARNING, title, name, detail, remediation))

    https = url.startswith("https://")
    if not https:
        gap("Page served over plain HTTP", url, "Redirect HTTP to HTTPS and send HSTS.")
    else:
        hsts = headers.get("strict-transport-security")
        if not hsts:
            gap("HSTS missing", "no Strict-Transport-Security header",
                "Send Strict-Transport-Security: max-age=31536000; includeSubDomains.")
        elif (_max_age(hsts) or 0) < page["hsts_min_age_s"]:
            gap("HSTS max-age too short", hsts, "Use max-age of at least 15552000 (180 days), ideally a year.")
    csp_value = headers.get("content-security-policy")
    csp = parse_csp(csp_value)
    if not csp_value:
        if page["require_csp"]:
            report_only = headers.get("content-security-policy-report-only")
            gap("Content-Security-Policy missing", "report-only policy only: %s" % report_only if report_only else
                "no Content-Security-Policy header", "Define a policy (start from default-src 'self') and enforce it.")
    elif page["forbid_unsafe_inline"]:
        scripts = csp.get("script-src", csp.get("default-src", []))
        if "'unsafe-inline'" in scripts and not any(item.startswith(("'nonce-", "'sha")) for item in scripts):
            gap("CSP allows 'unsafe-inline' scripts", csp_value[:300],
                "Replace inline scripts with files, or use nonces/hashes ('unsafe-inline' is ignored when they are present).")
    if (headers.get("x-content-type-options") or "").strip().lower() != "nosniff":
        gap("X-Content-Type-Options: nosniff missing", headers.get("x-content-type-options") or "absent",
            "Send X-Content-Type-Options: nosniff.")
    frame_options = (headers.get("x-frame-options") or "").strip().upper()
    if "frame-ancestors" not in csp and frame_options not in ("DENY", "SAMEORIGIN"):
        gap("No clickjacking protection", "neither CSP frame-ancestors nor X-Frame-Options DENY/SAMEORIGIN",
            "Add frame-ancestors 'self' to the CSP (or X-Frame-Options: SAMEORIGIN).")
    referrer = (headers.get("referrer-policy") or "").strip().lower()
    if not referrer:
        gap("Referrer-Policy missing", "browsers fall back to their own default",
            "Send Referrer-Policy: strict-origin-when-cross-origin.")
    elif referrer.split(",")[-1].strip() in LEAKY_REFERRER:
        gap("Referrer-Policy leaks full URLs", referrer, "Use strict-origin-when-cross-origin or stricter.")
    insecure = 0
    for raw in cookies:
        cookie_name = raw.split("=", 1)[0].strip()
        attributes = {part.strip().split("=", 1)[0].lower(): part.strip() for part in raw.split(";")[1:]}
        missing = [flag for flag, present in (("Secure", "secure" in attributes or not https),
                                              ("HttpOnly", "httponly" in attributes),
                                              ("SameSite", "samesite" in attributes)) if not present]
        if missing:
            insecure += 1
            # The cookie's value may be a session token: only its name is reported.
            gap("Cookie %s lacks %s" % (cookie_name, ", ".join(missing)), "Set-Cookie %s" % cookie_name,
                "Set the cookie with Secure; HttpOnly; SameSite=Lax (or Strict).")
    return findings, insecure


def _fetch(page):
    if page["validate_certs"] and page["ca_file"]:
        verify = ssl.create_default_context(cafile=page["ca_file"])
    else:
        verify = bool(page["validate_certs"])
    with httpx.Client(verify=verify, timeout=page["timeout_s"], follow_redirects=True, max_redirects=5) as client:
        return client.get(page["url"], headers={"User-Agent": "upkeep-headers-check"})


def check_page(page):
    with Stopwatch() as watch:
        try:
            response = _fetch(page)
        except Exception as exc:  # every failure to get an answer is a critical finding
            title, detail, remediation = describe_error(exc, page)
            return check(CHECK_ID, page["name"], CRITICAL, title,
                         findings=[finding(CRITICAL, title, page["name"], detail, remediation)],
                         duration_ms=watch.ms, host=page["inventory_host"])
        final_url = str(response.url)
        findings, insecure = judge_headers(page, final_url, response.headers,
                                           response.headers.get_list("set-cookie"))
    status = worst([item["severity"] for item in findings] or [OK])
    summary = ("all security headers present" if not findings else
               "%d gap%s: %s" % (len(findings), "" if len(findings) == 1 else "s",
                                 "; ".join(item["title"] for item in findings[:4])))
    return check(CHECK_ID, page["name"], status, summary,
                 metrics={"status_code": response.status_code, "gaps_count": len(findings),
                          "cookies_count": len(response.headers.get_list("set-cookie")), "cookies_insecure_count": insecure},
                 findings=findings, duration_ms=watch.ms, host=page["inventory_host"], final_url=public_url(final_url))


def run_header_checks(params):
    if httpx is None:
        raise RuntimeError("httpx is required")
    pages = prepare(params.get("pages") or [], params)
    workers = max(1, min(int(params.get("concurrency") or 8), 32))
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(check_page, pages))
