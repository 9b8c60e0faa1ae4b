"""upkeep_pg_review and the upkeep_postgres_review role through real ansible-playbook runs
against a real PostgreSQL cluster on loopback."""

from __future__ import annotations

import json
import pathlib
import sys

import psycopg
import pytest
import yaml

from tests.support.fixtures_pg import APP_PASSWORD, APP_ROLE, app_dsn
from tests.support.fixtures_pg_review import pg_cluster  # noqa: F401 (cluster outside pytest's tmp dir)
from tests.support.playbook import run_tasks

pytestmark = pytest.mark.slow

REVIEW = "Review the database"
ROLE_REVIEW = "Review the indexes, sizes, bloat and slow queries of every database of the play"
ROLE_ACCESS = "Review the roles, grants, row-level security and definer objects of every database of the play"


def _everything_said(run):
    files = [path.read_text(errors="replace") for path in pathlib.Path(run.artifacts_dir).rglob("*") if path.is_file()]
    return "\n".join([run.stdout, json.dumps([item.res for item in run.results])] + files)


def _local(**host_vars):
    return dict({"ansible_connection": "local", "ansible_python_interpreter": sys.executable}, **host_vars)


@pytest.fixture
def reviewed_db(pg_cluster, pg_database):  # noqa: F811
    with psycopg.connect(app_dsn(pg_cluster, pg_database), autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, c text)")
        conn.execute("CREATE INDEX t_c1 ON t (c)")
        conn.execute("CREATE INDEX t_c2 ON t (c)")
    return {"host": pg_cluster.host, "port": pg_cluster.port, "user": APP_ROLE, "password": APP_PASSWORD,
            "database": pg_database}


def test_module_reviews_and_hides_the_password(reviewed_db, tmp_path):
    task = {"name": REVIEW, "upkeep_pg_review": {"databases": [dict(reviewed_db, name="app-db", inventory_host="db1")]}}
    run = run_tasks([task], tmp_path=tmp_path)
    result = run.one(REVIEW)
    assert not result.failed, run.stdout[-3000:]
    checks = {c["id"]: c for c in result.res["checks"]}
    assert set(checks) == {"pg.unused_indexes", "pg.duplicate_indexes", "pg.unindexed_fks", "pg.seq_scans",
                           "pg.sizes", "pg.bloat", "pg.slow_queries"}
    assert all(c["host"] == "db1" and c["target"] == "app-db" for c in checks.values())
    assert checks["pg.duplicate_indexes"]["status"] == "warning"
    assert checks["pg.slow_queries"]["status"] == "warning"  # no pg_stat_statements in this database: a finding
    assert all(len(f["fingerprint"]) == 16 for c in checks.values() for f in c["findings"])
    assert result.res["changed"] is False
    assert APP_PASSWORD not in _everything_said(run)


def test_check_mode_runs_the_review_and_changes_nothing(reviewed_db, tmp_path):
    task = {"name": REVIEW, "upkeep_pg_review": dict(reviewed_db, checks=["duplicate_indexes"])}
    result = run_tasks([task], check=True, tmp_path=tmp_path).one(REVIEW)
    assert not result.failed and result.res["changed"] is False
    assert result.res["checks"][0]["status"] == "warning"


def test_acknowledgement_from_the_task_silences_a_finding(reviewed_db, tmp_path):
    first = run_tasks([{"name": REVIEW, "upkeep_pg_review": dict(reviewed_db, checks=["duplicate_indexes"])}],
                      tmp_path=tmp_path / "a").one(REVIEW)
    mark = first.res["checks"][0]["findings"][0]["fingerprint"]
    ack = {"fingerprint": mark, "reason": "dropped next sprint", "expires": "2999-01-01", "by": "dba"}
    second = run_tasks([{"name": REVIEW, "upkeep_pg_review": dict(reviewed_db, checks=["duplicate_indexes"],
                                                                  acknowledgements=[ack])}],
                       tmp_path=tmp_path / "b").one(REVIEW)
    assert second.res["status"] == "ok"
    assert second.res["checks"][0]["findings"][0]["acknowledged"] == {"reason": "dropped next sprint",
                                                                      "expires": "2999-01-01", "by": "dba"}


