# -*- coding: utf-8 -*-
"""HTTP endpoint checks (``http.<check>``): status, body and JSON assertions, latency over N samples.

Runs on the controller for the whole fleet at once: every endpoint is probed concurrently with
httpx's async client (one client per distinct TLS/redirect configuration, a semaphore bounding
the endpoints in flight). Each endpoint gives one check; its target is the endpoint's name or its
URL without userinfo, query or fragment, and no header value ever reaches a result.

``prepare()`` validates and merges the options (raising ParameterError), ``run()`` probes,
``run_http_checks()`` does both, an item with bad options becoming an unknown check of its
own. The per-response judgement lives in http_assert.py; the error classification
(``describe_error``) is a plain function the unit tests call directly.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import ssl
import time
import traceback
from urllib.parse import urlsplit, urlunsplit

from .http_assert import AssertionSyntaxError, judge_response, parse
from .result import (CRITICAL, OK, ParameterError, check, finding, item_where, judge, percentile, thresholds,
                     unknown_check, worst)

try:
    import httpx
except ImportError:  # the module reports it with missing_required_lib
    httpx = None
    HTTPX_IMPORT_ERROR = traceback.format_exc()
else:
    HTTPX_IMPORT_ERROR = None

# Option defaults; the role's defaults/main.yml repeats them. 500 ms is the guide's API response
# target, 3 s its "slow response" alert.
DEFAULTS = {
    "latency_warning_ms": 500.0,
    "latency_critical_ms": 3000.0,
    "samples": 3,
    "timeout_s": 10.0,
    "validate_certs": True,
    "ca_file": None,
    "follow_redirects": True,
    "max_redirects": 5,
    "concurrency": 20,
}
INHERITED = ("latency_warning_ms", "latency_critical_ms", "samples", "timeout_s", "validate_certs",
             "ca_file", "follow_redirects", "max_redirects")
# The per-host inventory variable fleet items come from (role upkeep_http), named in messages.
HOST_VAR = "upkeep_http_endpoints"
# The role passes its upkeep_http_<option> variables as the module's top-level options.
ROLE_VAR_PREFIX = "upkeep_http_"
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_CHECK_SUFFIX = re.compile(r"^[a-z0-9_]+$")
_SNIPPET = 120


def public_url(url):
    """``url`` without userinfo, query or fragment: what may appear in a result."""
    try:
        parts = urlsplit(str(url))
        port = parts.port
    except ValueError:
        return "<unparseable URL>"
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = "[%s]" % netloc
    if port is not None:
        netloc += ":%d" % port
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def prepare(endpoints, **defaults):
    """Validate ``endpoints`` and fill each from the top-level ``defaults``; return plain dicts.

    Raises ParameterError naming the offending option, e.g. ``endpoints[2].url`` or, for a fleet
    item, ``web2: upkeep_http_endpoints[0].url``.
    """
    options = _top_level_options(endpoints, defaults)
    return [_prepare_item(endpoints, index, options) for index in range(len(endpoints))]


def prepare_each(endpoints, **defaults):
    """Like ``prepare``, but an item with a bad option becomes an ``unknown`` check in its place
    (filed under its own host) instead of failing the whole fleet; top-level options still
    raise ParameterError, since they concern every item."""
    try:
        options = _top_level_options(endpoints, defaults)
    except ParameterError as exc:
        if not _fleet_items(endpoints):
            raise
        # A setting every endpoint shares (the role's upkeep_http_samples, say) is wrong: each
        # endpoint is an unknown check under the id and target it would have had, so the report
        # has every check the run would have made, each saying why it could not be made.
        reason = "%s%s" % (ROLE_VAR_PREFIX, exc)
        return [_unknown_item(raw, reason) for raw in endpoints]
    prepared = []
    for index, raw in enumerate(endpoints):
        try:
            prepared.append(_prepare_item(endpoints, index, options))
        except ParameterError as exc:
            prepared.append(_unknown_item(raw, str(exc)))
    return prepared


def _fleet_items(endpoints):
    """Items that came through the role's upkeep_fleet filter (each carries its inventory host)."""
    return isinstance(endpoints, list) and bool(endpoints) and all(
        isinstance(item, dict) and item.get("inventory_host") for item in endpoints)


def _top_level_options(endpoints, defaults):
    options = dict(DEFAULTS)
    options.update({key: value for key, value in defaults.items() if value is not None})
    _validate_common("", options)
    if not isinstance(options["concurrency"], int) or options["concurrency"] < 1:
        raise ParameterError("concurrency: must be an integer >= 1, got %r" % (options["concurrency"],))
    if not isinstance(endpoints, list) or not endpoints:
        raise ParameterError("endpoints: must be a non-empty list of endpoint dicts")
    return options


