#!/usr/bin/python
# -*- coding: utf-8 -*-
"""upkeep_pg_ping: connect to PostgreSQL databases and time a trivial query."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: upkeep_pg_ping
short_description: Connect to PostgreSQL databases and measure connect time and trivial-query latency
description:
  - For each database, connects (TCP, TLS, authentication), runs C(SELECT 1) O(samples) times and
    reports connect time, query latency (p50 judged against the thresholds, max reported), the
    server version and whether the server is a replica (C(pg_is_in_recovery())).
  - Emits one C(pg.ping) check per database in the upkeep check contract (RV(checks)).
  - A database that refuses the connection, times out, or rejects the credentials gives a
    C(critical) check with a finding and a remediation; the task does not fail. So does a server
    that stops answering after login, since each query has a client-side deadline of
    O(statement_timeout_ms) plus one second. The task fails only when the top-level parameters
    cannot be used (the message names the parameter) or psycopg is missing.
  - An item of O(databases) with unusable options gives an C(unknown) check of its own whose
    summary names the option (for a fleet item its host, then C(upkeep_postgres_databases[1].port));
    the other databases are still probed.
  - Fleet mode, one call for the whole play; every database in O(databases) is probed concurrently on a
    bounded thread pool. Each item may carry O(databases[].inventory_host); its check then carries
    C(host) so reports file it under that inventory host.
  - Connection options not set on an item fall back to the top-level option of the same name,
    then to libpq's own defaults (C(PGHOST), C(PGUSER), C(PGPASSFILE), C(~/.pgpass) and so on).
    Without O(databases) the top-level options describe a single database.
version_added: "0.1.0"
author: upkeep maintainers
requirements:
  - psycopg >= 3.1 (on the host that runs the check, usually the controller)
attributes:
  check_mode:
    support: full
    details: Read-only; runs normally in check mode and never reports a change.
  diff_mode:
    support: none
options:
  databases:
    description:
      - The databases to probe. Each item takes the connection options below plus per-item
        thresholds; unset values come from the top-level options.
      - Omit it to probe the single database the top-level options describe; an empty list probes nothing.
    type: list
    elements: dict
    suboptions:
      inventory_host:
        description: The inventory host this database belongs to; its check carries it as C(host).
        type: str
      name:
        description: Label of the database, used as the check's target. Default user@host:port/database.
        type: str
      dsn:
        description:
          - A libpq connection string or URI. Discrete options given alongside override its parts.
          - May hold a password, so it is treated as a secret.
        type: str
      host:
        description: Host name, IP address or unix socket directory.
        type: str
      port:
        description: Port, 1-65535.
        type: int
      user:
        description: Role to connect as.
        type: str
      password:
        description: Password. Prefer O(databases[].passfile) or C(PGPASSFILE).
        type: str
      database:
        description: Database name.
        type: str
      sslmode:
        description: libpq sslmode.
        type: str
        choices: [disable, allow, prefer, require, verify-ca, verify-full]
      sslrootcert:
        description: CA certificate file used to verify the server (with C(verify-ca) or C(verify-full)).
        type: path
      connect_timeout_s:
        description: Connection timeout in seconds (libpq counts at least 2). Default 5.
        type: int
      passfile:
        description: A libpq password file (mode 0600). Default C(PGPASSFILE), then C(~/.pgpass).
        type: path
      application_name:
        description: Shown in pg_stat_activity. Default C(upkeep).
        type: str
      samples:
        description: Number of C(SELECT 1) round trips (1-100).
        type: int
      connect_warning_ms:
        description: Connect time at or above which the check is a warning.
        type: float
      connect_critical_ms:
        description: Connect time at or above which the check is critical.
        type: float
      query_warning_ms:
        description: C(SELECT 1) p50 latency at or above which the check is a warning.
        type: float
      query_critical_ms:
        description: C(SELECT 1) p50 latency at or above which the check is critical.
        type: float
      expected_role:
        description: C(primary) or C(replica) makes the other one critical (a failover or a misrouted address).
        type: str
        choices: [any, primary, replica]
  name:
    description: Label of the single database (when O(databases) is omitted).
    type: str
  dsn:
    description: Default libpq connection string or URI. Treated as a secret.
    type: str
  host:
    description: Default host name, IP address or unix socket directory.
    type: str
  port:
    description: Default port, 1-65535.
    type: int
  user:
    description: Default role.
    type: str
  password:
    description: Default password.
    type: str
  database:
    description: Default database name.
    type: str
  sslmode:
    description: Default libpq sslmode.
    type: str
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
  sslrootcert:
    description: Default CA certificate file.
    type: path
  connect_timeout_s:
    description: Default connection timeout in seconds.
    type: int
    default: 5
  passfile:
    description: Default libpq password file (mode 0600).
    type: path
  application_name:
    description: Default application_name.
    type: str
    default: upkeep
  samples:
    description: Default number of C(SELECT 1) round trips (1-100).
    type: int
    default: 5
  connect_warning_ms:
    description: Default connect-time warning threshold (ms).
    type: float
    default: 500
  connect_critical_ms:
    description: Default connect-time critical threshold (ms).
    type: float
    default: 2000
  query_warning_ms:
    description: Default C(SELECT 1) p50 warning threshold (ms).
    type: float
    default: 50
  query_critical_ms:
    description: Default C(SELECT 1) p50 critical threshold (ms).
    type: float
    default: 500
  expected_role:
    description: Default expected server role.
    type: str
    choices: [any, primary, replica]
    default: any
  statement_timeout_ms:
    description:
      - statement_timeout sent at connection start, so no probe query can hang on the server.
      - The client gives up on a query unanswered for this plus one second (C(0) means the
        default 5000 ms for that deadline).
    type: int
    default: 5000
  max_workers:
    description: Databases probed at the same time (1-256).
    type: int
    default: 16
seealso:
  - name: libpq connection parameters
    description: Meaning of the connection options and their environment variables.
    link: https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-PARAMKEYWORDS
"""

