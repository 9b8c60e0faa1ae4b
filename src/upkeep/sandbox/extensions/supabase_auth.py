"""Supabase Auth's audit table in the sandbox database, for upkeep_auth_audit's database source.

``auth.audit_log_entries`` with GoTrue's real column definitions (its init migration plus the
2022 ``ip_address`` column), owned by the superuser like Supabase's ``supabase_auth_admin``
schema, readable by the app role through explicit grants (what a monitoring role gets on a real
project). Re-seeded on every ``up`` relative to the host logs' "now", with two weeks of
realistic GoTrue rows: staff logins from the office, token refreshes (the bulk of any real
table, which the audit must filter out), logouts, sign-ups, a repeated sign-up, password
recovery requests - and a ``login`` of admin@almazahir.com from the IP that brute-forced the app
login in the logs, a minute after that burst: only the merged sources show the compromise.
"""

from __future__ import annotations

import json
import random
import time
import uuid

from upkeep.sandbox import inventory, manager
from upkeep.sandbox.extensions import logs as sandbox_logs

NAME = "supabase_auth"
SEED = 20261128
DAYS = 14
COMPROMISED_USER = "admin@almazahir.com"
# GoTrue's migrations: 00_init_auth_schema (table and index) and 20220614074223 (ip_address).
DDL = """
CREATE SCHEMA IF NOT EXISTS auth;
CREATE TABLE IF NOT EXISTS auth.audit_log_entries (
    instance_id uuid NULL,
    id uuid NOT NULL,
    payload json NULL,
    created_at timestamptz NULL,
    CONSTRAINT audit_log_entries_pkey PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS audit_logs_instance_id_idx ON auth.audit_log_entries USING btree (instance_id);
COMMENT ON TABLE auth.audit_log_entries IS 'Auth: Audit trail for user actions.';
ALTER TABLE auth.audit_log_entries ADD COLUMN IF NOT EXISTS ip_address varchar(64) NOT NULL DEFAULT '';
"""
_LOG_TYPES = {"login": "account", "logout": "account", "token_refreshed": "token", "token_revoked": "token",
              "user_signedup": "team", "user_repeated_signup": "user", "user_recovery_requested": "user",
              "mfa_code_login": "factor", "verification_attempted": "factor"}
_STAFF = ["admin@almazahir.com", "sales@almazahir.com", "stock@almazahir.com", "omar.haddad@almazahir.com"]
_CUSTOMERS = ["procurement@gulfbuild.ae", "orders@najmtrading.com", "buyer@alsafa-contracting.com",
              "info@desertline.sa", "purchasing@bluewave.qa"]


def entry(ts: float, action: str, user: str, ip: str, actor_id: str | None = None, traits: dict | None = None) -> tuple:
    """One row (id, payload, created_at epoch, ip_address) shaped as GoTrue's NewAuditLogEntry writes it."""
    payload = {"action": action, "actor_id": actor_id or str(uuid.uuid5(uuid.NAMESPACE_DNS, user)),
               "actor_username": user, "actor_via_sso": False, "log_type": _LOG_TYPES.get(action, "account")}
    if traits:
        payload["traits"] = traits
    return str(uuid.uuid4()), json.dumps(payload), ts, ip


def create_table(conn, reader: str | None = None) -> None:
    """Create the schema and table (idempotent); ``reader`` gets USAGE and SELECT, as a monitoring role would."""
    conn.execute(DDL)
    if reader:
        conn.execute('GRANT USAGE ON SCHEMA auth TO "%s"' % reader.replace('"', '""'))
        conn.execute('GRANT SELECT ON auth.audit_log_entries TO "%s"' % reader.replace('"', '""'))


def insert(conn, rows) -> None:
    with conn.cursor() as cursor:
        cursor.executemany("INSERT INTO auth.audit_log_entries (instance_id, id, payload, created_at, ip_address) "
                           "VALUES ('00000000-0000-0000-0000-000000000000', %s, %s, to_timestamp(%s), %s)", list(rows))


