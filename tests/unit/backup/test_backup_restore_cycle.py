"""Backup -> restore -> verify against a real PostgreSQL cluster, and the faults it must catch."""

from __future__ import annotations

import json
import os

import psycopg
import pytest

from ansible.module_utils.upkeep import backup, backup_compare, backup_manifest, restore
from ansible.module_utils.upkeep.pg import connect
from ansible.module_utils.upkeep.result import ParameterError
from tests.unit.backup.support import database_names, scratch_names


def _backup(source, directory, **extra):
    check, details = backup.make_backup(dict(source, directory=str(directory), backup_name="app", **extra))
    assert check["status"] == "ok", check
    return details


def _source_fingerprint(source):
    return backup_compare.fingerprint_restored(lambda: connect(source, statement_timeout_ms=0, autocommit=False))


def test_cycle_proves_equality_and_leaves_the_source_untouched(source_db, restore_server, pg_cluster, tmp_path):
    before = _source_fingerprint(source_db)
    details = _backup(source_db, tmp_path)
    manifest = backup_manifest.read_manifest(details["manifest_path"])
    assert manifest["content"]["tables"]["public.leads"]["rows"] == 2000
    # Every table hashes per column (json, enum, arrays by their text: see test_checksum.py).
    methods = {name: t["method"] for name, t in manifest["content"]["tables"].items()}
    assert methods == {"public.products": "columns", "public.leads": "columns", "public.categories": "columns"}
    assert manifest["content"]["checksum_algorithm"] == "sum-hash64/2"
    assert manifest["content"]["sequences"]["public.leads_id_seq"] == {"last_value": 2000, "is_called": True}
    assert "view public.open_leads" in manifest["content"]["schema"]["objects"]
    assert oct(os.stat(details["dump_path"]).st_mode & 0o777) == "0o600"

    outcome = restore.restore_and_verify(details["manifest_path"], restore_server, source=source_db)
    check = outcome["check"]
    assert check["status"] == "ok", check
    assert "matches the manifest exactly" in check["summary"]
    assert check["metrics"]["rows"] == 2305 and check["metrics"]["restore_ms"] > 0 and check["metrics"]["verify_ms"] > 0
    assert outcome["backup"]["snapshot_time"] == manifest["snapshot_time"]
    assert outcome["scratch_database"].startswith("upkeep_scratch_")
    assert scratch_names(pg_cluster) == []  # dropped afterwards
    assert _source_fingerprint(source_db) == before
    record = json.loads(open(details["manifest_path"].replace(".manifest.json", ".verify.json")).read())
    assert record["status"] == "ok"


def test_a_row_changed_in_the_restored_copy_is_named(source_db, restore_server, pg_cluster, tmp_path):
    details = _backup(source_db, tmp_path)
    outcome = restore.restore_and_verify(details["manifest_path"], restore_server, keep=True, record=False)
    scratch = outcome["scratch_database"]
    try:
        with pg_cluster.connect(scratch) as conn:
            conn.execute("UPDATE leads SET note = 'tampered' WHERE id = 17")
            conn.execute("DELETE FROM categories WHERE id = 5 AND NOT EXISTS (SELECT 1 FROM products WHERE category_id = 5)")
            conn.execute("SELECT setval('products_id_seq', 999)")
        target = dict(restore_server, database=scratch)
        restored = backup_compare.fingerprint_restored(lambda: connect(target, statement_timeout_ms=0, autocommit=False))
        manifest = backup_manifest.read_manifest(details["manifest_path"])
        titles = [f["title"] for f in backup_compare.compare_with_manifest(manifest["content"], restored)]
    finally:
        with pg_cluster.connect() as conn:
            conn.execute('DROP DATABASE "%s" WITH (FORCE)' % scratch)
    assert any(t.startswith("public.leads: content differs from the backup (same 2000 rows") for t in titles), titles
    assert "sequence public.products_id_seq: restored 999, backup 300" in titles
    assert not any("public.products:" in t for t in titles)


