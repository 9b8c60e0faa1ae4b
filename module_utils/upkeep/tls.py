# -*- coding: utf-8 -*-
"""``tls.certificate``, ``tls.protocols``, ``tls.hsts``: the TLS health of HTTPS, SMTP (STARTTLS) and
PostgreSQL endpoints, for the whole fleet in one controller-side call.

Expiry is judged relative to the certificate's lifetime, so short-lived automated certificates do
not warn all their life and year-long ones warn a month ahead:

    warning  when days left < min(warning_days, lifetime / 3)   (default warning_days 30)
    critical when days left < min(critical_days, lifetime / 10) (default critical_days 7)

A 47-day certificate warns in its last ~15.7 days and is critical in its last ~4.7; a 90-day one
warns at 30 and 7 days; a 398-day one at 30 and 7 days.

Also critical: an untrusted chain - told apart (tls_chain.py) into an untrusted root (the
server sends a complete chain whose root the trust store lacks: a private CA) and a missing
intermediate (the server leaves out the certificate that issued its own) - a host-name
mismatch, not yet valid, expired, self-signed, an RSA key under 2048 bits (or DSA, or an EC key under 256 bits), a SHA-1 or MD5
signature. TLS 1.0/1.1 accepted is a warning (a version our own OpenSSL refuses to offer is
"could not test", never "not accepted"). HSTS missing or under 180 days is a warning. A
certificate that changed since the last run (fingerprints kept in ``state_path``) is an info
finding. X.509 parsing with ``cryptography``.
"""

from __future__ import annotations

import concurrent.futures
import datetime
import ipaddress
import json
import os
import smtplib
import socket
import ssl
import traceback

from .result import CRITICAL, OK, UNKNOWN, WARNING, ParameterError, Stopwatch, check, finding, worst
from .tls_chain import ISSUER_MISSING, ROOT_SENT, explain, issuer_url_to_fetch
from .tls_probe import DEFAULT_PORTS, KINDS, PROTOCOLS, ProbeError, fetch, fetch_issuer, probe_protocol, verify

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
except ImportError:
    x509 = None
    CRYPTOGRAPHY_IMPORT_ERROR = traceback.format_exc()
else:
    CRYPTOGRAPHY_IMPORT_ERROR = None

DEFAULTS = {"warning_days": 30.0, "critical_days": 7.0, "timeout_s": 10.0, "ca_file": None,
            "check_protocols": True, "check_hsts": True, "hsts_path": "/", "hsts_min_age_s": 15552000}
INHERITED = tuple(DEFAULTS)
WEAK_HASHES = ("sha1", "md5")
OLD_PROTOCOLS = ("TLSv1.0", "TLSv1.1")
_SELF_SIGNED_LEAF = 18  # OpenSSL verify code (x509_vfy.h): the server's own certificate is self-signed


def endpoint_spec():
    """Options of one endpoint (argument-spec form); unset values inherit the top level."""
    return dict(
        name=dict(type="str"), host=dict(type="str", required=True), port=dict(type="int"),
        kind=dict(type="str", choices=list(KINDS), default="https"), server_name=dict(type="str"),
        ca_file=dict(type="path"), inventory_host=dict(type="str"), warning_days=dict(type="float"),
        critical_days=dict(type="float"), timeout_s=dict(type="float"), check_protocols=dict(type="bool"),
        check_hsts=dict(type="bool"), hsts_path=dict(type="str"),
    )


def expiry_limits(lifetime_days, warning_days=30.0, critical_days=7.0):
    """(warning, critical) days-left limits for a certificate of ``lifetime_days`` (see module doc)."""
    return min(warning_days, lifetime_days / 3.0), min(critical_days, lifetime_days / 10.0)


