"""A restore that fails is the verdict: critical, in pg_restore's (or psql's) own words, whether or
not a manifest or the source can say what is missing."""

from __future__ import annotations

import gzip
import os
import subprocess

from ansible.module_utils.upkeep import backup, restore
from tests.unit.backup.support import scratch_names


def _plain_dump(source, path):
    out = subprocess.run([backup.find_tool("pg_dump"), "-Fp", "-h", source["host"], "-p", str(source["port"]),
                          "-U", source["user"], source["database"]],
                         env=dict(os.environ, PGPASSWORD=source["password"]), check=True, capture_output=True).stdout
    with gzip.open(path, "wb") as handle:
        handle.write(out)


def test_truncated_gzipped_sql_dump_without_source_is_critical_not_a_traceback(source_db, restore_server, pg_cluster,
                                                                               tmp_path):
    full = tmp_path / "full.sql.gz"
    _plain_dump(source_db, full)
    cut = tmp_path / "nightly.sql.gz"
    with open(cut, "wb") as handle:
        subprocess.run(["head", "-c", str(full.stat().st_size * 2 // 3), str(full)], stdout=handle, check=True)
    outcome = restore.restore_and_verify(str(cut), restore_server)
    check = outcome["check"]
    assert check["status"] == "critical", check
    assert check["summary"].startswith("restore of nightly.sql.gz failed: psql failed (exit 1): nightly.sql.gz: error: "
                                       "the dump does not read to its end: Compressed file ended"), check
    # No manifest, no source: whatever came back empty is named, without claiming what it held.
    assert all(f["severity"] == "warning" for f in check["findings"] if f.get("kind") == "emptied")
    assert scratch_names(pg_cluster) == []


def test_sql_dump_without_its_trailer_is_critical(source_db, restore_server, tmp_path):
    full = tmp_path / "full.sql.gz"
    _plain_dump(source_db, full)
    text = gzip.decompress(full.read_bytes())
    cut = tmp_path / "nightly.sql"
    # Cut at a statement boundary: psql runs it all without an error, only the trailer tells.
    cut.write_bytes(text[: text.index(b"\n", len(text) * 9 // 10) + 1])
    check = restore.restore_and_verify(str(cut), restore_server)["check"]
    assert check["status"] == "critical" and "no 'dump complete' trailer" in check["summary"], check


def test_what_an_older_pg_dump_asks_of_every_database_is_not_a_failure(source_db, restore_server, tmp_path):
    full = tmp_path / "full.sql.gz"
    _plain_dump(source_db, full)
    text = gzip.decompress(full.read_bytes()).decode()
    # pg_dump before 11 wrote these into every plain dump; a non-superuser's scratch database
    # already has the schema and cannot comment on the bootstrap superuser's extension.
    old = text.replace("SET default_tablespace", "CREATE SCHEMA public;\nCOMMENT ON EXTENSION plpgsql IS "
                       "'PL/pgSQL procedural language';\nSET default_tablespace", 1)
    (tmp_path / "legacy.sql").write_text(old)
    check = restore.restore_and_verify(str(tmp_path / "legacy.sql"), restore_server)["check"]
    assert check["status"] == "ok", check
    assert any(f["title"].endswith(" owner, privilege or pre-existing-object statements not applied")
               for f in check["findings"])


def test_the_root_cause_is_the_first_error_that_is_not_a_consequence():
    # With parallel jobs pg_restore may print the worker's death before the reason a worker gave.
    assert backup.restore_error_cause([
        "pg_restore: error: a worker process died unexpectedly",
        "pg_restore: error: could not find block ID 3375 in archive -- possibly corrupt archive",
        "pg_restore: warning: errors ignored on restore: 1"]) == \
        "could not find block ID 3375 in archive -- possibly corrupt archive"
    assert backup.restore_error_cause(["psql:<stdin>:812: ERROR:  extension \"pgsodium\" is not available"]) == \
        'line 812: ERROR: extension "pgsodium" is not available'
    assert backup.restore_error_cause([]) == "no error message (exit status only)"