def _prepare_item(endpoints, index, options):
    where = item_where(endpoints, index, "endpoints", HOST_VAR)
    raw = endpoints[index]
    if not isinstance(raw, dict):
        raise ParameterError("%s: must be a dict, got %r" % (where, raw))
    return _prepare_one(where, raw, options)


def _unknown_item(raw, reason):
    """The unknown check an item that could not be prepared gives: the id and target it would have had."""
    raw = raw if isinstance(raw, dict) else {}
    suffix = raw.get("check") or "endpoint"
    check_id = "http." + (suffix if isinstance(suffix, str) and _CHECK_SUFFIX.match(suffix) else "endpoint")
    return unknown_check(check_id, raw.get("name") or public_url(raw.get("url")), reason,
                         host=raw.get("inventory_host"))


def _prepare_one(where, raw, options):
    url = raw.get("url")
    try:
        parts = urlsplit(url) if isinstance(url, str) else None
        valid = parts is not None and parts.scheme in ("http", "https") and bool(parts.hostname)
        valid = valid and (parts.port is None or parts.port > 0)
    except ValueError:
        valid = False
    if not valid:
        raise ParameterError("%s.url: must be an http(s) URL, got %r" % (where, public_url(url)))
    name = raw.get("name") or public_url(url)
    label = "%s (%s)" % (where, name)
    endpoint = {key: raw.get(key) if raw.get(key) is not None else options[key] for key in INHERITED}
    _validate_common(label + ".", endpoint)
    method = str(raw.get("method") or "GET").upper()
    if method not in METHODS:
        raise ParameterError("%s.method: must be one of %s, got %r" % (label, ", ".join(METHODS), raw.get("method")))
    expected = raw.get("expected_status") or [200]
    if not all(isinstance(code, int) and 100 <= code <= 599 for code in expected):
        raise ParameterError("%s.expected_status: must be HTTP status codes (100-599), got %r" % (label, expected))
    suffix = raw.get("check") or "endpoint"
    if not _CHECK_SUFFIX.match(suffix):
        raise ParameterError("%s.check: must be lower-case letters, digits or _, got %r" % (label, suffix))
    assertions = []
    for position, text in enumerate(raw.get("json_assertions") or []):
        try:
            assertions.append(parse(text))
        except AssertionSyntaxError as exc:
            raise ParameterError("%s.json_assertions[%d]: cannot parse %r: %s" % (label, position, text, exc))
    headers = raw.get("headers") or {}
    if not isinstance(headers, dict):
        raise ParameterError("%s.headers: must be a dict of header names to values" % label)
    endpoint.update({
        "name": str(name),
        "url": url,
        "method": method,
        "headers": {str(key): str(value) for key, value in headers.items()},
        "body": raw.get("body"),
        "expected_status": list(expected),
        "json_assertions": assertions,
        "body_contains": raw.get("body_contains"),
        "check_id": "http." + suffix,
        "inventory_host": raw.get("inventory_host"),
        "secrets": _secrets(parts, headers),
    })
    return endpoint


def _secrets(parts, headers):
    """Texts that must not appear in a finding even if the server echoes them back: header
    values (and the credential after a scheme such as "Bearer"), URL userinfo and query."""
    found = set()
    for value in headers.values():
        value = str(value)
        found.add(value)
        found.add(value.split()[-1] if value.split() else value)
    found.update(item for item in (parts.password, parts.username, parts.query) if item)
    return sorted((item for item in found if len(item) >= 4), key=len, reverse=True)


def _scrub(text, secrets):
    for secret in secrets:
        text = text.replace(secret, "********")
    return text


def _validate_common(prefix, options):
    if not isinstance(options["samples"], int) or options["samples"] < 1:
        raise ParameterError("%ssamples: must be an integer >= 1, got %r" % (prefix, options["samples"]))
    if not options["timeout_s"] > 0:
        raise ParameterError("%stimeout_s: must be > 0, got %r" % (prefix, options["timeout_s"]))
    if not isinstance(options["max_redirects"], int) or options["max_redirects"] < 0:
        raise ParameterError("%smax_redirects: must be an integer >= 0, got %r" % (prefix, options["max_redirects"]))
    warning, critical = options["latency_warning_ms"], options["latency_critical_ms"]
    for key in ("latency_warning_ms", "latency_critical_ms"):
        if options[key] < 0:
            raise ParameterError("%s%s: must be >= 0, got %r" % (prefix, key, options[key]))
    if warning > critical:
        raise ParameterError("%slatency_warning_ms (%s) must not exceed latency_critical_ms (%s)"
                             % (prefix, warning, critical))
    ca_file = options["ca_file"]
    if ca_file:
        if not os.path.isfile(ca_file):
            raise ParameterError("%sca_file: no such file %r" % (prefix, ca_file))
        try:
            ssl.create_default_context(cafile=ca_file)
        except (ssl.SSLError, OSError) as exc:
            raise ParameterError("%sca_file: cannot load CA certificates from %r: %s" % (prefix, ca_file, exc))


