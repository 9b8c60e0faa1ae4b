# -*- coding: utf-8 -*-
"""Encrypting a dump for a recipient's public key, streaming, with ``cryptography`` (pyca).

Scheme ``upkeep-x25519-aes256gcm/1`` (an ECIES construction):

- a fresh X25519 key pair per file; ECDH with the recipient's public key, HKDF-SHA256 (salt:
  both public keys) gives a 256-bit AES-GCM key used for this file only;
- the plaintext goes in chunks (1 MiB by default), each sealed with AES-256-GCM under the nonce
  ``chunk counter (11 bytes) || final flag (1 byte)`` and the file header as associated data, so
  a reordered, dropped, truncated or altered chunk fails authentication, and the header (scheme,
  key fingerprint) cannot be swapped;
- the file: ``MAGIC``, a 2-byte header length, the JSON header, then ``[4-byte length][sealed
  chunk]`` records.

Why not age/pyrage: pyrage is not in the project's pinned stack while cryptography already is
(httpx, ansible use it); the construction above is the same family age uses (X25519 + HKDF +
chunked AEAD). The manifest records the scheme and the recipient key's sha256, never a key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct

try:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    HAS_CRYPTOGRAPHY = True
except ImportError:  # the module reports it with missing_required_lib
    HAS_CRYPTOGRAPHY = False

SCHEME = "upkeep-x25519-aes256gcm/1"
MAGIC = b"UPKEEP-ENC/1\n"
DEFAULT_CHUNK_BYTES = 1 << 20
_RAW = dict(encoding=serialization.Encoding.Raw, format=serialization.PublicFormat.Raw) if HAS_CRYPTOGRAPHY else {}


class DecryptError(ValueError):
    """The file is not ours, was altered or truncated, or the key is not the recipient's."""


def load_public_key(path):
    with open(path, "rb") as handle:
        key = serialization.load_pem_public_key(handle.read())
    if not isinstance(key, X25519PublicKey):
        raise ValueError("%s is not an X25519 public key (generate one with backup_crypto.generate_keypair "
                         "or `openssl genpkey -algorithm X25519`)" % path)
    return key


def load_private_key(path):
    with open(path, "rb") as handle:
        key = serialization.load_pem_private_key(handle.read(), password=None)
    if not isinstance(key, X25519PrivateKey):
        raise ValueError("%s is not an X25519 private key" % path)
    return key


def key_fingerprint(public_key):
    """sha256 of the raw public key: names the key in a manifest without revealing anything."""
    return hashlib.sha256(public_key.public_bytes(**_RAW)).hexdigest()


def generate_keypair(private_path, public_path):
    """Write a new X25519 key pair as PEM (private 0600); returns the public key's fingerprint."""
    private = X25519PrivateKey.generate()
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    with open(public_path, "wb") as handle:
        handle.write(private.public_key().public_bytes(serialization.Encoding.PEM,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo))
    return key_fingerprint(private.public_key())


def _file_key(shared, ephemeral_raw, recipient_raw):
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral_raw + recipient_raw,
                info=SCHEME.encode()).derive(shared)


def _nonce(counter, final):
    return counter.to_bytes(11, "big") + (b"\x01" if final else b"\x00")


def encrypt_file(src_path, dst_path, recipient_public_key, chunk_bytes=DEFAULT_CHUNK_BYTES):
    """Encrypt ``src_path`` into ``dst_path`` (0600) for the recipient; returns the manifest's
    ``encryption`` entry (scheme, key fingerprint, chunk size)."""
    ephemeral = X25519PrivateKey.generate()
    ephemeral_raw = ephemeral.public_key().public_bytes(**_RAW)
    recipient_raw = recipient_public_key.public_bytes(**_RAW)
    aead = AESGCM(_file_key(ephemeral.exchange(recipient_public_key), ephemeral_raw, recipient_raw))
    info = {"scheme": SCHEME, "recipient_key_sha256": key_fingerprint(recipient_public_key),
            "chunk_bytes": int(chunk_bytes)}
    header_json = json.dumps(dict(info, ephemeral_public_key=base64.b64encode(ephemeral_raw).decode()),
                             sort_keys=True).encode()
    header = MAGIC + struct.pack(">H", len(header_json)) + header_json
    fd = os.open(dst_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(src_path, "rb") as src, os.fdopen(fd, "wb") as dst:
        dst.write(header)
        counter = 0
        chunk = src.read(chunk_bytes)
        while True:
            following = src.read(chunk_bytes)
            final = not following
            sealed = aead.encrypt(_nonce(counter, final), chunk, header)
            dst.write(struct.pack(">I", len(sealed)))
            dst.write(sealed)
            if final:
                break
            chunk, counter = following, counter + 1
    return info


def read_header(handle):
    """``(header_bytes, header_dict)`` of an encrypted file open at its start; DecryptError if not ours."""
    magic = handle.read(len(MAGIC))
    if magic != MAGIC:
        raise DecryptError("not an upkeep-encrypted file (no %r header)" % MAGIC.strip().decode())
    raw_len = handle.read(2)
    if len(raw_len) != 2:
        raise DecryptError("truncated header")
    header_json = handle.read(struct.unpack(">H", raw_len)[0])
    try:
        info = json.loads(header_json)
    except ValueError:
        raise DecryptError("unreadable header")
    if info.get("scheme") != SCHEME:
        raise DecryptError("unknown encryption scheme %r" % info.get("scheme"))
    return magic + raw_len + header_json, info


def is_encrypted(path):
    with open(path, "rb") as handle:
        return handle.read(len(MAGIC)) == MAGIC


def decrypt_chunks(src_path, private_key, limit_chunks=None):
    """Yield the plaintext chunks of ``src_path``; DecryptError on a wrong key or any alteration.
    ``limit_chunks`` stops early (to prove a key can read a file without reading all of it)."""
    with open(src_path, "rb") as src:
        header, info = read_header(src)
        ephemeral_raw = base64.b64decode(info["ephemeral_public_key"])
        recipient_raw = private_key.public_key().public_bytes(**_RAW)
        if hashlib.sha256(recipient_raw).hexdigest() != info.get("recipient_key_sha256"):
            raise DecryptError("encrypted for key sha256 %s, not for the configured key (sha256 %s)"
                               % (info.get("recipient_key_sha256"), hashlib.sha256(recipient_raw).hexdigest()))
        shared = private_key.exchange(X25519PublicKey.from_public_bytes(ephemeral_raw))
        aead = AESGCM(_file_key(shared, ephemeral_raw, recipient_raw))
        counter = 0
        while True:
            raw_len = src.read(4)
            if len(raw_len) < 4:
                raise DecryptError("truncated: the file ends before its final chunk (after %d chunks)" % counter)
            sealed = src.read(struct.unpack(">I", raw_len)[0])
            for final in (False, True):
                try:
                    plain = aead.decrypt(_nonce(counter, final), sealed, header)
                    break
                except InvalidTag:
                    continue
            else:
                raise DecryptError("chunk %d fails authentication: the file was altered or truncated" % counter)
            yield plain
            counter += 1
            if final:
                if src.read(1):
                    raise DecryptError("data after the final chunk: the file was altered")
                return
            if limit_chunks is not None and counter >= limit_chunks:
                return


def decrypt_file(src_path, dst_path, private_key):
    """Decrypt into ``dst_path`` (0600); removes the partial output on failure."""
    fd = os.open(dst_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as dst:
            for chunk in decrypt_chunks(src_path, private_key):
                dst.write(chunk)
    except BaseException:
        os.unlink(dst_path)
        raise
