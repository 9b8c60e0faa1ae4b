# -*- coding: utf-8 -*-
"""``smtp.service``: does the mail server answer, speak TLS, and accept our credentials?

Per server: connect and read the banner, EHLO, STARTTLS (or implicit TLS), optional AUTH, QUIT,
each timed; the advertised extensions and the negotiated TLS version and cipher are recorded. No
mail is ever sent. A password is never sent over an unencrypted session unless the caller
explicitly allows it.

Standard library only (smtplib, ssl), so it runs wherever Python does.
"""

from __future__ import annotations

import concurrent.futures
import os
import smtplib
import socket
import ssl

from .result import (CRITICAL, OK, ParameterError, Stopwatch, WARNING, check, finding, item_where, judge,
                     thresholds, unknown_check, worst)

CHECK_ID = "smtp.service"
TLS_MODES = ("starttls_auto", "starttls_required", "implicit", "none")
DEFAULT_PORTS = {"starttls_auto": 587, "starttls_required": 587, "implicit": 465, "none": 25}
DEFAULT_MAX_WORKERS = 16
# The per-host inventory variable fleet items come from (role upkeep_smtp), named in messages.
HOST_VAR = "upkeep_smtp_servers"
# The role passes its upkeep_smtp_<option> variables as the module's top-level options.
ROLE_VAR_PREFIX = "upkeep_smtp_"
# AUTH mechanism -> smtplib authobject, in order of preference (all run over TLS by default).
AUTH_PREFERENCE = {"PLAIN": "auth_plain", "LOGIN": "auth_login", "CRAM-MD5": "auth_cram_md5"}
MASK = "********"

# Per-server options with their defaults when neither the item nor the top level sets them.
SERVER_DEFAULTS = {
    "name": None,
    "host": None,
    "port": None,
    "tls_mode": "starttls_auto",
    "validate_certs": True,
    "ca_file": None,
    "ehlo_name": None,
    "username": None,
    "password": None,
    "allow_plaintext_auth": False,
    "timeout_s": 10.0,
    "connect_warning_ms": 1000.0,
    "connect_critical_ms": 5000.0,
    "total_warning_ms": 3000.0,
    "total_critical_ms": 10000.0,
}


def smtp_server_spec():
    """Options of one SMTP server (argument-spec form); no defaults so items inherit the top level."""
    return dict(
        name=dict(type="str"),
        host=dict(type="str"),
        port=dict(type="int"),
        tls_mode=dict(type="str", choices=list(TLS_MODES)),
        validate_certs=dict(type="bool"),
        ca_file=dict(type="path"),
        ehlo_name=dict(type="str"),
        username=dict(type="str"),
        password=dict(type="str", no_log=True),
        allow_plaintext_auth=dict(type="bool"),
        timeout_s=dict(type="float"),
        connect_warning_ms=dict(type="float"),
        connect_critical_ms=dict(type="float"),
        total_warning_ms=dict(type="float"),
        total_critical_ms=dict(type="float"),
    )