def prepare(endpoints, defaults):
    """Validated endpoints with defaults filled in; ParameterError names the bad option."""
    if not isinstance(endpoints, list):
        raise ParameterError("endpoints: must be a list of endpoint dicts")
    options = dict(DEFAULTS)
    options.update({key: value for key, value in defaults.items() if key in DEFAULTS and value is not None})
    prepared = []
    for index, raw in enumerate(endpoints):
        where = "endpoints[%d]" % index
        if not isinstance(raw, dict) or not raw.get("host"):
            raise ParameterError("%s.host: required" % where)
        item = {key: raw.get(key) if raw.get(key) is not None else options[key] for key in INHERITED}
        kind = raw.get("kind") or "https"
        if kind not in KINDS:
            raise ParameterError("%s.kind: must be one of %s, got %r" % (where, ", ".join(KINDS), kind))
        port = raw.get("port") or DEFAULT_PORTS[kind]
        if not isinstance(port, int) or not 0 < port < 65536:
            raise ParameterError("%s.port: must be 1-65535, got %r" % (where, port))
        if item["ca_file"] and not os.path.isfile(item["ca_file"]):
            raise ParameterError("%s.ca_file: no such file %r" % (where, item["ca_file"]))
        if not 0 <= item["critical_days"] <= item["warning_days"]:
            raise ParameterError("%s: need 0 <= critical_days (%s) <= warning_days (%s)"
                                 % (where, item["critical_days"], item["warning_days"]))
        if not item["timeout_s"] > 0:
            raise ParameterError("%s.timeout_s: must be > 0, got %r" % (where, item["timeout_s"]))
        server_name = raw.get("server_name") or raw["host"]
        item.update(host=raw["host"], port=port, kind=kind, server_name=server_name,
                    name=raw.get("name") or "%s:%d" % (server_name, port), inventory_host=raw.get("inventory_host"))
        prepared.append(item)
    return prepared


# -- judging one certificate ----------------------------------------------------------------------

def _names(cert):
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    return san.get_values_for_type(x509.DNSName), [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]


def hostname_matches(cert, server_name):
    """RFC 6125 matching against the subjectAltName (no CN fallback, as browsers do)."""
    dns_names, ips = _names(cert)
    try:
        return str(ipaddress.ip_address(server_name)) in ips
    except ValueError:
        pass
    wanted = server_name.lower().rstrip(".")
    for name in dns_names:
        name = name.lower().rstrip(".")
        if name == wanted:
            return True
        if name.startswith("*.") and "." in wanted and wanted.split(".", 1)[1] == name[2:]:
            return True
    return False


def _key_facts(cert):
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size, key.key_size < 2048
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC %s" % key.curve.name, key.key_size, key.key_size < 256
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size, True
    if isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        return type(key).__name__.replace("PublicKey", ""), 0, False
    return type(key).__name__, 0, False


def _self_signed(cert):
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
        return True
    except Exception:  # signature does not verify or an unsupported key: not self-signed
        return False


