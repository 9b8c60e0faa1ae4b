"""The sandbox's seeded data: generated deterministically, internally consistent, and loaded
into a real PostgreSQL cluster with the schema's constraints checking every row."""

from __future__ import annotations

import collections
import datetime
import pathlib
import shutil
import tempfile

import psycopg
import pytest

from upkeep.sandbox import seed
from upkeep.sandbox.pgcluster import PgCluster

ANCHOR = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.timezone.utc)
SMALL = seed.Volume(products=120, availability_updates=1500, leads=300, testimonials=20, users=12)


@pytest.fixture(scope="module")
def full():
    return seed.generate(anchor=ANCHOR)


def _rows(data, table):
    columns = seed.COLUMNS[table]
    return [dict(zip(columns, row)) for row in data[table]]


def test_default_volume_is_realistic(full):
    counts = {table: len(rows) for table, rows in full.items()}
    assert counts == {"categories": 12, "users": 50, "products": 2000, "availability_updates": 50000,
                      "leads": 5000, "testimonials": 200}


def test_generation_is_deterministic_and_seed_dependent():
    assert seed.generate(SMALL, seed=7, anchor=ANCHOR) == seed.generate(SMALL, seed=7, anchor=ANCHOR)
    assert seed.generate(SMALL, seed=7, anchor=ANCHOR)["leads"] != seed.generate(SMALL, seed=8, anchor=ANCHOR)["leads"]


def test_rows_match_their_columns(full):
    for table, rows in full.items():
        assert {len(row) for row in rows} == {len(seed.COLUMNS[table])}, table


def test_availability_updates_chain_per_product_and_end_in_the_product_state(full):
    updates = _rows(full, "availability_updates")
    products = {p["id"]: p for p in _rows(full, "products")}
    start = ANCHOR - datetime.timedelta(days=90)
    assert all(start <= u["created_at"] <= ANCHOR for u in updates)
    assert [u["created_at"] for u in updates] == sorted(u["created_at"] for u in updates)
    last = {}
    for update in updates:
        previous = last.get(update["product_id"])
        if previous is not None:
            assert update["previous_stock"] == previous["new_stock"]
            assert update["previous_status"] == previous["new_status"]
        last[update["product_id"]] = update
    for product_id, update in last.items():
        assert products[product_id]["stock_quantity"] == update["new_stock"]
        assert products[product_id]["availability"] == update["new_status"]
    # Popular products move often, most rarely: the busiest product has far more than the median.
    per_product = sorted(collections.Counter(u["product_id"] for u in updates).values())
    assert per_product[-1] > 10 * per_product[len(per_product) // 2]


def test_leads_users_and_testimonials_look_like_the_platform(full):
    leads = _rows(full, "leads")
    assert all(lead["phone"] or lead["email"] for lead in leads)
    sources = collections.Counter(lead["source"] for lead in leads)
    assert sources.most_common(1)[0][0] == "whatsapp"
    assert {lead["status"] for lead in leads} == {"new", "contacted", "qualified", "converted", "closed", "spam"}
    users = _rows(full, "users")
    assert collections.Counter(u["role"] for u in users) == {"admin": 3, "editor": 12, "viewer": 35}
    assert len({u["email"].lower() for u in users}) == len(users)
    assert all(u["password_hash"].startswith("$2b$12$") and len(u["password_hash"]) == 60 for u in users)
    assert any(u["last_login_at"] is None for u in users)
    ratings = [t["rating"] for t in _rows(full, "testimonials")]
    assert set(ratings) <= {1, 2, 3, 4, 5} and sum(ratings) / len(ratings) > 3.5


@pytest.fixture(scope="module")
def cluster():
    # Not under pytest's tmp dir: a concurrent pytest session resets /tmp/pytest-of-<user> to 0700,
    # which locks the postgres user (used when we are root) out of its own data directory.
    base = pathlib.Path(tempfile.mkdtemp(prefix="upkeep-seedpg-"))
    pg = PgCluster(base / "pg")
    try:
        pg.init("superuser-secret")
        pg.start()
        pg.create_role_and_db(seed.APP_ROLE, "app-secret", seed.APP_DATABASE)
        yield pg
    finally:
        pg.destroy()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def app_conn(cluster):
    with psycopg.connect(cluster.dsn(seed.APP_DATABASE, seed.APP_ROLE, "app-secret"), autocommit=True) as conn:
        yield conn


def test_seed_database_loads_counts_and_is_idempotent(app_conn):
    loaded = seed.seed_database(app_conn, SMALL, anchor=ANCHOR)
    assert loaded == {"categories": 12, "users": 12, "products": 120, "availability_updates": 1500,
                      "leads": 300, "testimonials": 20}
    assert seed.table_counts(app_conn) == loaded
    # A second run over a seeded database changes nothing.
    assert seed.seed_database(app_conn, SMALL, seed=99, anchor=ANCHOR) == loaded
    assert seed.table_counts(app_conn) == loaded


def test_seeded_schema_is_owned_by_the_app_role_and_accepts_new_rows(app_conn):
    seed.seed_database(app_conn, SMALL, anchor=ANCHOR)
    owners = app_conn.execute(
        "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'").fetchall()
    assert owners == [(seed.APP_ROLE,)]
    # Identities were moved past the explicitly loaded ids: the app's next insert does not collide.
    new_id = app_conn.execute(
        "INSERT INTO leads (name, phone, message, source) VALUES ('Test', '+971 50 000 0000', 'hi', 'whatsapp') "
        "RETURNING id").fetchone()[0]
    assert new_id == SMALL.leads + 1
    app_conn.execute("DELETE FROM leads WHERE id = %s", [new_id])


def test_constraints_reject_what_the_forms_never_send(app_conn):
    seed.seed_database(app_conn, SMALL, anchor=ANCHOR)
    with pytest.raises(psycopg.errors.CheckViolation):
        app_conn.execute("INSERT INTO leads (name, message, source) VALUES ('No contact', 'hi', 'contact_form')")
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        app_conn.execute("INSERT INTO availability_updates (product_id, new_status, new_stock) "
                         "VALUES (999999, 'in_stock', 1)")
    with pytest.raises(psycopg.errors.UniqueViolation):
        email = app_conn.execute("SELECT email FROM users LIMIT 1").fetchone()[0]
        app_conn.execute("INSERT INTO users (email, full_name, role, password_hash) VALUES (%s, 'x', 'viewer', 'x')",
                         [email.upper()])


def test_planted_problems_run_by_name_and_reject_unknown_names(cluster, app_conn, monkeypatch):
    """The registry is exercised with a throwaway problem (the real ones come with later issues)."""
    monkeypatch.setattr(seed, "PLANTED_PROBLEMS", {})

    @seed.planted("test_table_without_pk")
    def _plant(admin_conn, app):
        app.execute("CREATE TABLE IF NOT EXISTS planted_no_pk (x int)")

    with cluster.connect(seed.APP_DATABASE) as admin_conn:
        assert seed.plant_problems(admin_conn, app_conn) == ["test_table_without_pk"]
        with pytest.raises(KeyError, match="no_such_problem"):
            seed.plant_problems(admin_conn, app_conn, ["no_such_problem"])
    assert app_conn.execute("SELECT to_regclass('planted_no_pk') IS NOT NULL").fetchone()[0]
