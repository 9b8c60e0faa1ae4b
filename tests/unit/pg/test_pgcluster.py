"""The throwaway cluster itself (upkeep.sandbox.pgcluster): lifecycle, reattach, privileges."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys

import psycopg
import pytest

from upkeep.sandbox.pgcluster import PgCluster

PASSWORD = "cluster-su-pw-51f0"


@pytest.fixture(scope="module")
def own_cluster(tmp_path_factory):
    """A cluster of this module's own, so stopping it leaves the session cluster alone."""
    cluster = PgCluster(tmp_path_factory.mktemp("own-pg") / "nested" / "dir")
    cluster.init(PASSWORD)
    cluster.start()
    yield cluster
    cluster.destroy()


def _postmaster_pid(cluster):
    return int((cluster.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])


def test_settings_the_later_issues_rely_on(own_cluster):
    with own_cluster.connect() as conn:
        settings = dict(conn.execute(
            "SELECT name, setting FROM pg_settings WHERE name IN "
            "('listen_addresses', 'shared_preload_libraries', 'password_encryption', 'unix_socket_directories')"
        ).fetchall())
    assert settings == {"listen_addresses": "127.0.0.1", "shared_preload_libraries": "pg_stat_statements",
                        "password_encryption": "scram-sha-256", "unix_socket_directories": str(own_cluster.socket_dir)}
    assert "database system is ready to accept connections" in own_cluster.log_file.read_text()


def test_tcp_needs_the_password_and_the_socket_is_private(own_cluster):
    with psycopg.connect(own_cluster.dsn(), connect_timeout=5) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == "postgres"
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(own_cluster.dsn(password="wrong"), connect_timeout=5)
    assert oct(own_cluster.socket_dir.stat().st_mode & 0o777) == "0o700"
    assert "password" not in json.loads((own_cluster.base_dir / "cluster.json").read_text())
    assert PASSWORD not in (own_cluster.base_dir / "cluster.json").read_text()


@pytest.mark.skipif(os.geteuid() != 0, reason="the privilege drop happens only when started as root")
def test_runs_as_the_postgres_user_when_root(own_cluster):
    with open("/proc/%d/status" % _postmaster_pid(own_cluster)) as status:
        uid = next(int(line.split()[1]) for line in status if line.startswith("Uid:"))
    assert uid == pwd.getpwnam("postgres").pw_uid


def test_create_role_and_db_is_idempotent(own_cluster):
    own_cluster.create_role_and_db("shop", "first-pw", "shopdb")
    own_cluster.create_role_and_db("shop", "second-pw", "shopdb")
    with psycopg.connect(own_cluster.dsn("shopdb", "shop", "second-pw"), connect_timeout=5) as conn:
        assert conn.execute("SELECT current_database()").fetchone()[0] == "shopdb"


def test_reattach_and_stop_from_another_process(tmp_path):
    cluster = PgCluster(tmp_path / "pg")
    cluster.init(PASSWORD)
    cluster.start()
    pid = _postmaster_pid(cluster)
    script = ("import pathlib, sys; from upkeep.sandbox.pgcluster import PgCluster; "
              "c = PgCluster(pathlib.Path(sys.argv[1])); print(c.running, c.port); "
              "conn = c.connect(); print(conn.execute('select 1').fetchone()[0]); conn.close(); c.stop(); c.stop(); "
              "print(c.running)")
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "pg")], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.split() == ["True", str(cluster.port), "1", "False"]
    assert not cluster.running
    assert not os.path.exists("/proc/%d" % pid) or "zombie" in open("/proc/%d/status" % pid).read()
    cluster.stop()  # a stopped cluster: nothing to do, no error
    cluster.start()  # and it comes back on the recorded port
    assert cluster.running
    cluster.destroy()
    assert not (tmp_path / "pg").exists()


def test_init_twice_is_refused(own_cluster):
    with pytest.raises(RuntimeError, match="already holds a cluster"):
        PgCluster(own_cluster.base_dir).init("x")