@pytest.mark.parametrize("options, message", [
    ({"acknowledgements": [{"fingerprint": "0123456789abcdef", "reason": "r", "expires": "next year"}]},
     "acknowledgements[0].expires: must be a date YYYY-MM-DD, got 'next year'"),
    ({"checks": ["bogus"]}, "value of checks must be one or more of"),
    ({"databases": [{"port": 0}]}, "databases[0].port: must be a port number 1-65535, got 0"),
])
def test_bad_parameters_fail_clearly(reviewed_db, options, message, tmp_path):
    run = run_tasks([{"name": REVIEW, "upkeep_pg_review": dict(reviewed_db, **options)}], tmp_path=tmp_path)
    result = run.one(REVIEW)
    assert result.failed and message in result.res["msg"], result.res
    assert "Traceback (most recent call last)" not in run.stdout + json.dumps(result.res)
    assert APP_PASSWORD not in _everything_said(run)


def test_role_reviews_the_fleet_once_with_inventory_acknowledgements(reviewed_db, tmp_path):
    first = run_tasks([{"name": REVIEW, "upkeep_pg_review": dict(reviewed_db, name="db1-app", checks=["duplicate_indexes"])}],
                      tmp_path=tmp_path / "probe").one(REVIEW)
    mark = first.res["checks"][0]["findings"][0]["fingerprint"]
    inventory = {"all": {
        "vars": {"upkeep_postgres_review_checks": ["duplicate_indexes", "sizes"],
                 "upkeep_postgres_review_access_checks": ["rls"]},
        "hosts": {
            "db1": _local(upkeep_postgres_databases=[dict(reviewed_db, name="db1-app")],
                          upkeep_postgres_acknowledgements=[{"fingerprint": mark, "reason": "known",
                                                             "expires": "2999-01-01"}]),
            "db2": _local(upkeep_postgres_databases=[dict(reviewed_db, name="db2-app")]),
        }}}
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump([{"name": "Review", "hosts": "all", "gather_facts": False,
                                         "roles": ["upkeep_postgres_review"]}]))
    run = run_tasks(None, inventory=inventory, playbook=playbook, tmp_path=tmp_path / "run")
    assert run.rc == 0, run.stdout[-3000:]
    reviews = run.for_task(ROLE_REVIEW)
    assert len(reviews) == 1 and not reviews[0].failed, run.stdout[-3000:]
    checks = reviews[0].res["checks"]
    assert [(c["host"], c["id"], c["status"]) for c in checks] == [
        ("db1", "pg.duplicate_indexes", "ok"), ("db1", "pg.sizes", "ok"),
        ("db2", "pg.duplicate_indexes", "warning"), ("db2", "pg.sizes", "ok")]
    access = run.for_task(ROLE_ACCESS)
    assert len(access) == 1 and [c["id"] for c in access[0].res["checks"]] == ["pg.rls", "pg.rls"]
    assert APP_PASSWORD not in _everything_said(run)


def test_monthly_cadence_can_leave_the_access_review_out(reviewed_db, tmp_path):
    inventory = {"all": {"hosts": {"db1": _local(upkeep_postgres_databases=[reviewed_db])},
                         "vars": {"upkeep_postgres_review_checks": ["sizes"]}}}
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump([{"name": "Review", "hosts": "all", "gather_facts": False,
                                         "roles": ["upkeep_postgres_review"]}]))
    run = run_tasks(None, inventory=inventory, playbook=playbook, tmp_path=tmp_path / "run",
                    extra_vars={"upkeep_postgres_review_access": False})
    assert run.rc == 0 and len(run.for_task(ROLE_REVIEW)) == 1
    assert all(item.event == "runner_on_skipped" for item in run.for_task(ROLE_ACCESS))
