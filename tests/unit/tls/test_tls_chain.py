"""Untrusted root or missing intermediate: real TLS servers on loopback serving chains the tests make,
checked without a CA file (the system store, which knows none of these roots), and the issuer
certificates served over HTTP on loopback where the server's certificate names their URL."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from ansible.module_utils.upkeep import tls
from tests.support.fixtures_tls import CertMaker, TlsServer
from tests.support.fixtures_tls_chain import IssuerServer, issued_leaf


@pytest.fixture
def world(tmp_path):
    """A public-CA-like hierarchy and a private one, an issuer server, and servers closed afterwards."""
    maker = CertMaker(tmp_path / "pki")
    issuers = IssuerServer()
    servers = []

    def serve(name, leaf, chain=()):
        cert_file, key_file, _root = maker.files(name, leaf, chain)
        server = TlsServer(cert_file, key_file)
        servers.append(server)
        return server

    yield maker, issuers, serve
    for server in servers:
        server.close()
    issuers.close()


def check(server, ca_file=None):
    [result] = tls.run_tls_checks({"endpoints": [{"host": "127.0.0.1", "port": server.port, "server_name": "localhost",
                                                 "ca_file": ca_file, "check_protocols": False, "check_hsts": False,
                                                 "timeout_s": 5}]})
    assert result["status"] == "critical", result
    [problem] = [item for item in result["findings"] if "(OpenSSL:" in item["detail"]]
    return result["chain_problem"], problem


def test_complete_chain_to_a_private_root_is_an_untrusted_root(world):
    maker, _issuers, serve = world
    kind, problem = check(serve("private", issued_leaf(maker.intermediate), [maker.intermediate]))
    assert kind == "untrusted_root"
    assert problem["title"] == ("Untrusted root: the chain is complete but ends in CN=upkeep test root,O=upkeep tests, "
                                "which this machine's trust store does not hold")
    assert "the server sends its intermediate(s)" in problem["detail"]


def test_a_root_sent_with_the_chain_is_an_untrusted_root_not_a_self_signed_certificate(world):
    maker, _issuers, serve = world
    kind, problem = check(serve("with-root", issued_leaf(maker.intermediate), [maker.intermediate, maker.root]))
    assert kind == "untrusted_root" and "the server sends its root too" in problem["detail"]
    assert "Self-signed" not in problem["title"]


@pytest.mark.parametrize("encoding", ["der", "p7c"])
def test_a_server_that_leaves_out_its_intermediate_is_told_by_the_issuer_url(world, encoding):
    maker, issuers, serve = world
    root = maker.ca("Example Trust Services Root R1")
    intermediate = maker.ca("Example TLS Issuing ECC CA 2026", issuer=root)
    path = "/certs/issuing-2026." + encoding
    issuers.files[path] = (intermediate.cert.public_bytes(serialization.Encoding.DER) if encoding == "der" else
                           pkcs7.serialize_certificates([intermediate.cert], serialization.Encoding.DER))
    kind, problem = check(serve("leaf-only", issued_leaf(intermediate, issuers.url(path))))
    assert kind == "missing_intermediate"
    assert problem["title"] == ("Incomplete chain: missing intermediate CN=Example TLS Issuing ECC CA 2026,O=upkeep tests,"
                                " which the server does not send")
    assert issuers.url(path) in problem["detail"] and "fullchain.pem" in problem["remediation"]


def test_a_leaf_issued_directly_by_a_private_root_is_an_untrusted_root(world):
    """Two-tier private CAs (mkcert, many internal CAs) issue from the root: the leaf alone is the whole chain."""
    maker, issuers, serve = world
    root = maker.ca("Acme Internal Root CA")
    issuers.files["/root.crt"] = root.cert.public_bytes(serialization.Encoding.PEM)
    kind, problem = check(serve("two-tier", issued_leaf(root, issuers.url("/root.crt"))))
    assert kind == "untrusted_root" and "is a self-signed root" in problem["detail"]


def test_without_an_issuer_url_a_leaf_alone_is_said_to_be_undecidable(world):
    maker, issuers, serve = world
    kind, problem = check(serve("bare", issued_leaf(maker.intermediate)))
    assert kind == "untrusted_issuer" and problem["title"].endswith("a private root or a missing intermediate")
    assert "names no URL for its issuer" in problem["detail"]
    gone = issuers.url("/gone.der")
    kind, problem = check(serve("dead-url", issued_leaf(maker.intermediate, gone)))
    assert kind == "untrusted_issuer" and "cannot fetch the issuer certificate from %s" % gone in problem["detail"]


def test_with_a_ca_file_a_leaf_alone_lacks_the_intermediate(world):
    maker, _issuers, serve = world
    kind, problem = check(serve("ca-file", issued_leaf(maker.intermediate)), ca_file=str(maker.directory / "root.pem"))
    assert kind == "missing_intermediate" and "not a CA in ca_file" in problem["detail"]
