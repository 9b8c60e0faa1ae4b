"""Certificates with chosen flaws and real TLS servers on loopback, for the tls.* tests.

``CertMaker`` builds what src/upkeep/sandbox/pki.py does not: RSA keys of any size, SHA-1
signatures, self-signed leaves, a root -> intermediate -> leaf hierarchy. ``TlsServer`` serves a
chain on 127.0.0.1 (optionally only the leaf, optionally TLS 1.0+, optionally an HTTP answer with
chosen headers). Import the fixtures into a test module to use them (``from tests.support.fixtures_tls
import cert_maker``); plain helpers need no registration.
"""

from __future__ import annotations

import datetime
import ipaddress
import pathlib
import socket
import subprocess
import ssl
import threading
import warnings

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = datetime.datetime.now(datetime.timezone.utc)


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "upkeep tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


class Issued:
    def __init__(self, cert, key):
        self.cert, self.key = cert, key

    def pem(self):
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self):
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())


class CertMaker:
    """Builds CAs and leaves; writes PEM files under ``directory``."""

    def __init__(self, directory):
        self.directory = pathlib.Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.root = self.ca("upkeep test root")
        self.intermediate = self.ca("upkeep test intermediate", issuer=self.root)

    def ca(self, cn, issuer=None):
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (x509.CertificateBuilder().subject_name(_name(cn))
                   .issuer_name(issuer.cert.subject if issuer else _name(cn))
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(NOW - datetime.timedelta(days=1)).not_valid_after(NOW + datetime.timedelta(days=3650))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                                crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
        if issuer:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.cert.public_key()), critical=False)
        return Issued(builder.sign(issuer.key if issuer else key, hashes.SHA256()), key)

    def leaf(self, names=("localhost", "127.0.0.1"), days=90, start_days_ago=1.0, rsa_bits=None, hash_cls=hashes.SHA256,
             issuer=None, self_signed=False):
        key = rsa.generate_private_key(65537, rsa_bits) if rsa_bits else ec.generate_private_key(ec.SECP256R1())
        issuer = issuer or self.intermediate
        start = NOW - datetime.timedelta(days=start_days_ago)
        san = []
        for name in names:
            try:
                san.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                san.append(x509.DNSName(name))
        builder = (x509.CertificateBuilder().subject_name(_name(names[0]))
                   .issuer_name(_name(names[0]) if self_signed else issuer.cert.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=days))
                   .add_extension(x509.SubjectAlternativeName(san), critical=False)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False))
        if not self_signed:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.cert.public_key()), critical=False)
        return Issued(builder.sign(key if self_signed else issuer.key, hash_cls()), key)

    def sha1_leaf(self, names=("localhost", "127.0.0.1")):
        """A leaf signed by the intermediate with ECDSA-SHA1. cryptography refuses to sign with SHA-1,
        so the openssl command line does it (as a CA that never updated its tooling would)."""
        work = self.directory / "sha1"
        work.mkdir(exist_ok=True)
        (work / "ca.pem").write_bytes(self.intermediate.pem())
        (work / "ca.key").write_bytes(self.intermediate.key_pem())
        key = ec.generate_private_key(ec.SECP256R1())
        (work / "leaf.key").write_bytes(Issued(None, key).key_pem())
        san = ",".join(("IP:%s" if name[0].isdigit() else "DNS:%s") % name for name in names)
        (work / "ext.cnf").write_text("subjectAltName=%s\nbasicConstraints=critical,CA:FALSE\n" % san)
        subprocess.run(["openssl", "req", "-new", "-key", str(work / "leaf.key"), "-subj", "/CN=%s" % names[0],
                        "-out", str(work / "leaf.csr")], check=True, capture_output=True, timeout=30)
        subprocess.run(["openssl", "x509", "-req", "-in", str(work / "leaf.csr"), "-CA", str(work / "ca.pem"),
                        "-CAkey", str(work / "ca.key"), "-CAcreateserial", "-sha1", "-days", "60",
                        "-extfile", str(work / "ext.cnf"), "-out", str(work / "leaf.pem")],
                       check=True, capture_output=True, timeout=30)
        return Issued(x509.load_pem_x509_certificate((work / "leaf.pem").read_bytes()), key)

    def files(self, name, leaf, chain=()):
        """(cert chain file, key file, root CA file) for serving ``leaf`` followed by ``chain``."""
        cert_file, key_file = self.directory / (name + ".pem"), self.directory / (name + ".key")
        cert_file.write_bytes(leaf.pem() + b"".join(item.pem() for item in chain))
        key_file.write_bytes(leaf.key_pem())
        ca_file = self.directory / "root.pem"
        ca_file.write_bytes(self.root.pem())
        return str(cert_file), str(key_file), str(ca_file)


class TlsServer:
    """A loopback TLS server; ``http_headers`` (a list of (name, value)) makes it answer one HTTP request."""

    def __init__(self, cert_file, key_file, old_protocols=False, http_headers=None, port=0):
        self.http_headers = http_headers
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.set_ciphers("ALL:@SECLEVEL=0")  # so weak keys and SHA-1 certificates can be served at all
        if old_protocols:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                context.minimum_version = ssl.TLSVersion.TLSv1
        context.load_cert_chain(cert_file, key_file)
        self.context = context
        self.sock = socket.create_server(("127.0.0.1", port))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn):
        try:
            conn.settimeout(5)
            with self.context.wrap_socket(conn, server_side=True) as tls:
                if self.http_headers is None:
                    return
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = tls.recv(4096)
                    if not chunk:
                        return
                    data += chunk
                body = b"<html>ok</html>"
                head = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\nConnection: close\r\n" % len(body)
                head += "".join("%s: %s\r\n" % item for item in self.http_headers)
                tls.sendall(head.encode("latin-1") + b"\r\n" + body)
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

    def close(self):
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


@pytest.fixture(scope="session")
def cert_maker(tmp_path_factory):
    return CertMaker(tmp_path_factory.mktemp("tlscerts"))


@pytest.fixture
def tls_server(cert_maker):
    """``tls_server(leaf=None, name=..., send_intermediate=True, **server_options)`` -> TlsServer (closed after)."""
    servers = []

    def start(leaf=None, name="leaf", send_intermediate=True, **options):
        leaf = leaf or cert_maker.leaf()
        chain = [cert_maker.intermediate] if send_intermediate else []
        cert_file, key_file, _ca = cert_maker.files(name, leaf, chain)
        server = TlsServer(cert_file, key_file, **options)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()