def story(now: float, seed: int = SEED) -> list[tuple]:
    """Two weeks of audit rows ending at ``now`` (the host logs' generation time)."""
    rng = random.Random(seed)
    rows = []
    for day in range(DAYS):
        for _ in range(rng.randint(3, 6)):  # staff at the office, each login followed by refreshes
            user = rng.choice(_STAFF)
            ts = now - day * 86400 - rng.uniform(3600, 36000)
            ip = "192.0.2.%d" % rng.randint(2, 60)
            rows.append(entry(ts, "login", user, ip, traits={"provider": "email"}))
            rows += [entry(ts + 3600 * k, "token_refreshed", user, ip) for k in range(1, rng.randint(2, 8))]
            if rng.random() < 0.5:
                rows.append(entry(ts + 8 * 3600, "logout", user, ip))
        for _ in range(rng.randint(1, 3)):  # customers on the lead portal, from anywhere
            user = rng.choice(_CUSTOMERS)
            ts = now - day * 86400 - rng.uniform(0, 80000)
            ip = "%d.%d.%d.%d" % (rng.choice([5, 37, 86, 94, 185]), rng.randint(0, 255), rng.randint(0, 255),
                                  rng.randint(1, 254))
            rows.append(entry(ts, rng.choice(["login", "login", "mfa_code_login"]), user, ip,
                              traits={"provider": "email"}))
            rows.append(entry(ts + 3600, "token_refreshed", user, ip))
    rows.append(entry(now - 5 * 86400, "user_signedup", "buyer@alsafa-contracting.com", "94.200.14.7",
                      traits={"provider": "email"}))
    rows.append(entry(now - 2 * 86400, "user_repeated_signup", "info@desertline.sa", "37.224.3.90",
                      traits={"provider": "email"}))
    rows.append(entry(now - 86400, "user_recovery_requested", "sales@almazahir.com", "192.0.2.14"))
    # The app login burst in the host logs: 15 failures from BRUTE_FORCE_IP 20 s apart starting
    # at now - 3 d - 4 h (logs.generate). GoTrue records only the success that ends it.
    burst_end = now - 3 * 86400 - 4 * 3600 + 14 * 20
    rows.append(entry(burst_end + 60, "login", COMPROMISED_USER, sandbox_logs.BRUTE_FORCE_IP,
                      traits={"provider": "email"}))
    rows.append(entry(burst_end + 60 + 3600, "token_refreshed", COMPROMISED_USER, sandbox_logs.BRUTE_FORCE_IP))
    return rows


def provision(layout, state: dict) -> None:
    from upkeep.sandbox.pgcluster import PgCluster

    pg = state["components"]["postgres"]
    now = float(state.get("artifacts", {}).get(sandbox_logs.NAME, {}).get("generated_at") or time.time())
    rows = story(now)
    with PgCluster(layout.pg).connect(pg["database"]) as conn:
        with conn.transaction():
            create_table(conn, reader=pg["user"])
            conn.execute("TRUNCATE auth.audit_log_entries")  # the sandbox owns every row: rewrite the story
            insert(conn, rows)
    state.setdefault("artifacts", {})[NAME] = {"rows": len(rows), "generated_at": int(now),
                                              "compromised_user": COMPROMISED_USER,
                                              "compromise_ip": sandbox_logs.BRUTE_FORCE_IP}


def host_vars(state: dict) -> dict:
    if not state.get("artifacts", {}).get(NAME):
        return {}
    pg = state["components"]["postgres"]
    variables = {"upkeep_auth_audit_database": {
        "name": "supabase-auth", "host": pg["host"], "port": pg["port"], "user": pg["user"],
        "password": inventory.secret_lookup(state["secrets"]["db_password"]), "database": pg["database"],
        "sslmode": "prefer"}}
    state_dir = state["artifacts"].get(sandbox_logs.NAME, {}).get("state_dir")
    if state_dir:  # the sandbox keeps every state file under .sandbox/, never in /var/lib
        variables["upkeep_auth_audit_state_path"] = state_dir + "/auth-audit-state.json"
    return variables


manager.PROVISIONERS[NAME] = provision
inventory.HOST_VARS[NAME] = host_vars
