"""The pg.* access-review checks against a real PostgreSQL cluster, from real roles, grants,
policies and functions. Roles are cluster-wide: each test drops the ones it made."""

from __future__ import annotations

import psycopg
import pytest

from ansible.module_utils.upkeep.pg_access import access_review_databases
from tests.support.fixtures_pg import app_dsn, app_options


def review(cluster, database, checks, **settings):
    params = dict(app_options(cluster, database=database), checks=checks, acknowledgements=[], **settings)
    return {c["id"]: c for c in access_review_databases(params)}


def run(cluster, database, *statements, admin=False):
    conn = cluster.connect(database) if admin else psycopg.connect(app_dsn(cluster, database), autocommit=True)
    with conn:
        for statement in statements:
            conn.execute(statement)


def titles(item):
    return sorted((f["severity"], f["title"]) for f in item["findings"])


@pytest.fixture
def roles(pg_cluster):
    made = []
    yield made
    with pg_cluster.connect() as conn:
        for name in made:
            conn.execute("DROP ROLE IF EXISTS %s" % name)


def test_privileged_roles(pg_cluster, pg_database, roles):
    baseline = review(pg_cluster, pg_database, ["privileged_roles"])["pg.privileged_roles"]
    assert baseline["status"] == "ok"  # only the bootstrap superuser, as info
    assert titles(baseline) == [("info", "Role postgres is the bootstrap superuser")]
    roles += ["rv_ops", "rv_root"]
    run(pg_cluster, "postgres", "CREATE ROLE rv_ops LOGIN CREATEROLE CREATEDB", "CREATE ROLE rv_root SUPERUSER", admin=True)
    judged = review(pg_cluster, pg_database, ["privileged_roles"])["pg.privileged_roles"]
    assert judged["status"] == "critical"
    assert ("warning", "Role rv_ops has CREATEROLE") in titles(judged)
    assert ("info", "Role rv_ops has CREATEDB") in titles(judged)
    root = [f for f in judged["findings"] if f["resource"] == "rv_root" and "SUPERUSER" in f["title"]][0]
    assert root["severity"] == "critical" and root["remediation"].startswith("ALTER ROLE rv_root NOSUPERUSER;")
    assert "cannot log in" in root["detail"]
    run(pg_cluster, "postgres", "DROP ROLE rv_root", admin=True)
    assert review(pg_cluster, pg_database, ["privileged_roles"])["pg.privileged_roles"]["status"] == "warning"


def test_password_expiry_and_activity_knowledge(pg_cluster, pg_database, roles):
    roles += ["rv_forever", "rv_rotated", "rv_gone"]
    run(pg_cluster, "postgres", "CREATE ROLE rv_forever LOGIN", "CREATE ROLE rv_rotated LOGIN VALID UNTIL '2999-01-01'",
        "CREATE ROLE rv_gone LOGIN VALID UNTIL '2001-01-01'", "CREATE ROLE rv_nologin_ignored NOLOGIN", admin=True)
    roles.append("rv_nologin_ignored")
    judged = review(pg_cluster, pg_database, ["password_expiry"])["pg.password_expiry"]
    by_role = {f["resource"]: f for f in judged["findings"]}
    assert by_role["rv_forever"]["severity"] == "warning" and "no password expiry" in by_role["rv_forever"]["title"]
    assert "does not record last logins" in by_role["rv_forever"]["detail"]
    assert by_role["rv_gone"]["severity"] == "info" and "expired" in by_role["rv_gone"]["title"]
    assert "rv_rotated" not in by_role and "rv_nologin_ignored" not in by_role
    assert by_role["postgres"]["severity"] == "info"  # the bootstrap role; connected now (the fixture's session)
    assert judged["status"] == "warning" and "current sessions only" in judged["activity_source"]
    run(pg_cluster, "postgres", "ALTER ROLE rv_forever VALID UNTIL '2999-01-01'",
        "ALTER ROLE %s VALID UNTIL '2999-01-01'" % app_options(pg_cluster)["user"], admin=True)
    try:
        calm = review(pg_cluster, pg_database, ["password_expiry"])["pg.password_expiry"]
        assert calm["status"] == "ok", titles(calm)
    finally:
        run(pg_cluster, "postgres", "ALTER ROLE %s VALID UNTIL 'infinity'" % app_options(pg_cluster)["user"], admin=True)


