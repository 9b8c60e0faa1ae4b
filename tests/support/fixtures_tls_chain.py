"""Certificates shaped like a public CA's (with caIssuers URLs) and a plain HTTP server on loopback
that serves issuer certificates by path, as a CA's caIssuers host does: for telling an untrusted
root from a missing intermediate (module_utils/upkeep/tls_chain.py)."""

from __future__ import annotations

import datetime
import http.server
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from tests.support.fixtures_tls import Issued

NOW = datetime.datetime.now(datetime.timezone.utc)


def issued_leaf(issuer, ca_issuers_url=None, name="localhost"):
    """A server certificate shaped like a public CA's: SAN, server auth, OCSP and caIssuers URLs."""
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
               .issuer_name(issuer.cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(NOW - datetime.timedelta(days=2)).not_valid_after(NOW + datetime.timedelta(days=88))
               .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.cert.public_key()),
                              critical=False))
    if ca_issuers_url:
        builder = builder.add_extension(x509.AuthorityInformationAccess([
            x509.AccessDescription(AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(
                "http://127.0.0.1:9/ocsp")),
            x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(
                ca_issuers_url))]), critical=False)
    return Issued(builder.sign(issuer.key, hashes.SHA256()), key)


class IssuerServer:
    """Plain HTTP on loopback serving CA certificates by path, as a CA's caIssuers host does."""

    def __init__(self):
        self.files = {}
        files = self.files

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                body = files.get(self.path)
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "application/pkix-cert")
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.httpd.server_address[1], path)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
