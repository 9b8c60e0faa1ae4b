"""pytest fixtures: a real PostgreSQL cluster on loopback (see upkeep.sandbox.pgcluster).

- ``pg_cluster``: one throwaway cluster for the whole session, with an application role and
  database (``APP_ROLE`` / ``APP_PASSWORD`` / ``APP_DB``); stopped and removed at the end.
- ``pg_app``: the application database's connection options as upkeep modules take them
  (host, port, user, password, database), plus ``dsn`` helpers below.
- ``pg_database``: a fresh database per test, owned by the application role, dropped afterwards.
"""

from __future__ import annotations

import itertools
import pathlib
import shutil
import tempfile

import pytest
from psycopg import sql

from upkeep.sandbox.pgcluster import PgCluster

SUPERUSER_PASSWORD = "su-pw-7c1d0e5b"
APP_ROLE = "upkeep_app"
# Distinctive so a no_log test can search every output for it.
APP_PASSWORD = "app-pw-4e8a9b2f61"
APP_DB = "upkeep_app"

_counter = itertools.count(1)


def app_options(cluster: PgCluster, **overrides) -> dict:
    """Connection options (upkeep_pg_ping's names) for the application role and database."""
    options = {"host": cluster.host, "port": cluster.port, "user": APP_ROLE, "password": APP_PASSWORD,
               "database": APP_DB}
    options.update(overrides)
    return options


def app_dsn(cluster: PgCluster, dbname: str = APP_DB) -> str:
    """A libpq connection string for the application role (holds the password)."""
    return cluster.dsn(dbname, APP_ROLE, APP_PASSWORD)


@pytest.fixture(scope="session")
def pg_cluster():
    # Not under pytest's basetemp: another pytest session on the machine resets
    # /tmp/pytest-of-<user> to 0700 and prunes old runs, which locks the postgres user (used
    # when we are root) out of a running cluster or deletes it.
    base = pathlib.Path(tempfile.mkdtemp(prefix="upkeep-test-pg-"))
    cluster = PgCluster(base / "cluster")
    cluster.init(SUPERUSER_PASSWORD)
    cluster.start()
    try:
        cluster.create_role_and_db(APP_ROLE, APP_PASSWORD, APP_DB)
        yield cluster
    finally:
        cluster.destroy()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg_app(pg_cluster) -> dict:
    return app_options(pg_cluster)


@pytest.fixture
def pg_database(pg_cluster):
    """Name of a new, empty database owned by APP_ROLE; dropped (connections and all) after the test."""
    name = "upkeep_t%d" % next(_counter)
    with pg_cluster.connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(APP_ROLE)))
    yield name
    with pg_cluster.connect() as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
