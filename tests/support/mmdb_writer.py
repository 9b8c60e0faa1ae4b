"""A tiny MaxMind DB (.mmdb) writer for tests: real files in the published v2.0 format, small
enough to build per test, so the reader is exercised on bytes, not on mocks.

Written from the MaxMind DB File Format Specification (not from the reader under test): a binary
trie over the address bits (IPv4 networks of an IPv6 tree under ::/96, as MaxMind's own
databases store them), records of 24, 28 or 32 bits, a data section in which repeated strings
(map keys, country codes) become pointers of the smallest size that reaches them, and the
metadata map after the marker.
"""

from __future__ import annotations

import ipaddress
import pathlib
import struct
import time

MARKER = b"\xab\xcd\xefMaxMind.com"


class _Encoder:
    def __init__(self):
        self.out = bytearray()
        self._strings = {}

    def _ctrl(self, kind, size):
        head = bytearray()
        if size < 29:
            bits, extra = size, b""
        elif size < 285:
            bits, extra = 29, bytes([size - 29])
        elif size < 65821:
            bits, extra = 30, (size - 285).to_bytes(2, "big")
        else:
            bits, extra = 31, (size - 65821).to_bytes(3, "big")
        if kind <= 7:
            head.append((kind << 5) | bits)
        else:  # extended type: type bits 0, then type - 7
            head.append(bits)
            head.append(kind - 7)
        return bytes(head) + extra

    @staticmethod
    def pointer(offset):
        if offset < 2048:
            return bytes([0x20 | (offset >> 8), offset & 0xFF])
        if offset < 526336:
            value = offset - 2048
            return bytes([0x28 | (value >> 16), (value >> 8) & 0xFF, value & 0xFF])
        if offset < 134744064:
            value = offset - 526336
            return bytes([0x30 | (value >> 24), (value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF])
        return bytes([0x38]) + struct.pack(">I", offset)

    def value(self, value):
        """Append ``value``; return its offset in the section."""
        offset = len(self.out)
        if isinstance(value, str):
            if value in self._strings:
                self.out += self.pointer(self._strings[value])
                return offset
            self._strings[value] = offset
            data = value.encode("utf-8")
            self.out += self._ctrl(2, len(data)) + data
        elif isinstance(value, bool):
            self.out += self._ctrl(14, int(value))
        elif isinstance(value, float):
            self.out += self._ctrl(3, 8) + struct.pack(">d", value)
        elif isinstance(value, int):
            if value < 0:
                self.out += self._ctrl(8, 4) + struct.pack(">i", value)
            else:
                data = value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")
                kind = 6 if len(data) <= 4 else 9 if len(data) <= 8 else 10
                self.out += self._ctrl(kind, len(data)) + data
        elif isinstance(value, dict):
            self.out += self._ctrl(7, len(value))
            for key, item in value.items():
                self.value(str(key))
                self.value(item)
        elif isinstance(value, (list, tuple)):
            self.out += self._ctrl(11, len(value))
            for item in value:
                self.value(item)
        elif isinstance(value, bytes):
            self.out += self._ctrl(4, len(value)) + value
        else:
            raise TypeError("cannot encode %r" % (value,))
        return offset


def _record_bytes(left, right, record_size):
    if record_size == 24:
        return left.to_bytes(3, "big") + right.to_bytes(3, "big")
    if record_size == 28:
        middle = ((left >> 24) << 4) | (right >> 24)
        return (left & 0xFFFFFF).to_bytes(3, "big") + bytes([middle]) + (right & 0xFFFFFF).to_bytes(3, "big")
    return struct.pack(">II", left, right)


def build(networks, ip_version=6, record_size=28, database_type="GeoLite2-Country"):
    """The bytes of a database mapping each (network string, record dict) of ``networks``."""
    root = [None, None]
    data = {}  # id(record) -> record: each distinct record once in the data section
    bits = 128 if ip_version == 6 else 32
    for network, record in networks:
        net = ipaddress.ip_network(network)
        if net.version == 4 and ip_version == 6:
            value, prefix = int(net.network_address), 96 + net.prefixlen
        else:
            value, prefix = int(net.network_address), net.prefixlen
        node = root
        for depth in range(prefix - 1):
            bit = (value >> (bits - 1 - depth)) & 1
            if not isinstance(node[bit], list):
                node[bit] = [None, None]
            node = node[bit]
        node[(value >> (bits - prefix)) & 1] = ("data", id(record))
        data[id(record)] = record
    nodes, queue = [], [root]
    while queue:  # breadth first: node numbers in the order they are written
        node = queue.pop(0)
        nodes.append(node)
        queue.extend(child for child in node if isinstance(child, list))
    number = {id(node): index for index, node in enumerate(nodes)}
    encoder = _Encoder()
    offsets = {key: encoder.value(record) for key, record in data.items()}
    count = len(nodes)

    def record_value(child):
        if child is None:
            return count
        if isinstance(child, list):
            return number[id(child)]
        return count + 16 + offsets[child[1]]

    tree = b"".join(_record_bytes(record_value(n[0]), record_value(n[1]), record_size) for n in nodes)
    meta = _Encoder()
    meta.value({"binary_format_major_version": 2, "binary_format_minor_version": 0, "build_epoch": int(time.time()),
                "database_type": database_type, "description": {"en": "upkeep test database"},
                "ip_version": ip_version, "languages": ["en"], "node_count": count, "record_size": record_size})
    return tree + b"\0" * 16 + bytes(encoder.out) + MARKER + bytes(meta.out)


def write(path, networks, **kwargs):
    path = pathlib.Path(path)
    path.write_bytes(build(networks, **kwargs))
    return path


def country(iso, name, continent="EU"):
    """A GeoLite2-Country record as MaxMind ships it (trimmed to one language)."""
    place = {"geoname_id": int.from_bytes(iso.encode(), "big"), "iso_code": iso, "names": {"en": name}}
    return {"continent": {"code": continent, "geoname_id": 6255148, "names": {"en": continent}},
            "country": place, "registered_country": dict(place)}


def asn(number, organisation):
    """A GeoLite2-ASN record."""
    return {"autonomous_system_number": number, "autonomous_system_organization": organisation}
