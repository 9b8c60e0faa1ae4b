"""One inventory list, upkeep_postgres_databases, feeds every PostgreSQL role: an item may carry
the per-database options of ping, health, maintenance and review, and each role validates the
list and hands each module only the options it takes."""

from __future__ import annotations

import sys

import pytest
import yaml

from tests.support.fixtures_pg import APP_DB, APP_PASSWORD, APP_ROLE
from tests.support.playbook import run_tasks

pytestmark = pytest.mark.slow

PLAYBOOK = [{
    "name": "Every PostgreSQL role on one database list",
    "hosts": "all",
    "gather_facts": False,
    "roles": ["upkeep_postgres", "upkeep_postgres_maintenance", "upkeep_postgres_review"],
}]


def test_an_item_with_every_roles_options_passes_every_role(pg_cluster, tmp_path):
    database = {
        "name": "app-db", "host": pg_cluster.host, "port": pg_cluster.port, "user": APP_ROLE,
        "password": APP_PASSWORD, "database": APP_DB,
        "query_warning_ms": 200,             # ping
        "connections_warning_pct": 70,       # health
        "vacuum_dead_ratio_pct": 15,         # maintenance
        "bloat_warning_pct": 40,             # review
        "exposed_schemas": ["public"],       # access review
    }
    inventory = {"all": {"hosts": {"db1": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                                           "upkeep_postgres_databases": [database]}}}}
    playbook = tmp_path / "pg.yml"
    playbook.write_text(yaml.safe_dump(PLAYBOOK, sort_keys=False))
    run = run_tasks(None, inventory=inventory, check=True, tmp_path=tmp_path, playbook=playbook)
    failed = [(item.task, item.res.get("msg")) for item in run.results if item.failed]
    assert run.rc == 0 and not failed, (failed, run.stdout[-3000:])
    ids = {check["id"] for item in run.results for check in item.res.get("checks") or []}
    assert {"pg.ping", "pg.connections", "pg.maintenance", "pg.bloat", "pg.rls"} <= ids, ids
