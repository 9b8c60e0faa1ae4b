# -*- coding: utf-8 -*-
"""Why a certificate chain stops short of the trust store, told from what the server sent.

OpenSSL gives one answer ("unable to get local issuer certificate") to two problems with
different owners and fixes:

- ``untrusted_root``: the server sends a complete chain - its intermediates, perhaps its root -
  but the root is not in the trust store (a private CA). Nothing is wrong with the server; the
  clients (or ``ca_file``) must trust that root.
- ``missing_intermediate``: the server sends its certificate without the intermediate that
  issued it. Browsers may paper over it; curl, Node and Python clients fail. The server must
  send the full chain.

The sent chain is linked from the leaf by name and signature, as far as it goes. The issuer of
the last certificate it reaches decides, fetched from the URL that certificate names for it
(Authority Information Access caIssuers, which publicly trusted certificates carry): a
self-signed issuer is a root (``untrusted_root``), any other an intermediate the server left
out (``missing_intermediate``). Without such a URL: a server that sends its intermediate(s) sent
its chain (``untrusted_root``); a leaf alone whose issuer is not in ``ca_file`` lacks the
intermediate(s) up to ca_file's root; a leaf alone against the system store leaves nothing to
tell a private root from an omitted intermediate, and the finding (``untrusted_issuer``) says so
rather than guess.
"""

from __future__ import annotations

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.serialization import pkcs7
    from cryptography.x509.oid import AuthorityInformationAccessOID
except ImportError:  # tls.py reports the missing library; this module is only used through it
    x509 = None

UNTRUSTED_ROOT = "untrusted_root"
MISSING_INTERMEDIATE = "missing_intermediate"
UNTRUSTED_ISSUER = "untrusted_issuer"
# OpenSSL verify codes (x509_vfy.h): issuer certificate missing (2, 20), self-signed certificate
# in the chain (19: the server sent a root the store does not hold).
ISSUER_MISSING = (2, 20)
ROOT_SENT = 19


def _name(cert_or_name):
    name = getattr(cert_or_name, "subject", cert_or_name)
    return name.rfc4514_string()


def issued_by(cert, issuer):
    """Whether ``issuer``'s key signed ``cert`` (names and signature)."""
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except (ValueError, TypeError, InvalidSignature):  # other name, unsupported key, bad signature
        return False


def self_signed(cert):
    return cert.issuer == cert.subject and issued_by(cert, cert)


def sent_path(certs):
    """The chain the server sent, linked from the leaf: [leaf, its issuer, ...] as far as it goes."""
    path, rest = [certs[0]], list(certs[1:])
    while not self_signed(path[-1]):
        issuer = next((cert for cert in rest if issued_by(path[-1], cert)), None)
        if issuer is None:
            break
        path.append(issuer)
        rest.remove(issuer)
    return path


def issuer_urls(cert):
    """HTTP(S) caIssuers URLs of a certificate's Authority Information Access extension."""
    try:
        access = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return []
    return [item.access_location.value for item in access
            if item.access_method == AuthorityInformationAccessOID.CA_ISSUERS
            and isinstance(item.access_location, x509.UniformResourceIdentifier)
            and item.access_location.value.lower().startswith(("http://", "https://"))]


def issuer_url_to_fetch(chain_der, verify_error):
    """The caIssuers URL of the last certificate the sent chain reaches, when its issuer is missing
    and that URL can tell the two problems apart; else None."""
    if verify_error is None or verify_error[0] not in ISSUER_MISSING:
        return None
    top = sent_path([x509.load_der_x509_certificate(der) for der in chain_der])[-1]
    if self_signed(top):
        return None
    urls = issuer_urls(top)
    return urls[0] if urls else None


def load_issuer(data):
    """The certificate published at a caIssuers URL: DER, PEM, or a PKCS#7 bundle (.p7c), as CAs serve it."""
    loaders = (x509.load_der_x509_certificate, x509.load_pem_x509_certificate,
               lambda raw: pkcs7.load_der_pkcs7_certificates(raw)[0], lambda raw: pkcs7.load_pem_pkcs7_certificates(raw)[0])
    for loader in loaders:
        try:
            return loader(data)
        except (ValueError, IndexError):
            continue
    raise ValueError("not a certificate (DER, PEM or PKCS#7)")