def test_public_grants_on_schemas_tables_and_default_privileges(pg_cluster, pg_database):
    run(pg_cluster, pg_database, "CREATE TABLE open_read (id int)", "CREATE TABLE open_write (id int)",
        "CREATE TABLE closed (id int)")
    assert review(pg_cluster, pg_database, ["public_grants"])["pg.public_grants"]["status"] == "ok"
    run(pg_cluster, pg_database, "GRANT SELECT ON open_read TO PUBLIC", "GRANT SELECT, INSERT ON open_write TO PUBLIC")
    judged = review(pg_cluster, pg_database, ["public_grants"])["pg.public_grants"]
    assert judged["status"] == "critical"
    assert titles(judged) == [("critical", "PUBLIC has INSERT, SELECT on public.open_write"),
                              ("warning", "PUBLIC has SELECT on public.open_read")]
    run(pg_cluster, pg_database, "GRANT CREATE ON SCHEMA public TO PUBLIC",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO PUBLIC", admin=True)
    more = review(pg_cluster, pg_database, ["public_grants"])["pg.public_grants"]
    assert ("warning", "PUBLIC may create objects in schema public") in titles(more)
    assert ("warning", "New tables get SELECT for PUBLIC") in titles(more)
    remedies = {f["remediation"] for f in more["findings"]}
    assert "REVOKE CREATE ON SCHEMA public FROM PUBLIC;" in remedies
    assert "ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public REVOKE SELECT ON TABLES FROM PUBLIC;" in remedies


def test_rls_in_exposed_schemas_only(pg_cluster, pg_database):
    run(pg_cluster, pg_database, "CREATE SCHEMA private", "CREATE TABLE private.hidden (id int)",
        "CREATE TABLE profiles (id int)", "CREATE TABLE secured (id int)", "ALTER TABLE secured ENABLE ROW LEVEL SECURITY",
        "CREATE POLICY own ON secured USING (true)")
    judged = review(pg_cluster, pg_database, ["rls"])["pg.rls"]
    assert judged["status"] == "warning"
    assert titles(judged) == [("warning", "Table public.profiles in an exposed schema has no row-level security")]
    exposed_too = review(pg_cluster, pg_database, ["rls"], exposed_schemas=["public", "private"])["pg.rls"]
    assert len(exposed_too["findings"]) == 2
    run(pg_cluster, pg_database, "ALTER TABLE profiles ENABLE ROW LEVEL SECURITY")
    no_policy = review(pg_cluster, pg_database, ["rls"])["pg.rls"]
    assert no_policy["status"] == "ok" and titles(no_policy) == [("info", "Table public.profiles has row-level security but no policy")]


def test_security_definer_functions_and_views(pg_cluster, pg_database):
    run(pg_cluster, pg_database, "CREATE TABLE t (id int)",
        "CREATE VIEW safe_view WITH (security_invoker = true) AS SELECT * FROM t",
        "CREATE FUNCTION plain() RETURNS int LANGUAGE sql AS 'SELECT 1'")
    assert review(pg_cluster, pg_database, ["security_definer"])["pg.security_definer"]["status"] == "ok"
    run(pg_cluster, pg_database, "CREATE VIEW owner_view AS SELECT * FROM t",
        "CREATE FUNCTION pinned() RETURNS int LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS 'SELECT 1'")
    warned = review(pg_cluster, pg_database, ["security_definer"])["pg.security_definer"]
    assert warned["status"] == "warning"
    assert titles(warned) == [("warning", "SECURITY DEFINER function public.pinned()"),
                              ("warning", "View public.owner_view runs with its owner's privileges")]
    run(pg_cluster, pg_database, "CREATE FUNCTION hijackable(a int) RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT a'")
    judged = review(pg_cluster, pg_database, ["security_definer"])["pg.security_definer"]
    worst = [f for f in judged["findings"] if "hijackable" in f["title"]][0]
    assert judged["status"] == "critical" and worst["severity"] == "critical"
    assert worst["remediation"].startswith("ALTER FUNCTION public.hijackable(a integer) SET search_path")


def test_extension_objects_are_left_out(pg_cluster, pg_database):
    run(pg_cluster, pg_database, "CREATE EXTENSION pg_stat_statements", admin=True)  # a public view with PUBLIC SELECT
    judged = review(pg_cluster, pg_database, ["public_grants", "security_definer", "rls"])
    assert all(item["status"] == "ok" for item in judged.values()), judged


def test_acknowledging_a_superuser_silences_it_until_expiry(pg_cluster, pg_database, roles):
    roles.append("rv_ack_root")
    run(pg_cluster, "postgres", "CREATE ROLE rv_ack_root SUPERUSER", admin=True)
    first = review(pg_cluster, pg_database, ["privileged_roles"])["pg.privileged_roles"]
    mark = [f for f in first["findings"] if f["resource"] == "rv_ack_root"][0]["fingerprint"]
    params = dict(app_options(pg_cluster, database=pg_database), checks=["privileged_roles"],
                  acknowledgements=[{"fingerprint": mark, "reason": "break-glass role", "expires": "2999-12-31", "by": "dba"}])
    assert access_review_databases(params)[0]["status"] == "ok"
    params["acknowledgements"][0]["expires"] = "2020-01-01"
    assert access_review_databases(params)[0]["status"] == "critical"