def server_targets(params):
    """The servers of one module call, top-level values filling what an item leaves unset;
    without ``servers`` the top-level options describe one server. An item with a bad option
    becomes an ``unknown`` check in its place (filed under its own host), so one broken item
    does not cost the fleet its checks; bad top-level options raise ParameterError."""
    defaults = {key: params.get(key) for key in SERVER_DEFAULTS}
    items = params.get("servers")
    if items is None:
        return [_validated(defaults, None, "")]
    # The top level alone, so that its own mistakes fail the call instead of every item; host
    # and password may come from the items, so stand-ins keep them from being reported here.
    try:
        _validated(dict(defaults, host=defaults["host"] or "-", password=defaults["password"] or ""), None, "")
    except ParameterError as exc:
        if not (items and all(isinstance(item, dict) and item.get("inventory_host") for item in items)):
            raise
        # A shared setting of the role (upkeep_smtp_timeout_s, say) is wrong: every server stays
        # in the report as an unknown check saying so, instead of the role's checks vanishing.
        return [unknown_check(CHECK_ID, _label(item, defaults), ROLE_VAR_PREFIX + str(exc), host=item["inventory_host"])
                for item in items]
    targets = []
    for index, item in enumerate(items):
        where = item_where(items, index, "servers", HOST_VAR)
        if not isinstance(item, dict):
            raise ParameterError("%s: must be a dict, got %s" % (where, type(item).__name__))
        merged = {key: item.get(key) if item.get(key) is not None else defaults.get(key) for key in SERVER_DEFAULTS}
        merged["name"] = item.get("name")  # a label names one server: never inherited
        try:
            targets.append(_validated(merged, item.get("inventory_host"), where + "."))
        except ParameterError as exc:
            targets.append(unknown_check(CHECK_ID, _label(item, defaults), str(exc), host=item.get("inventory_host")))
    return targets


def _label(item, defaults):
    """The target an item's check has: its name, else host:port."""
    merged = {key: item.get(key) if item.get(key) is not None else defaults.get(key) for key in SERVER_DEFAULTS}
    port = merged["port"] if merged["port"] is not None else DEFAULT_PORTS.get(merged["tls_mode"], "")
    return item.get("name") or "%s:%s" % (merged["host"], port)


def _validated(values, inventory_host, where):
    target = {key: values.get(key) if values.get(key) is not None else default for key, default in SERVER_DEFAULTS.items()}
    target["inventory_host"] = inventory_host
    target["where"] = where
    if not target["host"]:
        raise ParameterError("%shost: required (the SMTP server's name or address)" % where)
    if target["tls_mode"] not in TLS_MODES:
        raise ParameterError("%stls_mode: must be one of %s, got %r" % (where, ", ".join(TLS_MODES), target["tls_mode"]))
    if target["port"] is None:
        target["port"] = DEFAULT_PORTS[target["tls_mode"]]
    if not 1 <= int(target["port"]) <= 65535:
        raise ParameterError("%sport: must be a port number 1-65535, got %r" % (where, target["port"]))
    if not 0 < float(target["timeout_s"]) <= 300:
        raise ParameterError("%stimeout_s: must be more than 0 and at most 300 seconds, got %r" % (where, target["timeout_s"]))
    if target["ca_file"] and not os.path.isfile(target["ca_file"]):
        raise ParameterError("%sca_file: no such file: %s" % (where, target["ca_file"]))
    if target["username"] and target["password"] is None:
        raise ParameterError("%spassword: required when username is set" % where)
    for kind in ("connect", "total"):
        warning, critical = target[kind + "_warning_ms"], target[kind + "_critical_ms"]
        if warning < 0 or critical < 0:
            raise ParameterError("%s%s thresholds: must be 0 or more milliseconds" % (where, kind))
        if warning > critical:
            raise ParameterError("%s%s_warning_ms (%g) must not exceed %s_critical_ms (%g)" % (where, kind, warning, kind, critical))
    return target


def target_label(target):
    return target.get("name") or "%s:%s" % (target["host"], target["port"])


def _tls_context(target):
    if not target["validate_certs"]:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=target["ca_file"] or None)


def _redact(text, target):
    secret = target.get("password")
    return text.replace(secret, MASK) if secret else text


def _reply_text(reply):
    if isinstance(reply, bytes):
        reply = reply.decode("utf-8", "replace")
    return " ".join(str(reply).split())


