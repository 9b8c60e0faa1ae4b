"""Scratch databases: an interrupted restore leaves nothing behind on the next run, and only
databases upkeep marked as scratch are ever dropped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from ansible.module_utils.upkeep import backup, restore
from ansible.module_utils.upkeep.pg import connect
from tests.unit.backup.support import scratch_names

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
# Runs restore_and_verify in its own process so the test can kill it mid-restore (SIGKILL: no
# finally block runs, exactly like an OOM kill or a power cut of the controller).
RUNNER = r"""
import json, sys
import ansible.module_utils
ansible.module_utils.__path__.append(sys.argv[1])
from ansible.module_utils.upkeep import restore
restore.restore_and_verify(sys.argv[2], json.loads(sys.argv[3]))
"""


def _slow_pg_restore(tmp_path):
    """A pg_restore that waits before doing the real thing, so the kill lands mid-restore."""
    fake = tmp_path / "bin"
    fake.mkdir()
    real = backup.find_tool("pg_restore")
    script = fake / "pg_restore"
    script.write_text("#!/bin/sh\nsleep 30\nexec %s \"$@\"\n" % real)
    script.chmod(0o755)
    return str(fake)


def test_interrupted_restore_leaves_no_scratch_database_behind(source_db, restore_server, pg_cluster, tmp_path):
    check, details = backup.make_backup(dict(source_db, directory=str(tmp_path), backup_name="app"))
    env = dict(os.environ, PATH=_slow_pg_restore(tmp_path) + os.pathsep + os.environ["PATH"])
    proc = subprocess.Popen([sys.executable, "-c", RUNNER, os.path.join(REPO, "module_utils"), details["manifest_path"],
                             json.dumps(restore_server)], env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not scratch_names(pg_cluster) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = scratch_names(pg_cluster)
        assert len(left) == 1, "the restore never created its scratch database"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert scratch_names(pg_cluster) == left  # the killed run could not clean up

    outcome = restore.restore_and_verify(details["manifest_path"], restore_server)
    assert outcome["cleaned"] == left
    assert outcome["check"]["status"] == "ok"
    assert scratch_names(pg_cluster) == []


def test_cleanup_drops_only_marked_scratch_databases(restore_server, pg_cluster):
    with pg_cluster.connect() as conn:
        conn.execute("CREATE DATABASE upkeep_scratch_someone_elses OWNER upkeep_restore")
        conn.execute("CREATE DATABASE upkeep_scratch_old_ours OWNER upkeep_restore")
        conn.execute("""COMMENT ON DATABASE upkeep_scratch_old_ours IS 'upkeep-scratch {"host": "elsewhere", """
                     """"pid": 1, "created_at": "2020-01-01T00:00:00Z", "backup": "x"}'""")
    try:
        with connect(dict(restore_server, database="postgres")) as admin:
            assert restore.cleanup_scratch(admin, dry_run=True) == ["upkeep_scratch_old_ours"]
            assert "upkeep_scratch_old_ours" in scratch_names(pg_cluster)
            assert restore.cleanup_scratch(admin) == ["upkeep_scratch_old_ours"]
        assert scratch_names(pg_cluster) == ["upkeep_scratch_someone_elses"]
    finally:
        with pg_cluster.connect() as conn:
            conn.execute("DROP DATABASE IF EXISTS upkeep_scratch_someone_elses")
            conn.execute("DROP DATABASE IF EXISTS upkeep_scratch_old_ours")


def test_plain_and_gzip_dumps_restore_and_a_create_dump_is_never_run(source_db, restore_server, pg_cluster, tmp_path):
    import gzip

    plain = tmp_path / "nightly.sql"
    env = dict(os.environ, PGPASSWORD=source_db["password"])
    base = [backup.find_tool("pg_dump"), "-Fp", "-h", source_db["host"], "-p", str(source_db["port"]), "-U",
            source_db["user"]]
    subprocess.run(base + ["-f", str(plain), source_db["database"]], env=env, check=True)
    with gzip.open(tmp_path / "nightly.sql.gz", "wb") as handle:
        handle.write(plain.read_bytes())
    for name in ("nightly.sql", "nightly.sql.gz"):
        check = restore.restore_and_verify(str(tmp_path / name), restore_server, source=source_db)["check"]
        assert check["status"] == "ok", check
        assert check["metrics"]["rows"] == 2305 and check["backup_kind"] == "foreign"
    created = tmp_path / "created.sql"
    subprocess.run(base + ["--create", "-f", str(created), source_db["database"]], env=env, check=True)
    before = sorted(scratch_names(pg_cluster))
    check = restore.restore_and_verify(str(created), restore_server)["check"]
    assert check["status"] == "unknown" and "the dump leaves its database" in check["summary"]
    assert sorted(scratch_names(pg_cluster)) == before


def test_a_role_without_createdb_is_a_critical_result_not_a_traceback(source_db, tmp_path):
    check, details = backup.make_backup(dict(source_db, directory=str(tmp_path), backup_name="app"))
    server = {key: source_db[key] for key in ("host", "port", "user", "password")}  # the app role: no CREATEDB
    outcome = restore.restore_and_verify(details["manifest_path"], server)
    assert outcome["check"]["status"] == "critical"
    assert "permission denied to create database" in outcome["check"]["summary"]
    assert source_db["password"] not in json.dumps(outcome)