EXAMPLES = r"""
- name: Probe the application database
  upkeep_pg_ping:
    host: db.example.com
    database: app
    user: monitor
    passfile: /etc/upkeep/pgpass
    sslmode: verify-full
    sslrootcert: /etc/upkeep/db-ca.pem

- name: Probe every database of the play in one call
  upkeep_pg_ping:
    databases: "{{ hostvars | upkeep_fleet(ansible_play_hosts, 'upkeep_postgres_databases') }}"
    query_warning_ms: 20
  delegate_to: localhost
  run_once: true
  register: upkeep_postgres_ping_result
"""

RETURN = r"""
status:
  description: Worst status of all checks.
  returned: always
  type: str
  sample: ok
counts:
  description: Number of checks per status.
  returned: always
  type: dict
  sample: {ok: 2, warning: 0, critical: 1, unknown: 0}
checks:
  description: One C(pg.ping) check per database, in the order of O(databases).
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: C(pg.ping).
      type: str
    target:
      description: The database's name, or user@host:port/database. Never a password.
      type: str
    host:
      description: The item's inventory_host, when given.
      type: str
      returned: when the item has inventory_host
    status:
      description: ok, warning, critical, or unknown when the item's options are unusable.
      type: str
    summary:
      description: One line for people.
      type: str
    metrics:
      description:
        - connect_ms, query_p50_ms, query_max_ms, query_samples, server_version_num,
          in_recovery (1 on a replica) when connected; connect_ms alone when the connection failed.
      type: dict
      sample: {connect_ms: 6.1, query_p50_ms: 0.08, query_max_ms: 0.2, query_samples: 5, server_version_num: 150018, in_recovery: 0}
    thresholds:
      description: The limits connect_ms and query_p50_ms were judged against.
      type: dict
    findings:
      description: Slow connect or query, failed connection (with its reason and remediation), wrong server role.
      type: list
      elements: dict
    duration_ms:
      description: Time spent on this database.
      type: float
    server_version:
      description: The server's version string.
      type: str
      returned: when connected
    in_recovery:
      description: True on a replica (standby).
      type: bool
      returned: when connected
    connect_error:
      description: Why the connection failed, a stable word such as auth_failed, refused, timeout, database_missing, ssl_unsupported.
      type: str
      returned: when the connection failed
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.upkeep.pg import HAS_PSYCOPG, PSYCOPG_IMPORT_ERROR, pg_connection_spec
from ansible.module_utils.upkeep.pg_ping import ping_databases, ping_item_spec
from ansible.module_utils.upkeep.result import ParameterError, module_result


def argument_spec():
    item = dict(pg_connection_spec(), inventory_host=dict(type="str"), **ping_item_spec())
    spec = dict(pg_connection_spec(), **ping_item_spec())
    spec.update(
        databases=dict(type="list", elements="dict", options=item),
        connect_timeout_s=dict(type="int", default=5),
        application_name=dict(type="str", default="upkeep"),
        samples=dict(type="int", default=5),
        connect_warning_ms=dict(type="float", default=500),
        connect_critical_ms=dict(type="float", default=2000),
        query_warning_ms=dict(type="float", default=50),
        query_critical_ms=dict(type="float", default=500),
        expected_role=dict(type="str", choices=["any", "primary", "replica"], default="any"),
        statement_timeout_ms=dict(type="int", default=5000),
        max_workers=dict(type="int", default=16),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if not HAS_PSYCOPG:
        module.fail_json(msg=missing_required_lib("psycopg"), exception=str(PSYCOPG_IMPORT_ERROR))
    try:
        checks = ping_databases(module.params)
    except ParameterError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**module_result(checks))


if __name__ == "__main__":
    main()
