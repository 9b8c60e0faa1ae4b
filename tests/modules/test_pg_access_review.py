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


@pytest.fixture
def partitioned_leads(pg_cluster, pg_database):  # noqa: F811
    """Leads partitioned by region behind a row-level security policy, the way a Supabase project
    grants its API role every table of the schema: the grant reaches the partitions too."""
    with pg_cluster.connect() as conn:
        conn.execute("CREATE ROLE rv_authenticated NOLOGIN")
    try:
        with psycopg.connect(app_dsn(pg_cluster, pg_database), autocommit=True) as conn:
            conn.execute("CREATE TABLE leads (id int, region text NOT NULL, agent text NOT NULL, note text) "
                         "PARTITION BY LIST (region)")
            conn.execute("CREATE TABLE leads_eu PARTITION OF leads FOR VALUES IN ('eu')")
            conn.execute("CREATE TABLE leads_us PARTITION OF leads FOR VALUES IN ('us')")
            conn.execute("CREATE TABLE leads_apac PARTITION OF leads FOR VALUES IN ('apac')")
            conn.execute("ALTER TABLE leads_apac ENABLE ROW LEVEL SECURITY")  # this one is closed to direct reads
            conn.execute("INSERT INTO leads SELECT g, (ARRAY['eu', 'us', 'apac'])[1 + g % 3], "
                         "CASE WHEN g % 10 = 0 THEN 'rv_authenticated' ELSE 'someone else' END, 'lead ' || g "
                         "FROM generate_series(1, 300) g")
            conn.execute("ALTER TABLE leads ENABLE ROW LEVEL SECURITY")
            conn.execute("CREATE POLICY own_leads ON leads FOR SELECT TO rv_authenticated USING (agent = current_user)")
            conn.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO rv_authenticated")
        yield pg_database
    finally:
        with pg_cluster.connect(pg_database) as conn:
            conn.execute("DROP OWNED BY rv_authenticated")  # its grants and the policy naming it
        with pg_cluster.connect() as conn:
            conn.execute("DROP ROLE rv_authenticated")


def test_partitions_readable_around_the_parents_policies_are_flagged(pg_cluster, partitioned_leads, tmp_path):  # noqa: F811
    # The leak is real: through the parent the role sees its 30 leads, directly it reads all of leads_eu.
    with pg_cluster.connect(partitioned_leads) as conn:
        conn.execute("SET ROLE rv_authenticated")
        assert conn.execute("SELECT count(*) FROM leads").fetchone()[0] == 30
        assert conn.execute("SELECT count(*) FROM leads_eu").fetchone()[0] == 100
        assert conn.execute("SELECT count(*) FROM leads_apac").fetchone()[0] == 0
    database = {"host": pg_cluster.host, "port": pg_cluster.port, "user": APP_ROLE, "password": APP_PASSWORD,
                "database": partitioned_leads}
    task = {"name": ACCESS, "upkeep_pg_access_review": dict(database, checks=["rls"])}
    rls = run_tasks([task], tmp_path=tmp_path).one(ACCESS).res["checks"][0]
    assert rls["status"] == "critical", rls
    flagged = {f["resource"]: f for f in rls["findings"] if f["title"].startswith("Partition ")}
    assert sorted(flagged) == ["public.leads_eu", "public.leads_us"], rls["findings"]
    eu = flagged["public.leads_eu"]
    assert eu["severity"] == "critical" and eu["title"] == (
        "Partition public.leads_eu is readable directly by rv_authenticated, bypassing the row-level security of "
        "public.leads")
    assert eu["remediation"].startswith("ALTER TABLE public.leads_eu ENABLE ROW LEVEL SECURITY;")
    assert rls["metrics"]["partitions_bypassing_rls"] == 2
