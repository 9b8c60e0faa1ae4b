"""Fixtures and helpers shared by the backup, restore and module tests (import them by name).

- ``restore_server``: connection options of a role with CREATEDB (not superuser) on the session
  cluster, where scratch databases go;
- ``source_db``: a fresh database with the platform's kinds of data (numeric, arrays, timestamps,
  bytea, json, an enum, sequences, a view, a foreign key), as connection options of the app role;
- ``supabase_api``: a local HTTPS server answering the Management API's backup list in its
  documented shape (the real API cannot be reached from here), checking the bearer token.
"""

from __future__ import annotations

import dataclasses
import datetime
import http.server
import json
import ssl
import threading

import pytest

from tests.support.fixtures_pg import APP_PASSWORD, APP_ROLE

RESTORE_ROLE = "upkeep_restore"
RESTORE_PASSWORD = "restore-pw-93b1c7e2d4"
SUPABASE_TOKEN = "sbp_test_7f3e9a1c5b2d8e4f6a0b"

SCHEMA = """
CREATE TYPE lead_status AS ENUM ('new', 'contacted', 'won');
CREATE TABLE categories (id serial PRIMARY KEY, name text NOT NULL UNIQUE);
CREATE TABLE products (id serial PRIMARY KEY, category_id int REFERENCES categories, name text NOT NULL,
                       price numeric(10,2), tags text[], created timestamptz DEFAULT now(), ratio float8,
                       image bytea, attrs json);
CREATE TABLE leads (id bigserial PRIMARY KEY, product_id int REFERENCES products, status lead_status NOT NULL,
                    note text, at date);
CREATE INDEX leads_status ON leads (status);
CREATE VIEW open_leads AS SELECT * FROM leads WHERE status <> 'won';
INSERT INTO categories (name) SELECT 'category ' || g FROM generate_series(1, 5) g;
INSERT INTO products (category_id, name, price, tags, ratio, image, attrs)
  SELECT 1 + g % 5, 'product ' || g, g * 1.25, ARRAY['t' || g % 3, 'x'], g / 7.0, decode(md5(g::text), 'hex'),
         json_build_object('g', g, 'even', g % 2 = 0)
  FROM generate_series(1, 300) g;
INSERT INTO leads (product_id, status, note, at)
  SELECT 1 + g % 300, (ARRAY['new', 'contacted', 'won']::lead_status[])[1 + g % 3], 'lead ' || g,
         date '2026-01-01' + g % 200
  FROM generate_series(1, 2000) g;
"""


@pytest.fixture(scope="session")
def restore_server(pg_cluster):
    with pg_cluster.connect() as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [RESTORE_ROLE]).fetchone():
            conn.execute("CREATE ROLE %s LOGIN CREATEDB PASSWORD '%s'" % (RESTORE_ROLE, RESTORE_PASSWORD))
    return {"host": pg_cluster.host, "port": pg_cluster.port, "user": RESTORE_ROLE, "password": RESTORE_PASSWORD}


@pytest.fixture
def source_db(pg_cluster, pg_database):
    import psycopg

    with psycopg.connect(pg_cluster.dsn(pg_database, APP_ROLE, APP_PASSWORD), autocommit=True) as conn:
        conn.execute(SCHEMA)
    return {"host": pg_cluster.host, "port": pg_cluster.port, "user": APP_ROLE, "password": APP_PASSWORD,
            "database": pg_database}


def scratch_names(pg_cluster):
    with pg_cluster.connect() as conn:
        return [r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'upkeep\\_scratch\\_%'")]


def database_names(pg_cluster):
    with pg_cluster.connect() as conn:
        return sorted(r[0] for r in conn.execute("SELECT datname FROM pg_database"))


@dataclasses.dataclass
class SupabaseApi:
    url: str
    ca_file: str
    project_ref: str
    token: str
    requests: list


def supabase_payload(now):
    def at(hours):
        return (now - datetime.timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return {"region": "eu-central-1", "walg_enabled": True, "pitr_enabled": False,
            "backups": [{"is_physical_backup": True, "status": "COMPLETED", "inserted_at": at(30)},
                        {"is_physical_backup": True, "status": "COMPLETED", "inserted_at": at(54)},
                        {"is_physical_backup": True, "status": "FAILED", "inserted_at": at(6)}],
            "physical_backup_data": {}}


@pytest.fixture(scope="session")
def supabase_api(server_cert, test_ca):
    requests = []
    project_ref = "abcdefghijklmnopqrst"

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            requests.append({"path": self.path, "authorization": self.headers.get("Authorization")})
            if self.headers.get("Authorization") != "Bearer " + SUPABASE_TOKEN:
                return self._send(401, {"message": "Unauthorized"})
            if self.path != "/v1/projects/%s/database/backups" % project_ref:
                return self._send(404, {"message": "Not found"})
            return self._send(200, supabase_payload(datetime.datetime.now(datetime.timezone.utc)))

        def _send(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(server_cert.cert), str(server_cert.key))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield SupabaseApi("https://127.0.0.1:%d" % server.server_address[1], str(test_ca.cert), project_ref,
                      SUPABASE_TOKEN, requests)
    server.shutdown()