def judge_certificate(endpoint, facts, verify_error, now=None):
    """The ``tls.certificate`` check from a fetched chain and the verification result."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    name = endpoint["name"]
    leaf = x509.load_der_x509_certificate(facts["chain"][0])
    not_before, not_after = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    lifetime = (not_after - not_before).total_seconds() / 86400.0
    days_left = (not_after - now).total_seconds() / 86400.0
    warn_at, crit_at = expiry_limits(lifetime, endpoint["warning_days"], endpoint["critical_days"])
    findings = []

    def add(severity, title, detail="", remediation=""):
        findings.append(finding(severity, title, name, detail, remediation))

    renew = "Renew the certificate and reload the service; automate renewal (ACME) if it is manual."
    if now < not_before:
        add(CRITICAL, "Certificate not yet valid (from %s)" % not_before.isoformat(),
            "clients reject it until then", "Check the issuing clock and the server's certificate files.")
    elif days_left < 0:
        add(CRITICAL, "Certificate expired %.1f days ago (%s)" % (-days_left, not_after.date()), "", renew)
    elif days_left < crit_at:
        add(CRITICAL, "Certificate expires in %.1f days (%s)" % (days_left, not_after.date()),
            "critical below %.1f days for a %.0f-day certificate" % (crit_at, lifetime), renew)
    elif days_left < warn_at:
        add(WARNING, "Certificate expires in %.1f days (%s)" % (days_left, not_after.date()),
            "warning below %.1f days for a %.0f-day certificate" % (warn_at, lifetime), renew)
    if not hostname_matches(leaf, endpoint["server_name"]):
        dns_names, ips = _names(leaf)
        add(CRITICAL, "Certificate does not match %s" % endpoint["server_name"],
            "subjectAltName: %s" % (", ".join(dns_names + ips) or "none"),
            "Issue a certificate whose subjectAltName covers the name clients use.")
    self_signed = _self_signed(leaf)
    chain_problem = None
    if verify_error is not None:
        code, message = verify_error
        if self_signed or code == _SELF_SIGNED_LEAF:
            add(CRITICAL, "Self-signed certificate", message,
                "Use a certificate from a CA the clients trust (or pin this one with ca_file for internal services).")
        elif code in ISSUER_MISSING or code == ROOT_SENT:
            problem = explain(facts["chain"], endpoint["ca_file"], facts.get("issuer_fetch"))
            chain_problem = problem["kind"]
            add(CRITICAL, problem["title"], "%s (OpenSSL: %s)" % (problem["detail"], message), problem["remediation"])
        elif code not in (9, 10):  # not-yet-valid and expired are reported above
            add(CRITICAL, "Certificate chain not trusted", message,
                "Fix the chain the server sends, or set ca_file to the private CA that issued it.")
    key_type, key_bits, weak_key = _key_facts(leaf)
    if weak_key:
        add(CRITICAL, "Weak key: %s %d bits" % (key_type, key_bits), "",
            "Reissue with RSA 2048+ or ECDSA P-256+.")
    hash_algorithm = leaf.signature_hash_algorithm.name if leaf.signature_hash_algorithm else ""
    if hash_algorithm in WEAK_HASHES:
        add(CRITICAL, "Weak signature algorithm: %s" % hash_algorithm.upper(), "",
            "Reissue the certificate signed with SHA-256 or better.")
    fingerprint = leaf.fingerprint(hashes.SHA256()).hex()
    metrics = {"days_left_days": round(days_left, 2), "lifetime_days": round(lifetime, 1),
               "key_size_bits": key_bits, "chain_length_count": len(facts["chain"])}
    status = worst([item["severity"] for item in findings if item["severity"] != "info"] or [OK])
    summary = "%s, expires %s (%.0f days left), %s %d, %s" % (
        "trusted" if verify_error is None else "NOT trusted", not_after.date(), days_left, key_type, key_bits,
        facts["version"])
    if findings:
        summary = "%s; %s" % (findings[0]["title"], summary)
    return check("tls.certificate", name, status, summary, metrics=metrics,
                 thresholds={"days_left_days": {"warning": round(warn_at, 2), "critical": round(crit_at, 2),
                                                "direction": "below"}},
                 findings=findings, host=endpoint["inventory_host"], chain_problem=chain_problem,
                 certificate={"subject": leaf.subject.rfc4514_string(), "issuer": leaf.issuer.rfc4514_string(),
                              "not_before": not_before.isoformat(), "not_after": not_after.isoformat(),
                              "sha256": fingerprint, "signature_hash": hash_algorithm, "key_type": key_type,
                              "self_signed": self_signed, "protocol": facts["version"], "cipher": facts["cipher"]})


def judge_protocols(endpoint, results):
    findings = []
    for version in OLD_PROTOCOLS:
        if results.get(version) == "accepted":
            findings.append(finding(WARNING, "%s accepted" % version, endpoint["name"], "deprecated by RFC 8996",
                                    "Set the server's minimum protocol to TLS 1.2."))
    untested = [version for version, outcome in results.items() if outcome == "could_not_test"]
    if untested:
        findings.append(finding("info", "Could not test %s" % ", ".join(untested), endpoint["name"],
                                "this machine's TLS library refuses to offer these versions, so nothing is known "
                                "about the server's support", ""))
    accepted = [version for version, outcome in results.items() if outcome == "accepted"]
    status = WARNING if any(item["severity"] == WARNING for item in findings) else OK
    if not accepted:
        status = UNKNOWN
    return check("tls.protocols", endpoint["name"], status,
                 "accepts %s" % (", ".join(accepted) or "no version we could test"),
                 metrics={"old_protocols_accepted_count": sum(results.get(v) == "accepted" for v in OLD_PROTOCOLS)},
                 findings=findings, host=endpoint["inventory_host"], protocols=results)


def judge_hsts(endpoint, header):
    remediation = "Send Strict-Transport-Security: max-age=31536000; includeSubDomains on every HTTPS response."
    if not header:
        return check("tls.hsts", endpoint["name"], WARNING, "no Strict-Transport-Security header",
                     findings=[finding(WARNING, "HSTS missing", endpoint["name"], "GET %s" % endpoint["hsts_path"],
                                       remediation)], host=endpoint["inventory_host"])
    max_age = None
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key.lower() == "max-age":
            try:
                max_age = int(value.strip().strip('"'))
            except ValueError:
                max_age = None
    if max_age is None or max_age < endpoint["hsts_min_age_s"]:
        return check("tls.hsts", endpoint["name"], WARNING, "HSTS max-age too short: %s" % header,
                     metrics={"max_age_s": max_age or 0},
                     findings=[finding(WARNING, "HSTS max-age below %d s" % endpoint["hsts_min_age_s"], endpoint["name"],
                                       header, remediation)], host=endpoint["inventory_host"])
    return check("tls.hsts", endpoint["name"], OK, "HSTS: %s" % header, metrics={"max_age_s": max_age},
                 host=endpoint["inventory_host"])


# -- fingerprints kept between runs ---------------------------------------------------------------

def load_state(path):
    if not path or not os.path.isfile(path):
        return {}
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}  # a damaged state file only costs one run's "changed" information


def save_state(path, state):
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(state, handle, indent=1, sort_keys=True)
    os.replace(tmp, path)


def _state_key(endpoint):
    return "%s|%s:%d|%s" % (endpoint["kind"], endpoint["host"], endpoint["port"], endpoint["server_name"])


# -- orchestration --------------------------------------------------------------------------------

def _failure(endpoint, exc):
    if isinstance(exc, socket.timeout):
        detail = "no answer within %g s" % endpoint["timeout_s"]
    elif isinstance(exc, ConnectionRefusedError):
        detail = "connection refused"
    else:
        detail = "%s: %s" % (type(exc).__name__, exc)
    where = "%s:%d" % (endpoint["host"], endpoint["port"])
    return check("tls.certificate", endpoint["name"], CRITICAL, "TLS handshake failed: %s" % detail,
                 findings=[finding(CRITICAL, "TLS handshake failed", endpoint["name"], "%s: %s" % (where, detail),
                                   "Check that the service runs and speaks TLS (%s) on this port." % endpoint["kind"])],
                 host=endpoint["inventory_host"])


def check_endpoint(endpoint):
    """The tls.* checks of one prepared endpoint."""
    with Stopwatch() as watch:
        try:
            facts = fetch(endpoint)
            verify_error = verify(endpoint)
        except (OSError, ProbeError, smtplib.SMTPException, ssl.SSLError) as exc:
            return [_failure(endpoint, exc)]
        try:
            url = issuer_url_to_fetch(facts["chain"], verify_error)
        except ValueError:
            url = None  # an unparseable chain is reported below
        if url:
            # Only the missing issuer itself tells "root not trusted" from "intermediate not sent".
            try:
                facts["issuer_fetch"] = {"url": url, "data": fetch_issuer(url, endpoint["timeout_s"])}
            except ProbeError as exc:
                facts["issuer_fetch"] = {"url": url, "error": str(exc)}
        try:
            checks = [judge_certificate(endpoint, facts, verify_error)]
        except ValueError as exc:  # cryptography cannot parse what the server sent
            return [_failure(endpoint, ValueError("unparseable certificate: %s" % exc))]
        if endpoint["check_protocols"]:
            results = {label: probe_protocol(endpoint, version) for label, version in PROTOCOLS}
            checks.append(judge_protocols(endpoint, results))
        if endpoint["kind"] == "https" and endpoint["check_hsts"]:
            checks.append(judge_hsts(endpoint, facts["hsts"]))
    for item in checks:
        item["duration_ms"] = round(watch.ms, 1)
    return checks


def run_tls_checks(params, check_mode=False):
    """Every tls.* check for one upkeep_tls_check call; records fingerprints unless ``check_mode``."""
    endpoints = prepare(params.get("endpoints") or [], params)
    workers = max(1, min(int(params.get("max_workers") or 16), 64))
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        per_endpoint = list(pool.map(check_endpoint, endpoints))
    state_path = params.get("state_path")
    state = load_state(state_path)
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    for endpoint, checks in zip(endpoints, per_endpoint):
        cert = checks[0].get("certificate")
        if not cert:
            continue
        key = _state_key(endpoint)
        previous = state.get(key)
        if previous and previous.get("sha256") != cert["sha256"]:
            checks[0]["findings"].append(finding(
                "info", "Certificate changed since the last run", endpoint["name"],
                "was %s (expiring %s, seen %s), now %s" % (previous.get("sha256", "")[:16], previous.get("not_after"),
                                                           previous.get("seen_at"), cert["sha256"][:16]),
                "Expected after a renewal; otherwise find out who replaced it."))
            checks[0]["certificate_changed"] = True
        state[key] = {"sha256": cert["sha256"], "not_after": cert["not_after"], "seen_at": now}
    if state_path and not check_mode:
        save_state(state_path, state)
    return [item for checks in per_endpoint for item in checks]