def describe_error(exc, endpoint):
    """(title, detail, remediation) for an exception raised while requesting ``endpoint``."""
    parts = urlsplit(endpoint["url"])
    where = "%s:%s" % (parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    timeout = endpoint["timeout_s"]
    chain = _causes(exc)
    if any(isinstance(item, (asyncio.TimeoutError, TimeoutError)) for item in chain) or (
            httpx is not None and isinstance(exc, httpx.TimeoutException)):
        return ("No response within %g s" % timeout,
                "%s after %g s (%s)" % (_phase(exc), timeout, where),
                "The service hangs or is overloaded: check its process, its upstreams (database) and "
                "its load; raise timeout_s only if it is merely slow.")
    verify = next((item for item in chain if isinstance(item, ssl.SSLCertVerificationError)), None)
    if verify is not None:
        return ("Certificate verification failed",
                "%s: %s" % (where, verify.verify_message or verify),
                "If the server uses a private CA, set ca_file (per endpoint or the top-level option, "
                "role variable upkeep_http_ca_file) to that CA's PEM file; otherwise renew or fix "
                "the server's certificate chain. validate_certs: false is for labs only.")
    tls = next((item for item in chain if isinstance(item, ssl.SSLError)), None)
    if tls is not None:
        return ("TLS handshake failed", "%s: %s" % (where, tls.reason or tls),
                "Check that the port speaks TLS (https vs http) and the TLS versions and ciphers it offers.")
    if any(isinstance(item, socket.gaierror) for item in chain):
        return ("Host name did not resolve", "%s: %s" % (parts.hostname, _message(exc)),
                "Check the URL and the DNS record for %s." % parts.hostname)
    if any(isinstance(item, ConnectionRefusedError) for item in chain) or "refused" in _message(exc).lower():
        return ("Connection refused", "nothing accepts connections on %s" % where,
                "Start the service or fix its port; check the reverse proxy and firewall in front of it.")
    if httpx is not None and isinstance(exc, httpx.TooManyRedirects):
        return ("Too many redirects", "more than %d redirects" % endpoint["max_redirects"],
                "Look for a redirect loop (http/https or trailing-slash rules), or raise max_redirects.")
    return ("Request failed", "%s: %s: %s" % (where, type(exc).__name__, _message(exc)),
            "Check that the service is up and speaks HTTP on this URL.")


def _phase(exc):
    if httpx is not None:
        for kind, text in ((httpx.ConnectTimeout, "connect timed out"), (httpx.ReadTimeout, "no answer"),
                           (httpx.WriteTimeout, "sending the request timed out"),
                           (httpx.PoolTimeout, "no free connection")):
            if isinstance(exc, kind):
                return text
    return "response not complete"


def _causes(exc):
    """``exc``, its causes and, for exception groups (anyio's "all connection attempts failed"),
    their members: the root cause (refused, DNS, certificate) sits somewhere in there."""
    chain, seen, pending = [], set(), [exc]
    while pending:
        item = pending.pop(0)
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        chain.append(item)
        pending.extend(getattr(item, "exceptions", ()))
        pending.append(item.__cause__ or item.__context__)
    return chain


def _message(exc):
    text = str(exc) or type(exc).__name__
    return text if len(text) <= _SNIPPET else text[:_SNIPPET - 3] + "..."


def _client_key(endpoint):
    return (endpoint["validate_certs"], endpoint["ca_file"], endpoint["max_redirects"])


def _make_client(key, concurrency):
    validate_certs, ca_file, max_redirects = key
    if not validate_certs:
        verify = False
    elif ca_file:
        verify = ssl.create_default_context(cafile=ca_file)
    else:
        verify = True
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return httpx.AsyncClient(verify=verify, limits=limits, max_redirects=max_redirects)


async def _probe(client, endpoint, semaphore):
    """Samples of one endpoint, in sequence; stops at the first failing sample."""
    latencies, findings, last = [], [], None
    timeout = endpoint["timeout_s"]
    started = time.perf_counter()
    async with semaphore:
        for _ in range(endpoint["samples"]):
            begun = time.perf_counter()
            try:
                # httpx's timeouts bound each network wait; wait_for bounds the whole exchange,
                # since a server trickling bytes resets the read timeout forever.
                response = await asyncio.wait_for(client.request(
                    endpoint["method"], endpoint["url"], headers=endpoint["headers"], content=endpoint["body"],
                    timeout=httpx.Timeout(timeout), follow_redirects=endpoint["follow_redirects"],
                ), timeout)
            except Exception as exc:  # every failure to get an answer becomes a finding
                title, detail, remediation = describe_error(exc, endpoint)
                findings.append(finding(CRITICAL, title, endpoint["name"], detail, remediation))
                break
            latencies.append((time.perf_counter() - begun) * 1000.0)
            last = response
            findings = judge_response(endpoint, response.status_code, response.content)
            if findings:
                break
    return _build_check(endpoint, latencies, findings, last, (time.perf_counter() - started) * 1000.0)


def _build_check(endpoint, latencies, findings, response, duration_ms):
    warning, critical = endpoint["latency_warning_ms"], endpoint["latency_critical_ms"]
    metrics = {"samples_count": len(latencies)}
    status = CRITICAL if any(item["severity"] == CRITICAL for item in findings) else OK
    if latencies:
        p95 = percentile(latencies, 95)
        metrics.update({
            "latency_p50_ms": round(percentile(latencies, 50), 1),
            "latency_p95_ms": round(p95, 1),
            "latency_max_ms": round(max(latencies), 1),
        })
        latency_status = judge(p95, warning, critical)
        if latency_status != OK:
            findings.append(finding(
                latency_status, "Slow responses: p95 %.0f ms" % p95, endpoint["name"],
                "p95 %.0f ms over %d samples; warning at %g ms, critical at %g ms"
                % (p95, len(latencies), warning, critical),
                "Profile the endpoint (slow queries, cold caches, upstream calls) and check the host's load.",
            ))
        status = worst([status, latency_status])
    if response is not None:
        metrics["status_code"] = response.status_code
        metrics["response_bytes"] = len(response.content)
        if endpoint["follow_redirects"]:
            metrics["redirects_count"] = len(response.history)
    for item in findings:
        for key in ("title", "detail"):
            item[key] = _scrub(item[key], endpoint["secrets"])
    return check(
        endpoint["check_id"], endpoint["name"], status, _summary(status, metrics, findings),
        metrics=metrics, thresholds={"latency_p95_ms": thresholds(warning, critical)},
        findings=findings, duration_ms=duration_ms, host=endpoint["inventory_host"],
    )


def _summary(status, metrics, findings):
    problems = [item["title"] for item in findings if item["severity"] == CRITICAL]
    if problems and "latency_p95_ms" not in metrics:
        return problems[0]
    count = metrics["samples_count"]
    text = "HTTP %s, p95 %.0f ms over %d sample%s" % (
        metrics.get("status_code"), metrics["latency_p95_ms"], count, "" if count == 1 else "s")
    if problems:
        text = "%s (%s)" % (problems[0], text)
    elif status != OK:
        text = "slow: " + text
    return text


async def _guarded_probe(client, endpoint, semaphore):
    """``_probe``, with any unexpected exception (a hostile body blowing up the JSON parser...)
    turned into an unknown check for this endpoint alone: one bad answer must not cost the
    whole fleet its checks. Only the exception type is shown, never a traceback."""
    started = time.perf_counter()
    try:
        return await _probe(client, endpoint, semaphore)
    except Exception as exc:
        return unknown_check(endpoint["check_id"], endpoint["name"],
                             "could not evaluate: unexpected %s while probing or judging the response"
                             % type(exc).__name__, host=endpoint["inventory_host"],
                             duration_ms=(time.perf_counter() - started) * 1000.0)


async def probe_all(endpoints, concurrency):
    """Probe prepared ``endpoints`` concurrently; one check per endpoint, in input order."""
    semaphore = asyncio.Semaphore(concurrency)
    clients = {}
    for endpoint in endpoints:
        key = _client_key(endpoint)
        if key not in clients:
            clients[key] = _make_client(key, concurrency)
    try:
        return await asyncio.gather(*(
            _guarded_probe(clients[_client_key(endpoint)], endpoint, semaphore) for endpoint in endpoints
        ))
    finally:
        for client in clients.values():
            await client.aclose()


def run(endpoints, concurrency=DEFAULTS["concurrency"]):
    """Probe prepared endpoints (see ``prepare``) and return their checks."""
    if httpx is None:
        raise RuntimeError("httpx is required: %s" % HTTPX_IMPORT_ERROR)
    return list(asyncio.run(probe_all(endpoints, concurrency)))


def run_http_checks(endpoints, **options):
    """Validate, probe and return one check per endpoint, in input order (the module's single
    call). An endpoint with bad options is an unknown check; the others are still probed."""
    concurrency = options.get("concurrency") or DEFAULTS["concurrency"]
    prepared = prepare_each(endpoints, **options)
    probed = iter(run([item for item in prepared if "check_id" in item], concurrency))
    return [next(probed) if "check_id" in item else item for item in prepared]

