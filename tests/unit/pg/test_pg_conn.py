"""The shared PostgreSQL connection layer (module_utils/upkeep/pg.py) against a real cluster."""

from __future__ import annotations

import subprocess

import psycopg
import pytest

from ansible.module_utils.upkeep import pg
from ansible.module_utils.upkeep.result import ParameterError
from tests.support.fixtures_pg import APP_DB, APP_PASSWORD, APP_ROLE


def test_connect_sets_statement_timeout_read_only_and_application_name(pg_app):
    with pg.connect(dict(pg_app, application_name="upkeep-test"), statement_timeout_ms=1234, read_only=True) as conn:
        assert conn.execute("SHOW statement_timeout").fetchone()[0] == "1234ms"
        assert conn.execute("SHOW default_transaction_read_only").fetchone()[0] == "on"
        assert conn.execute("SHOW application_name").fetchone()[0] == "upkeep-test"
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("CREATE TABLE must_not_exist (id int)")


def test_default_application_name_is_upkeep(pg_app):
    with pg.connect(pg_app) as conn:
        assert conn.execute("SELECT current_setting('application_name'), current_user").fetchone() == ("upkeep", APP_ROLE)


def test_statement_timeout_cuts_a_long_query(pg_app):
    with pg.connect(pg_app, statement_timeout_ms=100) as conn:
        with pytest.raises(psycopg.errors.QueryCanceled):
            conn.execute("SELECT pg_sleep(2)")


def test_connect_failure_is_classified(pg_app):
    with pytest.raises(pg.PgConnectError) as raised:
        pg.connect(dict(pg_app, password="wrong-one"))
    assert raised.value.kind == "auth_failed"
    assert "wrong-one" not in raised.value.detail


def test_libpq_env_lets_psql_in_without_a_password_on_argv(pg_app, pg_cluster):
    env = pg.libpq_env(pg_app)
    assert env["PGPASSWORD"] == APP_PASSWORD and env["PGDATABASE"] == APP_DB and env["PGAPPNAME"] == "upkeep"
    argv = [str(pg_cluster.bindir / "psql"), "-XAtc", "SELECT current_user"]
    out = subprocess.run(argv, env=dict(env, PATH="/usr/bin:/bin"), capture_output=True, text=True, timeout=30, check=True)
    assert out.stdout.strip() == APP_ROLE
    assert APP_PASSWORD not in " ".join(argv)


def test_target_label_never_shows_a_password():
    label = pg.target_label({"dsn": "postgresql://bob:hunter2@db.example.com:6432/shop"})
    assert label == "bob@db.example.com:6432/shop"
    assert pg.target_label({"dsn": "postgresql://bob:hunter2@db/shop", "name": "shop-db"}) == "shop-db"


def test_dsn_parts_are_validated_too():
    with pytest.raises(ParameterError, match=r"^port: must be a port number 1-65535, got 99999$"):
        pg.connection_kwargs({"dsn": "host=db port=99999"})
    with pytest.raises(ParameterError, match=r"^sslmode: must be one of"):
        pg.connection_kwargs({"dsn": "postgresql://db/app?sslmode=sometimes"})


@pytest.mark.parametrize("message, kind", [
    ('connection failed: connection to server at "10.0.0.1", port 5432 failed: FATAL:  sorry, too many clients already',
     "too_many_connections"),
    ('connection failed: FATAL:  the database system is starting up', "unavailable"),
    ('connection failed: FATAL:  no pg_hba.conf entry for host "10.0.0.9", user "app", database "app", no encryption',
     "ssl_required"),
    ('connection failed: FATAL:  no pg_hba.conf entry for host "10.0.0.9", user "app", database "app", SSL encryption',
     "rejected"),
    ('connection failed: could not translate host name "db.invalid" to address', "dns"),
    ('something nobody has seen', "other"),
])
def test_messages_that_cannot_be_produced_here_are_classified(message, kind):
    """Classification of libpq messages for faults this single local cluster cannot produce
    (exhausted slots, a starting server, pg_hba rejections, DNS): the text is libpq's own."""
    assert pg.classify_connect_error(Exception(message)).kind == kind
