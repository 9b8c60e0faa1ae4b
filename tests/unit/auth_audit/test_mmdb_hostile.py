"""The MaxMind DB reader on malformed and hostile files: only MmdbError (or a result), never
another exception, a hang or unbounded work. Files are hand-built bytes: one tree node whose two
records both point at the first byte of the data section."""

from __future__ import annotations

import random
import time

import pytest

from ansible.module_utils.upkeep.mmdb import MmdbError, Reader
from tests.support import mmdb_writer

TREE = (1 + 16).to_bytes(3, "big") * 2  # node_count 1, record_size 24: both records -> data offset 0
ARRAY_OF_ONE_STRING_KEY = bytes([0x00 | 1, 11 - 7]) + bytes([0x40 | 1]) + b"x"  # [ "x" ]
MAP_WITH_ARRAY_KEY = bytes([0xE0 | 1]) + ARRAY_OF_ONE_STRING_KEY + bytes([0x40 | 1]) + b"x"  # {["x"]: "x"}


def _meta(**overrides):
    meta = {"binary_format_major_version": 2, "database_type": "GeoLite2-Country", "ip_version": 4,
            "node_count": 1, "record_size": 24}
    meta.update(overrides)
    encoder = mmdb_writer._Encoder()
    encoder.value(meta)
    return bytes(encoder.out)


def _file(tmp_path, data, meta=None):
    path = tmp_path / "hostile.mmdb"
    path.write_bytes(TREE + b"\0" * 16 + data + mmdb_writer.MARKER + (meta if meta is not None else _meta()))
    return str(path)


def _pointer_dag(levels=15, fanout=16):
    """``levels`` arrays of ``fanout`` pointers, each to the next array: ~34 bytes a level, but
    16**15 values if every pointer's target were decoded afresh."""
    data = b""
    for level in range(levels):
        following = (2 + 2 * fanout) * (level + 1)
        data += bytes([fanout, 11 - 7]) + bytes([0x20 | (following >> 8), following & 0xFF]) * fanout
    return data + bytes([0x40 | 1]) + b"x"


def _timed(function):
    started = time.monotonic()
    try:
        return function()
    finally:
        assert time.monotonic() - started < 2, "a hostile file took %.1fs" % (time.monotonic() - started)


def test_a_pointer_dag_bomb_in_a_record_is_cut_off(tmp_path):
    reader = Reader(_file(tmp_path, _pointer_dag()))
    with pytest.raises(MmdbError, match="more than 20000 values in one record"):
        _timed(lambda: reader.get("203.0.113.9"))


def test_a_pointer_dag_bomb_in_the_metadata_is_cut_off(tmp_path):
    with pytest.raises(MmdbError, match="unreadable metadata.*more than 20000 values"):
        _timed(lambda: Reader(_file(tmp_path, b"\x40", meta=_pointer_dag())))


def test_a_pointer_to_a_pointer_is_refused(tmp_path):
    # offset 0: pointer to offset 2; offset 2: pointer to offset 0 (a loop the spec forbids).
    reader = Reader(_file(tmp_path, bytes([0x20, 2, 0x20, 0])))
    with pytest.raises(MmdbError, match="pointer to a pointer"):
        reader.get("203.0.113.9")


@pytest.mark.parametrize("data, message", [
    (MAP_WITH_ARRAY_KEY, "map key of type list"),
    (bytes([0x00, 15 - 7 + 1]), "unknown data type 16"),        # extended type past the spec's 15
    (bytes([0x40 | 3]) + b"\xff\xfe\xfd", "UnicodeDecodeError"),  # a string that is not UTF-8
    (bytes([0x62]) + b"\0\0", "double of 2 bytes"),               # the spec's doubles are 8 bytes
    (bytes([0x00 | 30, 11 - 7, 0xff]), "IndexError|more than"),   # an array longer than the file
])
def test_malformed_data_records_raise_mmdb_error(tmp_path, data, message):
    reader = Reader(_file(tmp_path, data))
    with pytest.raises(MmdbError, match=message):
        reader.get("203.0.113.9")


@pytest.mark.parametrize("meta, message", [
    (bytes([0xE0 | 1]) + ARRAY_OF_ONE_STRING_KEY + bytes([0x40 | 1]) + b"x", "map key of type list"),
    (_meta(node_count=float("inf")), "as integers"),
    (_meta(node_count=float("nan")), "as integers"),
    (_meta(node_count="1"), "as integers"),
    (_meta(node_count=0), "not a tree"),
])
def test_malformed_metadata_raises_mmdb_error(tmp_path, meta, message):
    with pytest.raises(MmdbError, match=message):
        Reader(_file(tmp_path, b"\x40", meta=meta))


def test_a_record_pointing_before_the_data_section_is_refused(tmp_path):
    path = tmp_path / "short.mmdb"
    tree = (1 + 3).to_bytes(3, "big") * 2  # node_count + 3: inside the 16-byte separator
    path.write_bytes(tree + b"\0" * 16 + b"\x40" + mmdb_writer.MARKER + _meta())
    with pytest.raises(MmdbError, match="outside the data section"):
        Reader(str(path)).get("203.0.113.9")


def test_random_byte_flips_give_a_result_or_mmdb_error_only(tmp_path):
    """Seeded fuzzing of a valid IPv6/28-bit file: thousands of damaged copies, four lookups each."""
    base = mmdb_writer.build([("203.0.113.0/24", mmdb_writer.country("NL", "Netherlands")),
                              ("198.51.100.0/25", mmdb_writer.asn(64496, "Example"))], ip_version=6, record_size=28)
    rng = random.Random(20261129)
    path = tmp_path / "fuzzed.mmdb"
    outcomes = {"result": 0, "MmdbError": 0}
    for _ in range(3000):
        data = bytearray(base)
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.getrandbits(8)
        path.write_bytes(bytes(data))
        started = time.monotonic()
        try:
            reader = Reader(str(path))
            for ip in ("203.0.113.5", "198.51.100.1", "2001:db8::1", "10.0.0.1"):
                reader.get(ip)
            outcomes["result"] += 1
        except MmdbError:
            outcomes["MmdbError"] += 1
        assert time.monotonic() - started < 1.0
    assert outcomes["result"] > 100 and outcomes["MmdbError"] > 100, outcomes