def _ca_file_subjects(ca_file):
    try:
        with open(ca_file, "rb") as handle:
            return {cert.subject for cert in x509.load_pem_x509_certificates(handle.read())}
    except (OSError, ValueError):
        return None  # ssl loaded it, so this is unlikely; without it the ca_file inference is skipped


def explain(chain_der, ca_file=None, fetched=None):
    """{kind, title, detail, remediation} for a chain whose issuer is missing from the trust store.

    ``fetched`` is None or {url, data} / {url, error} from fetching the caIssuers URL of the last
    certificate the sent chain reaches (issuer_url_to_fetch).
    """
    certs = [x509.load_der_x509_certificate(der) for der in chain_der]
    path = sent_path(certs)
    top = path[-1]
    store = "ca_file (%s)" % ca_file if ca_file else "this machine's trust store"
    sent = "the server sends %d certificate(s), linked: %s" % (len(certs), " <- ".join(_name(cert) for cert in path))
    trust = ("If %s is your private CA, set ca_file to its certificate for this check and give it to the clients "
             "that call this service; a public site needs a certificate from a publicly trusted CA.")

    def untrusted_root(root, how):
        return {"kind": UNTRUSTED_ROOT, "title": "Untrusted root: the chain is complete but ends in %s, which %s does "
                "not hold" % (_name(root), store), "detail": "%s; %s" % (sent, how), "remediation": trust % _name(root)}

    if len(path) > 1 and self_signed(top):
        return untrusted_root(top, "the server sends its root too")
    note = ""
    if fetched and fetched.get("data") is not None:
        try:
            found = load_issuer(fetched["data"])
        except ValueError as exc:
            found, note = None, "; the issuer URL %s gave %s" % (fetched["url"], exc)
        if found is not None and issued_by(top, found):
            if self_signed(found):
                return untrusted_root(found, "the issuer of %s, fetched from %s, is a self-signed root"
                                      % (_name(top), fetched["url"]))
            return {"kind": MISSING_INTERMEDIATE, "title": "Incomplete chain: missing intermediate %s, which the "
                    "server does not send" % _name(found),
                    "detail": "%s; the issuer of %s, fetched from %s (its caIssuers URL), is an intermediate CA "
                              "issued by %s" % (sent, _name(top), fetched["url"], _name(found.issuer)),
                    "remediation": "Serve the full chain: the certificate followed by %s and any intermediate above "
                                   "it (e.g. fullchain.pem, not cert.pem)." % _name(found)}
        if found is not None:
            note = "; the certificate at %s (%s) did not issue it" % (fetched["url"], _name(found))
    elif fetched:
        note = "; %s" % fetched.get("error")
    if len(path) > 1:
        return untrusted_root(top.issuer, "the server sends its intermediate(s); %s, which issued the last one, is "
                                          "not sent (roots need not be) and not trusted%s" % (_name(top.issuer), note))
    issuer = top.issuer
    anchors = _ca_file_subjects(ca_file) if ca_file else None
    if anchors is not None and issuer not in anchors:
        return {"kind": MISSING_INTERMEDIATE, "title": "Incomplete chain: missing intermediate certificate %s, which "
                "the server does not send" % _name(issuer),
                "detail": "%s; its issuer is not a CA in ca_file, so the intermediate(s) up to ca_file's root are missing "
                          "(or ca_file holds a different CA)%s" % (sent, note),
                "remediation": "Serve the full chain: the certificate followed by its intermediates (e.g. fullchain.pem)."}
    why = ("its issuer's URL did not help%s" % note) if fetched else "the certificate names no URL for its issuer"
    return {"kind": UNTRUSTED_ISSUER, "title": "Untrusted issuer %s, not sent by the server: a private root or a "
            "missing intermediate" % _name(issuer),
            "detail": "%s; %s does not hold its issuer and %s, so nothing tells a private root (publicly trusted "
                      "certificates name their issuer's URL) from an intermediate the server leaves out"
                      % (sent, store, why),
            "remediation": "If %s is your private root, set ca_file to it; if it is an intermediate, serve the full "
                           "chain (e.g. fullchain.pem)." % _name(issuer)}