class _Session(object):
    """One conversation with a server; records timings, what was offered, and what went wrong."""

    def __init__(self, target):
        self.target = target
        self.label = target_label(target)
        self.timings = {}
        self.findings = []
        self.statuses = []
        self.info = {"tls": None, "starttls_offered": None, "auth_mechanisms": [], "extensions": []}
        self.phase = "connect"
        self.client = None

    def problem(self, status, title, detail="", remediation=""):
        self.statuses.append(status)
        self.findings.append(finding(status, _redact(title, self.target), self.label, _redact(detail, self.target), remediation))

    def timed(self, phase, function, *args, **kwargs):
        self.phase = phase
        with Stopwatch() as watch:
            result = function(*args, **kwargs)
        self.timings[phase + "_ms"] = self.timings.get(phase + "_ms", 0.0) + watch.ms
        return result

    def run(self):
        target = self.target
        ehlo_name = target["ehlo_name"] or socket.gethostname() or "localhost"
        context = _tls_context(target) if target["tls_mode"] != "none" else None
        # local_hostname given so smtplib does not call getfqdn(), which can hang on a bad resolver.
        # Connecting through the constructor is what lets smtplib remember the host name that
        # STARTTLS verifies the certificate against; it raises SMTPConnectError on a non-220 banner.
        factory = smtplib.SMTP_SSL if target["tls_mode"] == "implicit" else smtplib.SMTP
        extra = {"context": context} if target["tls_mode"] == "implicit" else {}
        self.client = self.timed("connect", factory, target["host"], int(target["port"]), local_hostname=ehlo_name,
                                 timeout=target["timeout_s"], **extra)
        if target["tls_mode"] == "implicit":
            self._record_tls()
        if not self._ehlo():
            return
        self.info["starttls_offered"] = self.client.has_extn("starttls")
        if target["tls_mode"] in ("starttls_auto", "starttls_required"):
            if self.info["starttls_offered"]:
                self.timed("starttls", self.client.starttls, context=context)
                self._record_tls()
                if not self._ehlo():
                    return
            elif target["tls_mode"] == "starttls_required":
                self.problem(CRITICAL, "STARTTLS required but not offered", "EHLO reply lists no STARTTLS",
                             "Enable STARTTLS on the server (certificate and key), or point the check at the "
                             "submission port that offers it.")
            else:
                self.problem(WARNING, "Server offers no STARTTLS: mail and credentials would travel unencrypted",
                             "", "Enable STARTTLS on the server.")
        if target["username"]:
            self._auth()

    def _ehlo(self):
        code, reply = self.timed("ehlo", self.client.ehlo, self.client.local_hostname)
        if code != 250:
            self.problem(CRITICAL, "EHLO rejected: %d %s" % (code, _reply_text(reply)), "",
                         "Check the server's HELO/EHLO policy for this client.")
            return False
        self.info["extensions"] = sorted(self.client.esmtp_features)
        self.info["auth_mechanisms"] = sorted(self.client.esmtp_features.get("auth", "").upper().split())
        size = self.client.esmtp_features.get("size", "")
        self.info["max_message_size_bytes"] = int(size) if size.isdigit() else None
        return True

    def _record_tls(self):
        sock = self.client.sock
        cipher = sock.cipher() if hasattr(sock, "cipher") else None
        self.info["tls"] = {"version": sock.version(), "cipher": cipher[0] if cipher else None}

    def _auth(self):
        target = self.target
        if self.info["tls"] is None and not target["allow_plaintext_auth"]:
            self.problem(CRITICAL, "AUTH not attempted: the session is not encrypted",
                         "upkeep does not send a password over an unencrypted connection.",
                         "Enable STARTTLS (or implicit TLS) on the server; only if this network is trusted, "
                         "set allow_plaintext_auth.")
            return
        if not self.client.has_extn("auth"):
            self.problem(CRITICAL, "Server offers no AUTH", "EHLO reply lists no AUTH mechanism",
                         "Enable authentication on the submission port, or drop username from the check.")
            return
        if self.info["tls"] is None:
            self.problem(WARNING, "Credentials sent over an unencrypted session (allowed by allow_plaintext_auth)",
                         "", "Enable STARTTLS on the server.")
        mechanism = next((m for m in AUTH_PREFERENCE if m in self.info["auth_mechanisms"]), None)
        if mechanism is None:
            self.problem(CRITICAL, "No supported AUTH mechanism offered",
                         "offered: %s" % " ".join(self.info["auth_mechanisms"]),
                         "Offer PLAIN or LOGIN (over TLS) on the submission port.")
            return
        self.info["auth_mechanism"] = mechanism
        # One mechanism, one attempt: smtplib.login() would retry every mechanism on a wrong
        # password and count twice against the server's lockout limit.
        self.client.user, self.client.password = target["username"], target["password"]
        try:
            self.timed("auth", self.client.auth, mechanism, getattr(self.client, AUTH_PREFERENCE[mechanism]))
            self.info["authenticated"] = True
        except smtplib.SMTPAuthenticationError as exc:
            self.info["authenticated"] = False
            self.problem(CRITICAL, "Authentication failed for %s" % target["username"],
                         "%d %s" % (exc.smtp_code, _reply_text(exc.smtp_error)),
                         "Check the username and password (or app password) the application uses for this server.")
        finally:
            self.client.password = None

    def close(self):
        if self.client is None:
            return
        try:
            if self.client.sock is not None:
                self.phase = "quit"
                self.client.quit()
        except (smtplib.SMTPException, OSError):
            pass
        finally:
            self.client.close()


