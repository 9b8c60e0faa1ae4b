"""upkeep_backup_check's logic on real dump files (pg_dump against the session cluster) and a
local HTTPS server answering in the Supabase Management API's documented shape."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import time

import pytest

from ansible.module_utils.upkeep import backup, backup_check, backup_crypto
from ansible.module_utils.upkeep.result import ParameterError


def _checks(**source):
    return {c["id"]: c for c in backup_check.check_sources({"sources": [dict({"name": "bk"}, **source)]})}


def _pg_dump(source, path, fmt="c"):
    subprocess.run([backup.find_tool("pg_dump"), "-F", fmt, "-h", source["host"], "-p", str(source["port"]), "-U",
                    source["user"], "-f", str(path), source["database"]],
                   env=dict(os.environ, PGPASSWORD=source["password"]), check=True)


def _age(path, hours):
    stamp = time.time() - hours * 3600
    os.utime(path, (stamp, stamp))


def test_upkeep_backups_fresh_intact_and_size_compared(source_db, tmp_path):
    for _ in range(2):
        backup.make_backup(dict(source_db, directory=str(tmp_path), backup_name="app"))
        time.sleep(1.1)  # distinct file names (second resolution)
    checks = _checks(path=str(tmp_path))
    assert [checks[i]["status"] for i in ("backup.freshness", "backup.integrity", "backup.size", "backup.encryption")] \
        == ["ok", "ok", "ok", "ok"]
    assert "sha256 matches the manifest, archive reads" in checks["backup.integrity"]["summary"]
    assert checks["backup.size"]["metrics"]["previous_size_bytes"] > 0


def test_old_backup_breaks_the_rpo(source_db, tmp_path):
    _pg_dump(source_db, tmp_path / "nightly.dump")
    _age(tmp_path / "nightly.dump", 30)
    check = _checks(path=str(tmp_path), rpo_hours=24)["backup.freshness"]
    assert check["status"] == "critical"
    assert check["findings"][0]["title"].startswith("Newest backup is 30.0 h old; the RPO objective is 24 h")
    assert _checks(path=str(tmp_path), rpo_hours=48)["backup.freshness"]["status"] == "ok"
    assert _checks(path=str(tmp_path), rpo_hours=36, freshness_warning_hours=12)["backup.freshness"]["status"] == "warning"


def test_empty_directory_is_critical(tmp_path):
    assert _checks(path=str(tmp_path))["backup.freshness"]["status"] == "critical"


def test_foreign_dumps_damaged_in_each_format_are_caught(source_db, tmp_path):
    good, truncated = tmp_path / "a.dump", tmp_path / "b.dump"
    _pg_dump(source_db, good)
    data = good.read_bytes()
    truncated.write_bytes(data[: len(data) * 2 // 3])
    check = _checks(path=str(tmp_path), pattern="b.dump")["backup.integrity"]
    assert check["status"] == "critical" and "b.dump is damaged: reading its data fails" in check["summary"]
    assert _checks(path=str(tmp_path), pattern="a.dump")["backup.integrity"]["status"] == "ok"

    plain = tmp_path / "c.sql"
    _pg_dump(source_db, plain, fmt="p")
    text = plain.read_bytes()
    with gzip.open(tmp_path / "d.sql.gz", "wb") as handle:
        handle.write(text)
    assert _checks(path=str(tmp_path), pattern="d.sql.gz")["backup.integrity"]["status"] == "ok"
    (tmp_path / "e.sql").write_bytes(text[: len(text) // 2])
    check = _checks(path=str(tmp_path), pattern="e.sql")["backup.integrity"]
    assert check["status"] == "critical" and "no 'dump complete' trailer" in check["summary"]
    gz = (tmp_path / "d.sql.gz").read_bytes()
    (tmp_path / "f.sql.gz").write_bytes(gz[: len(gz) // 2])
    assert _checks(path=str(tmp_path), pattern="f.sql.gz")["backup.integrity"]["status"] == "critical"


def test_size_drop_beyond_threshold(source_db, tmp_path):
    big, small = tmp_path / "1.sql", tmp_path / "2.sql"
    _pg_dump(source_db, big, fmt="p")
    small.write_bytes(b"--\n-- PostgreSQL database dump\n--\n-- PostgreSQL database dump complete\n")
    _age(big, 2)
    check = _checks(path=str(tmp_path), pattern="*.sql")["backup.size"]
    assert check["status"] == "critical" and check["metrics"]["size_change_pct"] < -90
    assert "smaller than the previous one" in check["findings"][0]["title"]


def test_encryption_policy_and_key(source_db, tmp_path):
    keys = tmp_path / "keys"
    keys.mkdir()
    backup_crypto.generate_keypair(str(keys / "k.pem"), str(keys / "k.pub"))
    backup_crypto.generate_keypair(str(keys / "o.pem"), str(keys / "o.pub"))
    store = tmp_path / "store"
    store.mkdir()
    backup.make_backup(dict(source_db, directory=str(store), backup_name="app", encrypt_to=str(keys / "k.pub")))
    _pg_dump(source_db, store / "plain.dump")
    _age(store / "plain.dump", 5)
    checks = _checks(path=str(store), encryption_required=True, decrypt_key_file=str(keys / "k.pem"))
    assert checks["backup.encryption"]["status"] == "critical"
    assert [f["title"] for f in checks["backup.encryption"]["findings"]] == [
        "Unencrypted backup where policy requires encryption: plain.dump"]
    assert checks["backup.integrity"]["status"] == "ok"  # the newest (encrypted) decrypts in full
    wrong = _checks(path=str(store), decrypt_key_file=str(keys / "o.pem"))
    assert wrong["backup.encryption"]["status"] == "critical"
    assert "cannot be read with the configured key" in wrong["backup.encryption"]["findings"][0]["title"]
    assert wrong["backup.integrity"]["status"] == "critical"
    with pytest.raises(ParameterError, match=r"sources\[0\]\.decrypt_key_file"):
        _checks(path=str(store), decrypt_key_file=str(keys / "k.pub"))


def test_supabase_backup_list(supabase_api):
    source = dict(type="supabase", project_ref=supabase_api.project_ref, access_token=supabase_api.token,
                  api_url=supabase_api.url, ca_file=supabase_api.ca_file, rpo_hours=24)
    checks = _checks(**source)
    # The newest COMPLETED backup is 30 h old; the newest attempt (6 h ago) FAILED.
    assert checks["backup.freshness"]["status"] == "critical"
    assert 29.9 < checks["backup.freshness"]["metrics"]["newest_age_hours"] < 30.1
    assert checks["backup.integrity"]["status"] == "critical"
    assert "FAILED" in checks["backup.integrity"]["summary"]
    assert supabase_api.requests[-1]["authorization"] == "Bearer " + supabase_api.token
    assert supabase_api.token not in json.dumps(list(checks.values()))
    rejected = _checks(**dict(source, access_token="wrong"))
    assert rejected["backup.freshness"]["status"] == "unknown"
    assert "rejected the access token (HTTP 401)" in rejected["backup.freshness"]["summary"]