def test_truncated_dump_is_caught_before_restoring(source_db, restore_server, pg_cluster, tmp_path):
    details = _backup(source_db, tmp_path)
    size = os.path.getsize(details["dump_path"])
    with open(details["dump_path"], "r+b") as handle:
        handle.truncate(size // 2)
    before = database_names(pg_cluster)
    check = restore.restore_and_verify(details["manifest_path"], restore_server)["check"]
    assert check["status"] == "critical"
    assert check["findings"][0]["title"] == ("Backup file truncated or grown: %s is %d bytes, the manifest says %d"
                                             % (os.path.basename(details["dump_path"]), size // 2, size))
    assert database_names(pg_cluster) == before


def test_flipped_byte_is_caught(source_db, restore_server, tmp_path):
    details = _backup(source_db, tmp_path)
    with open(details["dump_path"], "r+b") as handle:
        handle.seek(os.path.getsize(details["dump_path"]) // 2)
        byte = handle.read(1)
        handle.seek(-1, os.SEEK_CUR)
        handle.write(bytes([byte[0] ^ 0xFF]))
    check = restore.restore_and_verify(details["manifest_path"], restore_server)["check"]
    assert check["status"] == "critical"
    assert check["findings"][0]["title"].startswith("Backup file corrupted: sha256 of %s differs"
                                                    % os.path.basename(details["dump_path"]))


def test_restore_aimed_at_the_source_or_a_foreign_database_is_refused(source_db, restore_server, pg_cluster, tmp_path):
    details = _backup(source_db, tmp_path)
    server = dict(restore_server)
    with pytest.raises(ParameterError, match="it is the source database"):
        restore.restore_and_verify(details["manifest_path"], server, source=source_db,
                                   target_database=source_db["database"])
    with pytest.raises(ParameterError, match="named upkeep_scratch_"):
        restore.restore_and_verify(details["manifest_path"], server, target_database="postgres")
    with pg_cluster.connect() as conn:
        conn.execute("CREATE DATABASE upkeep_scratch_not_ours")
    try:
        with pytest.raises(ParameterError, match="exists and was not created by upkeep"):
            restore.restore_and_verify(details["manifest_path"], server, target_database="upkeep_scratch_not_ours")
        with pg_cluster.connect("upkeep_scratch_not_ours") as conn:
            assert conn.execute("SELECT count(*) FROM pg_class WHERE relname = 'leads'").fetchone()[0] == 0
    finally:
        with pg_cluster.connect() as conn:
            conn.execute("DROP DATABASE upkeep_scratch_not_ours")


def test_check_mode_restores_nothing(source_db, restore_server, pg_cluster, tmp_path):
    details = _backup(source_db, tmp_path)
    before = database_names(pg_cluster)
    outcome = restore.restore_and_verify(details["manifest_path"], restore_server, check_mode=True)
    assert outcome["check"]["status"] == "ok" and outcome["check"]["summary"].startswith("check mode: would restore")
    assert outcome["restore_ms"] is None and database_names(pg_cluster) == before
    assert not os.path.exists(details["manifest_path"].replace(".manifest.json", ".verify.json"))


def test_encrypted_backup_round_trip_and_wrong_key(source_db, restore_server, tmp_path):
    from ansible.module_utils.upkeep import backup_crypto

    backup_crypto.generate_keypair(str(tmp_path / "k.pem"), str(tmp_path / "k.pub"))
    backup_crypto.generate_keypair(str(tmp_path / "other.pem"), str(tmp_path / "other.pub"))
    out = tmp_path / "out"
    out.mkdir()
    details = _backup(source_db, out, encrypt_to=str(tmp_path / "k.pub"))
    assert details["dump_path"].endswith(".dump.enc") and not os.path.exists(details["dump_path"][:-4])
    manifest = backup_manifest.read_manifest(details["manifest_path"])
    assert manifest["encryption"]["scheme"] == backup_crypto.SCHEME
    assert "PRIVATE" not in json.dumps(manifest) and "PUBLIC" not in json.dumps(manifest)
    ok = restore.restore_and_verify(str(out), restore_server, decrypt_key_file=str(tmp_path / "k.pem"))["check"]
    assert ok["status"] == "ok", ok
    assert ok["metrics"]["decrypt_ms"] > 0
    wrong = restore.restore_and_verify(str(out), restore_server, decrypt_key_file=str(tmp_path / "other.pem"))["check"]
    assert wrong["status"] == "critical" and "not for the configured key" in wrong["summary"]


def test_foreign_dump_drift_is_information(source_db, restore_server, tmp_path):
    dump = tmp_path / "nightly.dump"
    pg_dump = backup.find_tool("pg_dump")
    env = dict(os.environ, PGPASSWORD=source_db["password"])
    import subprocess
    subprocess.run([pg_dump, "-Fc", "-h", source_db["host"], "-p", str(source_db["port"]), "-U", source_db["user"],
                    "-f", str(dump), source_db["database"]], env=env, check=True)
    with psycopg.connect(host=source_db["host"], port=source_db["port"], user=source_db["user"],
                         password=source_db["password"], dbname=source_db["database"], autocommit=True) as conn:
        conn.execute("INSERT INTO categories (name) VALUES ('new since the dump')")
    check = restore.restore_and_verify(str(dump), restore_server, source=source_db)["check"]
    assert check["status"] == "ok", check
    assert check["backup_kind"] == "foreign"
    assert "drift: public.categories has 6 rows in the source, 5 in the backup (+1 since the dump)" in [
        f["title"] for f in check["findings"]]


def test_a_refreshed_view_and_a_domain_check_added_in_the_restore_are_named(source_db, restore_server, pg_cluster,
                                                                            tmp_path):
    with pg_cluster.connect(source_db["database"]) as conn:
        conn.execute("SET ROLE upkeep_app")
        conn.execute("CREATE DOMAIN email AS text CHECK (VALUE LIKE '%@%')")
        conn.execute("CREATE TABLE subscribers (id int PRIMARY KEY, address email)")
        conn.execute("CREATE MATERIALIZED VIEW lead_backlog AS SELECT count(*) AS n FROM public.leads WITH NO DATA")
    details = _backup(source_db, tmp_path)
    outcome = restore.restore_and_verify(details["manifest_path"], restore_server, keep=True, record=False)
    assert outcome["check"]["status"] == "ok", outcome["check"]
    scratch = outcome["scratch_database"]
    try:
        with pg_cluster.connect(scratch) as conn:
            conn.execute("REFRESH MATERIALIZED VIEW lead_backlog")
            conn.execute("ALTER DOMAIN email ADD CONSTRAINT email_short CHECK (length(VALUE) < 255) NOT VALID")
        target = dict(restore_server, database=scratch)
        restored = backup_compare.fingerprint_restored(lambda: connect(target, statement_timeout_ms=0, autocommit=False))
        manifest = backup_manifest.read_manifest(details["manifest_path"])
        titles = [f["title"] for f in backup_compare.compare_with_manifest(manifest["content"], restored)]
    finally:
        with pg_cluster.connect() as conn:
            conn.execute('DROP DATABASE "%s" WITH (FORCE)' % scratch)
    assert sorted(titles) == [
        "materialized view public.lead_backlog: populated in the restored database, not populated (WITH NO DATA) in "
        "the backup",
        "schema: domain public.email differs from the backup (base type, NOT NULL, default or constraints)"], titles
