# -*- coding: utf-8 -*-
"""The network side of ``tls.*`` checks: TLS handshakes with HTTPS, SMTP (STARTTLS) and PostgreSQL
servers, the certificate chain they send, the protocol versions they accept, their HSTS header.

Every call has an explicit timeout; every failure is an exception whose text says what happened.
"""

from __future__ import annotations

import contextlib
import http.client
import smtplib
import socket
import ssl
import struct
import urllib.request
import warnings

KINDS = ("https", "smtp_starttls", "postgres")
DEFAULT_PORTS = {"https": 443, "smtp_starttls": 587, "postgres": 5432}
_PG_SSL_REQUEST = struct.pack("!ii", 8, 80877103)
# Older versions first; the names are the ones reports show.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0/1.1 are deprecated: that is why we probe them
    PROTOCOLS = (("TLSv1.0", ssl.TLSVersion.TLSv1), ("TLSv1.1", ssl.TLSVersion.TLSv1_1),
                 ("TLSv1.2", ssl.TLSVersion.TLSv1_2), ("TLSv1.3", ssl.TLSVersion.TLSv1_3))
# Client-side refusals: our own OpenSSL would not offer the version, so nothing was learned.
_CLIENT_REFUSALS = ("NO_PROTOCOLS_AVAILABLE", "NO_SUITABLE_SIGNATURE_ALGORITHM", "NO_CIPHERS_AVAILABLE",
                    "UNSUPPORTED_PROTOCOL")


class ProbeError(RuntimeError):
    """The endpoint could not be reached or did not start TLS; the message says why."""


@contextlib.contextmanager
def tls_session(endpoint, context):
    """An SSLSocket to ``endpoint`` after its protocol's pre-TLS dialogue (none, SMTP STARTTLS, or
    PostgreSQL's SSLRequest)."""
    host, port, timeout = endpoint["host"], endpoint["port"], endpoint["timeout_s"]
    sni = endpoint["server_name"]
    kind = endpoint["kind"]
    if kind == "smtp_starttls":
        client = smtplib.SMTP(timeout=timeout)
        try:
            client.connect(host, port)
            client.ehlo("upkeep-tls-check")
            if not client.has_extn("starttls"):
                raise ProbeError("the SMTP server does not offer STARTTLS")
            client._host = sni  # smtplib sends SNI for the host it connected to; we want server_name
            client.starttls(context=context)
            yield client.sock
        finally:
            with contextlib.suppress(Exception):
                client.close()
        return
    raw = socket.create_connection((host, port), timeout=timeout)
    try:
        if kind == "postgres":
            raw.sendall(_PG_SSL_REQUEST)
            answer = raw.recv(1)
            if answer != b"S":
                raise ProbeError("the PostgreSQL server refused SSL (answered %r to SSLRequest)" % answer)
        with context.wrap_socket(raw, server_hostname=sni) as tls:
            yield tls
    finally:
        raw.close()


def _unverified_context():
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def fetch(endpoint):
    """{chain: [DER], version, cipher, hsts} from one handshake that verifies nothing."""
    with tls_session(endpoint, _unverified_context()) as tls:
        chain = []
        sslobj = getattr(tls, "_sslobj", None)
        if sslobj is not None and hasattr(sslobj, "get_unverified_chain"):
            # Python 3.10-3.12 expose the chain the server sent only here (public from 3.13).
            chain = [cert.public_bytes(ssl._ssl.ENCODING_DER) for cert in sslobj.get_unverified_chain() or []]
        if not chain:
            chain = [tls.getpeercert(binary_form=True)]
        facts = {"chain": chain, "version": tls.version(), "cipher": (tls.cipher() or ("",))[0], "hsts": None}
        if endpoint["kind"] == "https" and endpoint["check_hsts"]:
            facts["hsts"] = _read_hsts(tls, endpoint)
    return facts


def _read_hsts(tls, endpoint):
    """The Strict-Transport-Security header of a GET on the open TLS session ("" when absent)."""
    request = ("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: upkeep-tls-check\r\nConnection: close\r\n\r\n"
               % (endpoint["hsts_path"], endpoint["server_name"]))
    tls.sendall(request.encode("ascii"))
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = tls.recv(8192)
        if not chunk:
            break
        data += chunk
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "strict-transport-security":
            return value.strip()
    return ""


def verify(endpoint):
    """None when the chain verifies against the trust store (system or ``ca_file``), else
    (OpenSSL verify code, message). The host name is judged separately (tls.py)."""
    context = ssl.create_default_context(cafile=endpoint["ca_file"]) if endpoint["ca_file"] else \
        ssl.create_default_context()
    context.check_hostname = False
    try:
        with tls_session(endpoint, context):
            return None
    except ssl.SSLCertVerificationError as exc:
        return exc.verify_code, exc.verify_message


def fetch_issuer(url, timeout_s, limit=65536):
    """The bytes a certificate's caIssuers URL serves (a CA certificate: a few kB); ProbeError when
    it cannot be had. Plain HTTP is the norm there: the certificate is signed, not secret."""
    request = urllib.request.Request(url, headers={"User-Agent": "upkeep-tls-check"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as answer:
            data = answer.read(limit + 1)
    except (OSError, ValueError, http.client.HTTPException) as exc:  # URLError and timeouts are OSErrors
        raise ProbeError("cannot fetch the issuer certificate from %s: %s" % (url, exc))
    if len(data) > limit:
        raise ProbeError("%s serves more than %d bytes, not a certificate" % (url, limit))
    return data


def classify_protocol_error(exc):
    """"could_not_test" when our own TLS library refused to offer the version, else "rejected"."""
    reason = str(getattr(exc, "reason", "") or exc).upper()
    if any(item in reason for item in _CLIENT_REFUSALS) and "ALERT" not in reason:
        return "could_not_test"
    return "rejected"


def probe_protocol(endpoint, version):
    """"accepted", "rejected" or "could_not_test" for one TLS version."""
    context = _unverified_context()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = version
            context.maximum_version = version
        # OpenSSL 3's default security level refuses TLS 1.0/1.1 client-side; lift it for the probe.
        context.set_ciphers("ALL:@SECLEVEL=0")
    except (ValueError, ssl.SSLError):
        return "could_not_test"
    try:
        with tls_session(endpoint, context):
            return "accepted"
    except ssl.SSLError as exc:
        return classify_protocol_error(exc)
    except (ProbeError, smtplib.SMTPException, ConnectionError):
        return "rejected"  # the server dropped the handshake: it does not speak this version
    except OSError:
        return "could_not_test"  # a timeout or a network error says nothing about the version
