"""The standard-library MaxMind DB reader on real .mmdb files built by tests/support/mmdb_writer."""

from __future__ import annotations

import pytest

from ansible.module_utils.upkeep.mmdb import MmdbError, Reader, country_of, network_of
from tests.support import mmdb_writer

NETWORKS = [("203.0.113.0/24", mmdb_writer.country("NL", "Netherlands")),
            ("198.51.100.0/25", mmdb_writer.country("US", "United States", "NA")),
            ("192.0.2.64/26", mmdb_writer.country("AE", "United Arab Emirates", "AS"))]


@pytest.mark.parametrize("record_size", [24, 28, 32])
@pytest.mark.parametrize("ip_version", [4, 6])
def test_lookups_for_every_record_size_and_tree(tmp_path, record_size, ip_version):
    networks = NETWORKS + ([("2001:db8:1::/48", mmdb_writer.country("DE", "Germany"))] if ip_version == 6 else [])
    path = mmdb_writer.write(tmp_path / "c.mmdb", networks, ip_version=ip_version, record_size=record_size)
    reader = Reader(str(path))
    assert (reader.record_size, reader.ip_version, reader.database_type) == (record_size, ip_version, "GeoLite2-Country")
    assert country_of(reader.get("203.0.113.45")) == "NL"
    assert reader.lookup("198.51.100.127") == (mmdb_writer.country("US", "United States", "NA"), 25)
    assert reader.get("198.51.100.128") is None  # just past the /25
    assert country_of(reader.get("192.0.2.100")) == "AE" and reader.get("192.0.2.10") is None
    if ip_version == 6:
        assert country_of(reader.get("2001:db8:1::77")) == "DE" and reader.get("2001:db8:2::1") is None
    else:
        with pytest.raises(ValueError):
            reader.get("2001:db8:1::77")
    with pytest.raises(ValueError):
        reader.get("not-an-ip")


def test_asn_records_and_every_value_type(tmp_path):
    record = dict(mmdb_writer.asn(64496, "Example Hosting Ltd"), big=2 ** 60, huge=2 ** 100, negative=-7, flag=True,
                  ratio=0.25, raw=b"\x00\x01", items=["a", 1, False], long="x" * 300, longer="y" * 70000)
    path = mmdb_writer.write(tmp_path / "asn.mmdb", [("203.0.113.0/24", record)], database_type="GeoLite2-ASN")
    got = Reader(str(path)).get("203.0.113.1")
    assert got == record
    assert network_of(got) == "AS64496 Example Hosting Ltd" and country_of(got) is None


def test_pointers_of_every_size_resolve(tmp_path):
    # Each odd record repeats its even neighbour's "pair" string, so the writer emits a pointer back to
    # it; thousands of distinct names push those targets past the 2-, 3- and 4-byte pointer ranges.
    networks = [("10.%d.%d.0/24" % (i // 256, i % 256),
                 {"country": {"iso_code": "C%04d" % i, "names": {"en": "n%d" % i + "n" * 200}}, "pair": "p%d" % (i // 2)})
                for i in range(3000)]
    path = mmdb_writer.write(tmp_path / "many.mmdb", networks, ip_version=4, record_size=24)
    assert path.stat().st_size > 526336 + 2048
    reader = Reader(str(path))
    for i in (0, 1, 21, 1500, 2999):
        assert reader.get("10.%d.%d.9" % (i // 256, i % 256)) == networks[i][1]


@pytest.mark.parametrize("damage, message", [
    (lambda data: b"garbage" * 100, "no metadata marker"),
    (lambda data: data.replace(b"record_size", b"record_sizX"), "lacks node_count"),
    (lambda data: data[:40], "no metadata marker"),
])
def test_damaged_files_raise_mmdb_error(tmp_path, damage, message):
    data = mmdb_writer.build(NETWORKS, ip_version=4, record_size=24)
    path = tmp_path / "bad.mmdb"
    path.write_bytes(damage(data))
    with pytest.raises(MmdbError) as caught:
        Reader(str(path))
    assert message in str(caught.value)
    with pytest.raises(MmdbError):
        Reader(str(tmp_path / "missing.mmdb"))
