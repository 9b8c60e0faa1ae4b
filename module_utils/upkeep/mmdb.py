# -*- coding: utf-8 -*-
"""A small reader of MaxMind DB files (``.mmdb``: GeoLite2/GeoIP2 Country, City, ASN, and any
database in the format), following the MaxMind DB File Format Specification v2.0.

Why not the ``maxminddb`` package: this runs inside a host-side module (upkeep_auth_audit), and
host-side modules are standard library only so that a bare app host with Python runs them. The
format is small and stable (v2.0 since 2013): a binary trie over the address bits whose records
point into a data section of self-describing typed values, and a metadata map at the end.

The whole file is read into memory once (GeoLite2-Country is ~9 MB, ASN ~10 MB); lookups then
walk at most 128 nodes and decode one record.

A file may be corrupt or hostile (it is whatever sits at the configured path): every failure to
read it is an MmdbError, never another exception, and the work per record is bounded - nesting
(MAX_DEPTH), the values decoded (MAX_VALUES: pointers may share a target, so a few hundred bytes
of pointers to pointers' containers would otherwise expand to 16**15 values) and no pointer to a
pointer (the spec forbids it).
"""

from __future__ import annotations

import ipaddress
import struct

METADATA_MARKER = b"\xab\xcd\xefMaxMind.com"
METADATA_MAX_BYTES = 128 * 1024
DATA_SEPARATOR_BYTES = 16
MAX_DEPTH = 32  # nesting of maps/arrays a record may have; deeper is a corrupt (or hostile) file
# Values decoded for one record or the metadata. A GeoIP2 City record is a few hundred (names in
# eight languages for city, subdivisions, country, continent); a record past this is not GeoIP data.
MAX_VALUES = 20000
# Decoded records kept by data offset: many addresses share a record (every address of a country
# in a Country database), so an audit's thousands of lookups decode a few dozen records, and a
# hostile record costs its MAX_VALUES once, not once per address.
RECORD_CACHE_SIZE = 4096


class MmdbError(Exception):
    """The file is not a readable MaxMind DB (the message says why)."""


