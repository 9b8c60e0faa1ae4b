"""The sandbox's planted PostgreSQL problems, found by the review and access-review modules:
a real ``manager.up`` under a temporary root, then the upkeep_postgres_review role through a real
ansible-playbook run over the sandbox's own inventory."""

from __future__ import annotations

import pathlib
import shutil
import tempfile

import psycopg
import pytest
import yaml

from tests.support.playbook import run_tasks
from upkeep.sandbox import manager
from upkeep.sandbox.extensions import postgres_problems as planted

pytestmark = pytest.mark.slow

ROLE_REVIEW = "Review the indexes, sizes, bloat and slow queries of every database of the play"
ROLE_ACCESS = "Review the roles, grants, row-level security and definer objects of every database of the play"


@pytest.fixture(scope="module")
def sandbox():
    # Not under pytest's tmp dir (see tests/e2e/test_sandbox.py): the postgres user must reach it.
    root = pathlib.Path(tempfile.mkdtemp(prefix="upkeep-review-sandbox-"))
    try:
        state = manager.up(root)
        yield root, state
    finally:
        manager.down(root, purge=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def reviewed(sandbox, tmp_path_factory):
    root, _ = sandbox
    inventory = yaml.safe_load(manager.Layout(root).inventory.read_text())
    tmp = tmp_path_factory.mktemp("planted-run")
    playbook = tmp / "play.yml"
    playbook.write_text(yaml.safe_dump([{"name": "Review", "hosts": "all", "gather_facts": False,
                                         "roles": ["upkeep_postgres_review"]}]))
    # A fresh sandbox has minutes of statistics: judge "unused" anyway, so it is a warning.
    run = run_tasks(None, inventory=inventory, playbook=playbook, tmp_path=tmp,
                    extra_vars={"upkeep_postgres_review_min_stats_age_days": 0})
    review, access = run.for_task(ROLE_REVIEW), run.for_task(ROLE_ACCESS)
    assert len(review) == 1 and len(access) == 1 and not review[0].failed and not access[0].failed, run.stdout[-3000:]
    checks = {c["id"]: c for c in review[0].res["checks"] + access[0].res["checks"]}
    return checks


def _resources(check, severities=("warning", "critical")):
    return [f["resource"] for f in check["findings"] if f["severity"] in severities]


def test_every_planted_problem_is_found(reviewed):
    assert "public.%s" % planted.UNUSED_INDEX in _resources(reviewed["pg.unused_indexes"])
    assert _resources(reviewed["pg.duplicate_indexes"]) == ["public.%s" % planted.DUPLICATE_INDEX]
    assert _resources(reviewed["pg.unindexed_fks"]) == ["public.product_views.product_views_product_id_fkey"]
    assert _resources(reviewed["pg.bloat"]) == ["public.%s" % planted.DEAD_TUPLES_TABLE]
    slow = reviewed["pg.slow_queries"]
    assert slow["status"] in ("warning", "critical") and "availability_updates" in slow["findings"][0]["detail"]
    # The plant's floor, not the machine's speed, makes it slow (it once ran under 100 ms on a fast machine).
    assert slow["metrics"]["slowest_mean_ms"] >= planted.SLOW_QUERY_FLOOR_S * 1000
    assert planted.SUPERUSER_ROLE in _resources(reviewed["pg.privileged_roles"], ("critical",))
    assert planted.SUPERUSER_ROLE in _resources(reviewed["pg.password_expiry"])
    assert "public.%s" % planted.NO_RLS_TABLE in _resources(reviewed["pg.rls"])
    assert "public.%s" % planted.NO_RLS_TABLE in _resources(reviewed["pg.public_grants"])


def test_dead_tuples_are_there_for_maintenance(sandbox):
    root, _ = sandbox
    dsn = (root / ".sandbox" / "secrets" / "db_dsn").read_text().strip()
    with psycopg.connect(dsn) as conn:
        dead = conn.execute("SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = %s",
                            (planted.DEAD_TUPLES_TABLE,)).fetchone()[0]
    assert dead >= planted.DEAD_TUPLES_ROWS
