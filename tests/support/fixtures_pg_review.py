"""A session PostgreSQL cluster for the review tests, rooted under tempfile.mkdtemp().

Same cluster as fixtures_pg's ``pg_cluster`` (same roles, password, database), but not under
pytest's tmp dir: a concurrent pytest session resets /tmp/pytest-of-<user> to 0700, which locks
the postgres user (used when we are root) out of the cluster. The review test directories'
conftest.py files import it as ``pg_cluster``, shadowing the shared one there only.
"""

from __future__ import annotations

import pathlib
import shutil
import tempfile

import pytest

from tests.support.fixtures_pg import APP_DB, APP_PASSWORD, APP_ROLE, SUPERUSER_PASSWORD
from upkeep.sandbox.pgcluster import PgCluster


@pytest.fixture(scope="session")
def pg_cluster():
    root = pathlib.Path(tempfile.mkdtemp(prefix="upkeep-pg-review-"))
    cluster = PgCluster(root / "cluster")
    try:
        cluster.init(SUPERUSER_PASSWORD)
        cluster.start()
        cluster.create_role_and_db(APP_ROLE, APP_PASSWORD, APP_DB)
        yield cluster
    finally:
        cluster.destroy()
        shutil.rmtree(root, ignore_errors=True)