def _failure(session, exc):
    """Turn an exception from a phase into a critical finding with its remedy."""
    phase = session.phase.upper() if session.phase != "connect" else "connect"
    if isinstance(exc, ssl.SSLCertVerificationError):
        session.problem(CRITICAL, "Certificate verification failed: %s" % (exc.verify_message or exc.reason),
                        str(exc), "Renew or fix the server certificate (chain, host name, expiry), or give ca_file "
                                  "for a private CA.")
    elif isinstance(exc, ssl.SSLError):
        session.problem(CRITICAL, "TLS handshake failed during %s" % phase, str(exc),
                        "Check the TLS versions and ciphers the server allows, and tls_mode (implicit vs STARTTLS).")
    elif isinstance(exc, ConnectionRefusedError):
        session.problem(CRITICAL, "Connection refused", str(exc),
                        "Check that the mail server runs and listens on this host and port, and firewalls.")
    elif isinstance(exc, (socket.timeout, TimeoutError)) or (
            # smtplib turns a read timeout into "Connection unexpectedly closed: timed out".
            isinstance(exc, smtplib.SMTPServerDisconnected) and "timed out" in str(exc)):
        session.problem(CRITICAL, "Timed out during %s after %gs" % (phase, session.target["timeout_s"]), str(exc),
                        "The server did not answer in time: check its load and the network; tls_mode implicit "
                        "against a STARTTLS port (or the reverse) also hangs like this.")
    elif isinstance(exc, socket.gaierror):
        session.problem(CRITICAL, "Host name does not resolve", str(exc), "Check the host name and DNS.")
    elif isinstance(exc, smtplib.SMTPServerDisconnected):
        session.problem(CRITICAL, "Server closed the connection during %s" % phase, str(exc),
                        "Check the server log; a TLS mismatch (implicit vs STARTTLS) or a rate limit can do this.")
    elif isinstance(exc, smtplib.SMTPConnectError):
        session.problem(CRITICAL, "Server refused the session: %d %s" % (exc.smtp_code, _reply_text(exc.smtp_error)), "",
                        "The server is up but not accepting mail sessions; check its load, limits and logs.")
    elif isinstance(exc, smtplib.SMTPResponseException):
        session.problem(CRITICAL, "%s rejected: %d %s" % (phase, exc.smtp_code, _reply_text(exc.smtp_error)), "",
                        "Read the server's reply; check its policy for this client.")
    else:
        session.problem(CRITICAL, "%s failed: %s" % (phase, _reply_text(str(exc)) or exc.__class__.__name__), "",
                        "Check the server and the network path to it.")


