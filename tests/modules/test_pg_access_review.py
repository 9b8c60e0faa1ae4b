"""upkeep_pg_access_review through real ansible-playbook runs against a real PostgreSQL cluster."""

from __future__ import annotations

import json
import pathlib

import psycopg
import pytest

from tests.support.fixtures_pg import APP_PASSWORD, APP_ROLE, app_dsn
from tests.support.fixtures_pg_review import pg_cluster  # noqa: F401 (cluster outside pytest's tmp dir)
from tests.support.playbook import run_tasks

pytestmark = pytest.mark.slow

ACCESS = "Review access to the database"


def _everything_said(run):
    files = [path.read_text(errors="replace") for path in pathlib.Path(run.artifacts_dir).rglob("*") if path.is_file()]
    return "\n".join([run.stdout, json.dumps([item.res for item in run.results])] + files)


@pytest.fixture
def exposed_db(pg_cluster, pg_database):  # noqa: F811
    with psycopg.connect(app_dsn(pg_cluster, pg_database), autocommit=True) as conn:
        conn.execute("CREATE SCHEMA api")
        conn.execute("CREATE TABLE api.profiles (id int)")
        conn.execute("CREATE TABLE public.notes (id int)")
        conn.execute("GRANT SELECT ON public.notes TO PUBLIC")
    return {"host": pg_cluster.host, "port": pg_cluster.port, "user": APP_ROLE, "password": APP_PASSWORD,
            "database": pg_database}


def test_module_reviews_access_in_the_exposed_schemas(exposed_db, tmp_path):
    task = {"name": ACCESS, "upkeep_pg_access_review": dict(exposed_db, exposed_schemas=["api"])}
    run = run_tasks([task], tmp_path=tmp_path)
    result = run.one(ACCESS)
    assert not result.failed, run.stdout[-3000:]
    checks = {c["id"]: c for c in result.res["checks"]}
    assert list(checks) == ["pg.privileged_roles", "pg.password_expiry", "pg.public_grants", "pg.rls",
                            "pg.security_definer"]
    assert [f["resource"] for f in checks["pg.rls"]["findings"]] == ["api.profiles"]  # public is not exposed here
    assert checks["pg.public_grants"]["findings"][0]["resource"] == "public.notes"
    assert result.res["changed"] is False
    assert APP_PASSWORD not in _everything_said(run)


def test_check_mode_and_unreachable_database(exposed_db, tmp_path):
    task = {"name": ACCESS, "upkeep_pg_access_review": dict(
        exposed_db, checks=["rls"], databases=[{"name": "ok-db"}, {"name": "wrong-pw", "password": "nope-7f3a"}])}
    run = run_tasks([task], check=True, tmp_path=tmp_path)
    result = run.one(ACCESS)
    assert not result.failed and result.res["changed"] is False
    assert [(c["id"], c["target"], c["status"]) for c in result.res["checks"]] == [
        ("pg.rls", "ok-db", "warning"), ("pg.access_review", "wrong-pw", "critical")]
    assert result.res["checks"][1]["connect_error"] == "auth_failed"
    said = _everything_said(run)
    assert APP_PASSWORD not in said and "nope-7f3a" not in said


def test_bad_acknowledgement_fails_clearly(exposed_db, tmp_path):
    task = {"name": ACCESS, "upkeep_pg_access_review": dict(exposed_db, acknowledgements=[
        {"fingerprint": "not-hex", "reason": "r", "expires": "2999-01-01"}])}
    run = run_tasks([task], tmp_path=tmp_path)
    result = run.one(ACCESS)
    assert result.failed and "acknowledgements[0].fingerprint: must be the 16 hex digits" in result.res["msg"]
    assert "Traceback (most recent call last)" not in run.stdout + json.dumps(result.res)