class Reader(object):
    """``Reader(path).get("203.0.113.9")`` -> the record (dict) for the address, or None."""

    def __init__(self, path):
        try:
            with open(path, "rb") as handle:
                self._buf = handle.read()
        except OSError as exc:
            raise MmdbError("cannot read %s: %s" % (path, exc.strerror or exc))
        start = self._buf.rfind(METADATA_MARKER, max(0, len(self._buf) - METADATA_MAX_BYTES))
        if start < 0:
            raise MmdbError("%s is not a MaxMind DB file (no metadata marker)" % path)
        meta_start = start + len(METADATA_MARKER)
        metadata = self._decode_value(meta_start, meta_start, "%s: unreadable metadata" % path)
        if not isinstance(metadata, dict):
            raise MmdbError("%s: metadata is not a map" % path)
        self.metadata = metadata
        fields = [metadata.get(key) for key in ("node_count", "record_size", "ip_version")]
        # Unsigned integers in the spec: a double (inf, nan, 1e300) or a string is a broken file.
        if not all(isinstance(value, int) and not isinstance(value, bool) for value in fields):
            raise MmdbError("%s: metadata lacks node_count, record_size or ip_version as integers" % path)
        self.node_count, self.record_size, self.ip_version = fields
        if self.node_count < 1:
            raise MmdbError("%s: node_count %d is not a tree" % (path, self.node_count))
        if metadata.get("binary_format_major_version") != 2:
            raise MmdbError("%s: binary format %r.x is not supported (2.x is)"
                            % (path, metadata.get("binary_format_major_version")))
        if self.record_size not in (24, 28, 32) or self.ip_version not in (4, 6):
            raise MmdbError("%s: record_size %d / ip_version %d not in the spec" % (path, self.record_size,
                                                                                     self.ip_version))
        self._node_bytes = self.record_size * 2 // 8
        self._tree_size = self.node_count * self._node_bytes
        self._data_start = self._tree_size + DATA_SEPARATOR_BYTES
        if self._data_start > start:
            raise MmdbError("%s: search tree (%d nodes) runs past the data section" % (path, self.node_count))
        self.database_type = str(metadata.get("database_type", ""))
        self._ipv4_start = None
        self._records = {}  # data offset -> decoded record, or the MmdbError it raised

    # -- the search tree ------------------------------------------------------------------------

    def _record(self, node, bit):
        offset = node * self._node_bytes
        buf = self._buf
        if self.record_size == 24:
            offset += 3 * bit
            return (buf[offset] << 16) | (buf[offset + 1] << 8) | buf[offset + 2]
        if self.record_size == 28:
            if bit == 0:
                return ((buf[offset + 3] & 0xF0) << 20) | (buf[offset] << 16) | (buf[offset + 1] << 8) | buf[offset + 2]
            return ((buf[offset + 3] & 0x0F) << 24) | (buf[offset + 4] << 16) | (buf[offset + 5] << 8) | buf[offset + 6]
        return struct.unpack_from(">I", buf, offset + 4 * bit)[0]

    def _start_node(self, bits):
        if self.ip_version == 6 and bits == 32:
            # IPv4 addresses live under ::/96 of an IPv6 tree: walk the 96 zero bits once.
            if self._ipv4_start is None:
                node = 0
                for _ in range(96):
                    if node >= self.node_count:
                        break
                    node = self._record(node, 0)
                self._ipv4_start = node
            return self._ipv4_start
        return 0

    def lookup(self, ip):
        """(record, prefix_length) for ``ip``; record None when the database has no data for it."""
        address = ipaddress.ip_address(ip)
        if address.version == 6 and self.ip_version == 4:
            raise ValueError("%s is IPv6 but the database holds IPv4 data only" % ip)
        try:
            return self._lookup(ip, address)
        except MmdbError:
            raise
        except Exception as exc:  # a corrupt tree (IndexError, struct.error, ...): the file's fault, not the caller's
            raise MmdbError("corrupt search tree for %s (%s: %s)" % (ip, type(exc).__name__, exc))

    def _lookup(self, ip, address):
        bits = address.max_prefixlen
        packed = int(address)
        node = self._start_node(bits)
        depth = 0
        while depth < bits and node < self.node_count:
            node = self._record(node, (packed >> (bits - 1 - depth)) & 1)
            depth += 1
        if node == self.node_count:
            return None, depth
        if node < self.node_count:  # the address ran out before the tree did: malformed
            raise MmdbError("search tree deeper than the address at %s" % ip)
        pointer = node - self.node_count - DATA_SEPARATOR_BYTES
        if pointer < 0 or self._data_start + pointer >= len(self._buf):
            raise MmdbError("search tree record for %s points outside the data section" % ip)
        offset = self._data_start + pointer
        if offset not in self._records:
            if len(self._records) >= RECORD_CACHE_SIZE:
                self._records.clear()
            try:
                self._records[offset] = self._decode_value(offset, self._data_start, "corrupt data record")
            except MmdbError as exc:
                self._records[offset] = exc
        value = self._records[offset]
        if isinstance(value, MmdbError):
            raise MmdbError("%s for %s" % (value, ip))
        return value, depth

    def get(self, ip):
        """The record for ``ip`` (shared between addresses with the same record: do not modify it)."""
        return self.lookup(ip)[0]

    # -- the data section -----------------------------------------------------------------------

    def _decode_value(self, offset, base, what):
        """The value at ``offset`` (one record, or the metadata); MmdbError when it cannot be decoded."""
        budget = [MAX_VALUES]
        try:
            return self._decode(offset, base, 0, budget)[0]
        except MmdbError as exc:
            raise MmdbError("%s (%s)" % (what, exc))
        except Exception as exc:  # IndexError, struct.error, UnicodeDecodeError, TypeError, RecursionError...
            raise MmdbError("%s (%s: %s)" % (what, type(exc).__name__, exc))

    def _decode(self, offset, base, depth, budget, via_pointer=False):
        """(value, next offset) of the value at ``offset``; pointers are relative to ``base``.
        ``budget`` is the one-item list of values this record may still decode."""
        if depth > MAX_DEPTH:
            raise MmdbError("values nested deeper than %d" % MAX_DEPTH)
        budget[0] -= 1
        if budget[0] < 0:
            raise MmdbError("more than %d values in one record (pointers shared over and over?)" % MAX_VALUES)
        buf = self._buf
        ctrl = buf[offset]
        offset += 1
        kind = ctrl >> 5
        if kind == 1:  # pointer: its own size encoding; its target is decoded where the pointer stands
            if via_pointer:
                raise MmdbError("pointer to a pointer at offset %d (the spec forbids it)" % (offset - 1))
            size = (ctrl >> 3) & 0x3
            low = ctrl & 0x7
            if size == 0:
                pointer = (low << 8) | buf[offset]
            elif size == 1:
                pointer = ((low << 16) | (buf[offset] << 8) | buf[offset + 1]) + 2048
            elif size == 2:
                pointer = ((low << 24) | (buf[offset] << 16) | (buf[offset + 1] << 8) | buf[offset + 2]) + 526336
            else:
                pointer = struct.unpack_from(">I", buf, offset)[0]
            value, _ = self._decode(base + pointer, base, depth + 1, budget, via_pointer=True)
            return value, offset + size + 1
        if kind == 0:  # extended type: the next byte holds type - 7
            kind = 7 + buf[offset]
            offset += 1
        size = ctrl & 0x1F
        if size >= 29:
            extra = size - 28
            value = int.from_bytes(buf[offset:offset + extra], "big")
            offset += extra
            size = (29, 285, 65821)[extra - 1] + value
        if kind == 2:
            return buf[offset:offset + size].decode("utf-8"), offset + size
        if kind == 3:
            if size != 8:
                raise MmdbError("double of %d bytes at offset %d (8 in the spec)" % (size, offset))
            return struct.unpack_from(">d", buf, offset)[0], offset + 8
        if kind == 4:
            return bytes(buf[offset:offset + size]), offset + size
        if kind in (5, 6, 9, 10):  # unsigned integers of up to 2, 4, 8 and 16 bytes
            return int.from_bytes(buf[offset:offset + size], "big"), offset + size
        if kind == 8:  # int32, sign-extended from however many bytes are stored
            return int.from_bytes(buf[offset:offset + size].rjust(4, b"\0"), "big", signed=True), offset + size
        if kind == 7:
            result = {}
            for _ in range(size):
                key, offset = self._decode(offset, base, depth + 1, budget)
                if not isinstance(key, str):  # the spec's keys are UTF-8 strings
                    raise MmdbError("map key of type %s at offset %d" % (type(key).__name__, offset))
                result[key], offset = self._decode(offset, base, depth + 1, budget)
            return result, offset
        if kind == 11:
            items = []
            for _ in range(size):
                item, offset = self._decode(offset, base, depth + 1, budget)
                items.append(item)
            return items, offset
        if kind == 14:
            return bool(size), offset
        if kind == 15:
            if size != 4:
                raise MmdbError("float of %d bytes at offset %d (4 in the spec)" % (size, offset))
            return struct.unpack_from(">f", buf, offset)[0], offset + 4
        raise MmdbError("unknown data type %d at offset %d" % (kind, offset))


def country_of(record):
    """ISO code of a GeoIP2/GeoLite2 Country or City record (the country, else the registered one)."""
    if not isinstance(record, dict):
        return None
    for key in ("country", "registered_country"):
        iso = (record.get(key) or {}).get("iso_code") if isinstance(record.get(key), dict) else None
        if iso:
            return str(iso)
    return None


def network_of(record):
    """"AS<number> <organisation>" of a GeoLite2/GeoIP2 ASN record."""
    if not isinstance(record, dict) or record.get("autonomous_system_number") is None:
        return None
    org = record.get("autonomous_system_organization")
    return "AS%s%s" % (record["autonomous_system_number"], " " + str(org) if org else "")