def check_server(target):
    """The ``smtp.service`` check of one server (a target from ``server_targets``)."""
    session = _Session(target)
    with Stopwatch() as total:
        try:
            session.run()
        except (OSError, smtplib.SMTPException, ValueError) as exc:
            _failure(session, exc)
        finally:
            session.close()
    metrics = {key: round(value, 2) for key, value in session.timings.items()}
    metrics["total_ms"] = round(total.ms, 2)
    if session.info.get("max_message_size_bytes") is not None:
        metrics["max_message_size_bytes"] = session.info["max_message_size_bytes"]
    statuses = list(session.statuses)
    limits = {
        "connect_ms": thresholds(target["connect_warning_ms"], target["connect_critical_ms"]),
        "total_ms": thresholds(target["total_warning_ms"], target["total_critical_ms"]),
    }
    if not session.findings or all(f["severity"] != CRITICAL for f in session.findings):
        for metric, kind in (("connect_ms", "connect"), ("total_ms", "total")):
            if metric not in metrics:
                continue
            status = judge(metrics[metric], target[kind + "_warning_ms"], target[kind + "_critical_ms"])
            if status != OK:
                limit = target[kind + "_critical_ms"] if status == CRITICAL else target[kind + "_warning_ms"]
                session.problem(status, "Slow SMTP %s: %.1f ms (%s at %g ms)" % (kind, metrics[metric], status, limit),
                                "", "Check the mail server's load, DNS lookups it makes on connect (reverse DNS, "
                                    "RBL), and the network.")
                statuses.append(status)
    status = worst(statuses)
    return check(CHECK_ID, target_label(session.target), status, _summary(session, metrics, status),
                 metrics=metrics, thresholds=limits, findings=session.findings, duration_ms=total.ms,
                 host=target.get("inventory_host"), server=_public_info(session))


def _public_info(session):
    info = dict(session.info)
    info["tls_mode"] = session.target["tls_mode"]
    return info


def _summary(session, metrics, status):
    parts = []
    if "connect_ms" in metrics:
        parts.append("connected in %.1f ms" % metrics["connect_ms"])
    if session.info.get("tls"):
        parts.append("TLS %s" % session.info["tls"]["version"])
    if "auth_ms" in metrics and session.info.get("authenticated"):
        parts.append("AUTH ok")
    parts.append("total %.1f ms" % metrics["total_ms"])
    if status != OK and session.findings:
        return "%s (%s)" % (session.findings[0]["title"], ", ".join(parts))
    return ", ".join(parts)


def _guarded_check(target):
    """``check_server`` with any unexpected exception turned into an unknown check for this server
    alone (its type named, no traceback): one odd server must not cost the fleet its checks. An
    item that failed validation is already its unknown check."""
    if target.get("id"):
        return target
    with Stopwatch() as watch:
        try:
            return check_server(target)
        except Exception as exc:
            reason = "could not evaluate: unexpected %s while talking to the server" % type(exc).__name__
    return unknown_check(CHECK_ID, target_label(target), reason, host=target.get("inventory_host"),
                         duration_ms=watch.ms)


def check_servers(params):
    """``smtp.service`` checks for one upkeep_smtp_check call, servers probed concurrently.
    Top-level parameters are validated before the first connection (ParameterError); an item
    with bad parameters is an unknown check and the other servers are still checked."""
    max_workers = params.get("max_workers") or DEFAULT_MAX_WORKERS
    if not 1 <= int(max_workers) <= 256:
        raise ParameterError("max_workers: must be 1-256, got %r" % max_workers)
    targets = server_targets(params)
    if len(targets) <= 1:
        return [_guarded_check(target) for target in targets]
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(int(max_workers), len(targets)),
                                               thread_name_prefix="upkeep-smtp") as pool:
        return list(pool.map(_guarded_check, targets))
