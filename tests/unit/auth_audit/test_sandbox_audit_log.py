"""The sandbox's Supabase Auth audit table: GoTrue's columns, re-seeded idempotently relative to the
host logs, readable by the app role, and telling (with the sandbox logs) the compromise story."""

from __future__ import annotations

import types

from ansible.module_utils.upkeep.auth_audit import audit
from tests.support.fixtures_pg import APP_PASSWORD, APP_ROLE
from upkeep.sandbox import inventory, manager
from upkeep.sandbox.extensions import logs as sandbox_logs
from upkeep.sandbox.extensions import supabase_auth

GOTRUE_COLUMNS = [("instance_id", "uuid", "YES", None), ("id", "uuid", "NO", None), ("payload", "json", "YES", None),
                  ("created_at", "timestamp with time zone", "YES", None),
                  ("ip_address", "character varying", "NO", "''::character varying")]


def test_provision_seeds_gotrue_rows_the_audit_merges_with_the_logs(pg_cluster, pg_database, tmp_path):
    logs = sandbox_logs.generate(tmp_path / "hostlogs")
    state = {"artifacts": {sandbox_logs.NAME: logs}, "secrets": {"db_password": "/sandbox/secrets/db_password"},
             "components": {"postgres": {"host": pg_cluster.host, "port": pg_cluster.port, "user": APP_ROLE,
                                         "database": pg_database}}}
    layout = types.SimpleNamespace(pg=pg_cluster.base_dir)
    assert manager.PROVISIONERS[supabase_auth.NAME] is supabase_auth.provision
    supabase_auth.provision(layout, state)
    supabase_auth.provision(layout, state)  # every `up` rewrites the story: no duplicates
    with pg_cluster.connect(pg_database) as conn:
        columns = conn.execute("SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns "
                               "WHERE table_schema = 'auth' AND table_name = 'audit_log_entries' "
                               "ORDER BY ordinal_position").fetchall()
        count = conn.execute("SELECT count(*) FROM auth.audit_log_entries").fetchone()[0]
        actions = {row[0] for row in conn.execute("SELECT DISTINCT payload->>'action' FROM auth.audit_log_entries")}
    assert columns == GOTRUE_COLUMNS
    assert count == state["artifacts"][supabase_auth.NAME]["rows"]
    assert {"login", "token_refreshed", "logout", "user_signedup", "user_repeated_signup",
            "user_recovery_requested"} <= actions

    host_vars = inventory.HOST_VARS[supabase_auth.NAME](state)["upkeep_auth_audit_database"]
    assert host_vars["password"].startswith('{{ lookup("ansible.builtin.file"')
    variables = sandbox_logs.log_sources(logs["dir"])
    params = {"sources": variables["upkeep_auth_audit_sources"], "allowlist": variables["upkeep_auth_audit_allowlist"],
              "database": dict(host_vars, password=APP_PASSWORD), "window_days": 7, "brute_force_failures": 10,
              "brute_force_window_s": 600, "stuffing_users": 5, "burst_failures": 5}
    checks, extra = audit(params, now=logs["generated_at"] + 1)
    assert {c["id"]: c["status"] for c in checks}["auth.audit_log"] == "ok"
    suspect = next(s for s in extra["suspicious_ips"] if s["ip"] == sandbox_logs.BRUTE_FORCE_IP)
    sources = {(c["source"], c["user"]) for c in suspect["successes_after_failures"]}
    assert ("supabase-auth", supabase_auth.COMPROMISED_USER) in sources
    assert ("sshd", "deploy") in sources


def test_the_state_file_stays_in_the_sandbox():
    state = {"artifacts": {supabase_auth.NAME: {"rows": 1}, sandbox_logs.NAME: {"state_dir": "/sbx/.sandbox/upkeep-state"}},
             "secrets": {"db_password": "/sbx/.sandbox/secrets/db_password"},
             "components": {"postgres": {"host": "127.0.0.1", "port": 5433, "user": "app", "database": "app"}}}
    variables = inventory.HOST_VARS[supabase_auth.NAME](state)
    assert variables["upkeep_auth_audit_state_path"] == "/sbx/.sandbox/upkeep-state/auth-audit-state.json"


def test_without_a_record_there_are_no_variables():
    assert inventory.HOST_VARS[supabase_auth.NAME]({"artifacts": {}}) == {}
