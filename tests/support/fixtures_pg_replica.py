"""pytest fixture ``pg_replica``: a streaming standby of the session's ``pg_cluster``, made with
pg_basebackup -R, for checks that behave differently on a replica (replication lag, refusing
maintenance). Session-scoped; stopped and removed at the end.

Built on PgCluster's own helpers (running binaries as the ``postgres`` user, writing settings), so
it stays a test fixture rather than a sandbox feature.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time

import pytest

from upkeep.sandbox.pgcluster import PgCluster, free_port


def wait_for_replay(primary: PgCluster, replica: PgCluster, timeout_s: float = 20) -> None:
    """Until the replica has replayed everything the primary has written so far."""
    # The cluster runs with synchronous_commit off, so the last commits may still sit in WAL
    # buffers: one synchronous commit flushes everything before it.
    with primary.connect() as conn:
        conn.execute("SET synchronous_commit = on")
        conn.execute("SELECT txid_current()")
        target = conn.execute("SELECT pg_current_wal_flush_lsn()").fetchone()[0]
    deadline = time.monotonic() + timeout_s
    with replica.connect() as conn:
        while time.monotonic() < deadline:
            if conn.execute("SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), %s) >= 0", [target]).fetchone()[0]:
                return
            time.sleep(0.05)
    raise AssertionError("replica did not replay up to %s within %ss" % (target, timeout_s))


@pytest.fixture(scope="session")
def pg_replica(pg_cluster):
    # Outside pytest's tmp dirs: a concurrent pytest run prunes old ones, servers and all.
    # "-c fast": an immediate checkpoint instead of waiting for a spread one (minutes).
    base = tempfile.mkdtemp(prefix="upkeep-replica-")
    replica = PgCluster(base, port=free_port(), bindir=pg_cluster.bindir)
    replica._give_to_cluster_user(replica.base_dir, 0o755)
    replica._make_ancestors_traversable(replica.base_dir)
    replica._give_to_cluster_user(replica.socket_dir, 0o700)
    replica._pg(["pg_basebackup", "-h", pg_cluster.socket_dir, "-p", pg_cluster.port, "-U", pg_cluster.superuser,
                 "-D", replica.data_dir, "-R", "-X", "stream", "-c", "fast", "--no-sync"])
    replica.log_file.touch()
    if replica._os_user is not None:
        os.chown(replica.log_file, replica._os_user.pw_uid, replica._os_user.pw_gid)
    replica._write_conf({"hot_standby": True})  # later lines win: its own port and socket dir
    replica._write_state()
    replica.start()
    try:
        wait_for_replay(pg_cluster, replica)
        yield replica
    finally:
        replica.destroy()
        shutil.rmtree(base, ignore_errors=True)
