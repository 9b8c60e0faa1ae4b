#!/usr/bin/python
# -*- coding: utf-8 -*-
"""upkeep_pg_health: the daily deep health of PostgreSQL databases, one check per concern."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: upkeep_pg_health
short_description: Deep health of PostgreSQL databases - connections, long queries, locks, lag, wraparound, sequences, cache, size, invalid indexes
description:
  - For each database, evaluates one check per concern, each against thresholds that can be set per database
    - C(pg.connections) (slots in use, cluster-wide, with a breakdown per user, application and database),
    C(pg.long_queries), C(pg.idle_in_transaction), C(pg.blocking_locks) (who blocks whom),
    C(pg.replication_lag) (on replicas; ok with "not a replica" on a primary), C(pg.wraparound)
    (transaction-ID age of every database of the cluster), C(pg.sequences) (near exhaustion, counting the
    type of the column a sequence feeds), C(pg.cache_hit), C(pg.database_size) (metric
    C(database_size_bytes); growth comes from the report history), C(pg.invalid_indexes).
  - Findings carry the concrete details (pid, user, application_name, duration, shortened query text) and a
    remediation, with the SQL to run where a safe one exists (for example C(pg_terminate_backend) with the pid).
    The module only advises; it never runs them.
  - Read-only - every statement runs in a read-only transaction under O(statement_timeout_ms) and
    O(lock_timeout_ms); one catalog query per concern per database, never one per table.
  - A database that cannot be reached or refuses the credentials gives one critical C(pg.health) check and the
    other databases go on; a concern whose query fails (timeout, missing privilege) is C(unknown) and the other
    concerns go on. The task fails only for unusable parameters (the message names the parameter) or a missing psycopg.
  - Fleet mode, one call for the whole play; databases are checked concurrently. Each item may carry
    O(databases[].inventory_host); its checks then carry C(host).
  - Query text of other roles' sessions is visible only to a role with C(pg_monitor) (or a superuser).
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
      - The databases to check. Each item takes the connection options and thresholds below; unset values come
        from the top-level options.
      - Omit it to check the single database the top-level options describe; an empty list checks nothing.
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
      connections_warning_pct:
        description: Client connections in use, as a percentage of max_connections minus superuser_reserved_connections (cluster-wide), at or above which C(pg.connections) is a warning.
        type: float
      connections_critical_pct:
        description: Same, critical.
        type: float
      long_query_warning_s:
        description: A query of this database active for this many seconds or more is a warning (C(pg.long_queries)).
        type: float
      long_query_critical_s:
        description: Same, critical.
        type: float
      idle_in_transaction_warning_s:
        description: A session of this database idle in a transaction for this many seconds or more is a warning (C(pg.idle_in_transaction)).
        type: float
      idle_in_transaction_critical_s:
        description: Same, critical.
        type: float
      lock_wait_warning_s:
        description: A session waiting this many seconds or more for a lock held by another is a warning (C(pg.blocking_locks)).
        type: float
      lock_wait_critical_s:
        description: Same, critical.
        type: float
      replication_lag_warning_s:
        description: On a replica, replay lag in seconds at or above which C(pg.replication_lag) is a warning.
        type: float
      replication_lag_critical_s:
        description: Same, critical.
        type: float
      replication_lag_warning_bytes:
        description: On a replica, WAL received but not yet replayed (bytes) at or above which C(pg.replication_lag) is a warning.
        type: int
      replication_lag_critical_bytes:
        description: Same, critical.
        type: int
      wraparound_warning_pct:
        description: Transaction-ID (or multixact) age of the oldest database of the cluster, as a percentage of the 2^31 wraparound limit, at or above which C(pg.wraparound) is a warning.
        type: float
      wraparound_critical_pct:
        description: Same, critical.
        type: float
      sequence_warning_pct:
        description: Share of a non-cycling sequence's range used (capped by the type of the column it feeds) at or above which C(pg.sequences) is a warning.
        type: float
      sequence_critical_pct:
        description: Same, critical.
        type: float
      cache_hit_warning_pct:
        description: Buffer cache hit ratio of the database at or B(below) which C(pg.cache_hit) is a warning.
        type: float
      cache_hit_critical_pct:
        description: Same, critical (at or below).
        type: float
      cache_hit_min_blocks:
        description: Fewer block accesses than this since the statistics reset are too little traffic to judge - C(pg.cache_hit) is ok.
        type: int
      database_size_warning_bytes:
        description: Database size at or above which C(pg.database_size) is a warning. Unset, the size is only reported (growth comes from history).
        type: int
      database_size_critical_bytes:
        description: Same, critical.
        type: int
      invalid_indexes_warning:
        description: Number of invalid indexes (not counting ones being built concurrently) at or above which C(pg.invalid_indexes) is a warning.
        type: int
      invalid_indexes_critical:
        description: Same, critical. Unset, never critical.
        type: int
      query_text_chars:
        description: Query text in findings is cut to this many characters (20-10000).
        type: int
      max_findings:
        description: At most this many findings per check (1-1000).
        type: int
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
  connections_warning_pct:
    description: Client connections in use, as a percentage of max_connections minus superuser_reserved_connections (cluster-wide), at or above which C(pg.connections) is a warning.
    type: float
    default: 80
  connections_critical_pct:
    description: Same, critical.
    type: float
    default: 95
  long_query_warning_s:
    description: A query of this database active for this many seconds or more is a warning (C(pg.long_queries)).
    type: float
    default: 60
  long_query_critical_s:
    description: Same, critical.
    type: float
    default: 300
  idle_in_transaction_warning_s:
    description: A session of this database idle in a transaction for this many seconds or more is a warning (C(pg.idle_in_transaction)).
    type: float
    default: 60
  idle_in_transaction_critical_s:
    description: Same, critical.
    type: float
    default: 600
  lock_wait_warning_s:
    description: A session waiting this many seconds or more for a lock held by another is a warning (C(pg.blocking_locks)).
    type: float
    default: 10
  lock_wait_critical_s:
    description: Same, critical.
    type: float
    default: 60
  replication_lag_warning_s:
    description: On a replica, replay lag in seconds at or above which C(pg.replication_lag) is a warning.
    type: float
    default: 60
  replication_lag_critical_s:
    description: Same, critical.
    type: float
    default: 300
  replication_lag_warning_bytes:
    description: On a replica, WAL received but not yet replayed (bytes) at or above which C(pg.replication_lag) is a warning.
    type: int
    default: 67108864
  replication_lag_critical_bytes:
    description: Same, critical.
    type: int
    default: 1073741824
  wraparound_warning_pct:
    description: Transaction-ID (or multixact) age of the oldest database of the cluster, as a percentage of the 2^31 wraparound limit, at or above which C(pg.wraparound) is a warning.
    type: float
    default: 50
  wraparound_critical_pct:
    description: Same, critical.
    type: float
    default: 75
  sequence_warning_pct:
    description: Share of a non-cycling sequence's range used (capped by the type of the column it feeds) at or above which C(pg.sequences) is a warning.
    type: float
    default: 75
  sequence_critical_pct:
    description: Same, critical.
    type: float
    default: 90
  cache_hit_warning_pct:
    description: Buffer cache hit ratio of the database at or B(below) which C(pg.cache_hit) is a warning.
    type: float
    default: 99
  cache_hit_critical_pct:
    description: Same, critical (at or below).
    type: float
    default: 95
  cache_hit_min_blocks:
    description: Fewer block accesses than this since the statistics reset are too little traffic to judge - C(pg.cache_hit) is ok.
    type: int
    default: 10000
  database_size_warning_bytes:
    description: Database size at or above which C(pg.database_size) is a warning. Unset, the size is only reported (growth comes from history).
    type: int
  database_size_critical_bytes:
    description: Same, critical.
    type: int
  invalid_indexes_warning:
    description: Number of invalid indexes (not counting ones being built concurrently) at or above which C(pg.invalid_indexes) is a warning.
    type: int
    default: 1
  invalid_indexes_critical:
    description: Same, critical. Unset, never critical.
    type: int
  query_text_chars:
    description: Query text in findings is cut to this many characters (20-10000).
    type: int
    default: 200
  max_findings:
    description: At most this many findings per check (1-1000).
    type: int
    default: 20
  checks:
    description: Only these concerns (check ids). Default all.
    type: list
    elements: str
    choices: [pg.connections, pg.long_queries, pg.idle_in_transaction, pg.blocking_locks, pg.replication_lag,
              pg.wraparound, pg.sequences, pg.cache_hit, pg.database_size, pg.invalid_indexes]
  statement_timeout_ms:
    description: statement_timeout sent at connection start, so no catalog query can hang.
    type: int
    default: 5000
  lock_timeout_ms:
    description: lock_timeout of the session, so a catalog read never queues behind an exclusive lock for long.
    type: int
    default: 1000
  max_workers:
    description: Databases checked at the same time (1-256).
    type: int
    default: 16
seealso:
  - module: upkeep_pg_ping
  - name: Monitoring database activity
    description: pg_stat_activity, pg_locks and the statistics views the checks read.
    link: https://www.postgresql.org/docs/current/monitoring-stats.html
"""

EXAMPLES = r"""
- name: Check the application database with tighter session limits
  upkeep_pg_health:
    host: db.example.com
    database: app
    user: upkeep_monitor
    passfile: /etc/upkeep/pgpass
    long_query_warning_s: 30
    idle_in_transaction_warning_s: 30

- name: Check every database of the play in one call
  upkeep_pg_health:
    databases: "{{ hostvars | upkeep_fleet(ansible_play_hosts, 'upkeep_postgres_databases') }}"
  delegate_to: localhost
  run_once: true
  register: upkeep_postgres_health_result
"""

RETURN = r"""
status:
  description: Worst status of all checks.
  returned: always
  type: str
  sample: warning
counts:
  description: Number of checks per status.
  returned: always
  type: dict
  sample: {ok: 9, warning: 1, critical: 0, unknown: 0}
checks:
  description:
    - Per database, one check per selected concern in the order of O(checks), or one critical C(pg.health)
      check when the database could not be reached.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The concern, for example C(pg.long_queries); C(pg.health) for a failed connection.
      type: str
    target:
      description: The database's name, or user@host:port/database. Never a password.
      type: str
    host:
      description: The item's inventory_host, when given.
      type: str
      returned: when the item has inventory_host
    status:
      description: ok, warning, critical, or unknown when the concern's query failed.
      type: str
    summary:
      description: One line for people.
      type: str
    metrics:
      description:
        - Numbers with the unit in the name, for example connections_used_pct, long_query_max_s,
          idle_in_transaction_max_s, lock_wait_max_s, blocked_sessions, replication_lag_s, replication_lag_bytes,
          wraparound_pct, xid_age_max, sequence_used_max_pct, cache_hit_pct, database_size_bytes, invalid_indexes.
      type: dict
    thresholds:
      description: The limits the judged metric was compared with; C(direction=below) where lower is worse.
      type: dict
    findings:
      description: One per offending session, lock wait, database, sequence or index, with detail and remediation.
      type: list
      elements: dict
    duration_ms:
      description: Time spent on this concern.
      type: float
    breakdown:
      description: C(pg.connections) only - sessions by_user, by_application and by_database.
      type: dict
      returned: for pg.connections
    blocking_chains:
      description: C(pg.blocking_locks) only - blocked_pid, blocker_pid and wait_s of every waiting session.
      type: list
      elements: dict
      returned: for pg.blocking_locks
    connect_error:
      description: Why the connection failed (auth_failed, refused, timeout, database_missing ...).
      type: str
      returned: for pg.health
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.upkeep.pg import HAS_PSYCOPG, PSYCOPG_IMPORT_ERROR, pg_connection_spec
from ansible.module_utils.upkeep.pg_health import CONCERN_IDS, HEALTH_DEFAULTS, health_databases, health_item_spec
from ansible.module_utils.upkeep.result import ParameterError, module_result


def argument_spec():
    item = dict(pg_connection_spec(), inventory_host=dict(type="str"), **health_item_spec())
    spec = dict(pg_connection_spec())
    for name, option in health_item_spec().items():
        default = HEALTH_DEFAULTS[name]
        spec[name] = option if default is None else dict(option, default=default)
    spec.update(
        databases=dict(type="list", elements="dict", options=item),
        connect_timeout_s=dict(type="int", default=5),
        application_name=dict(type="str", default="upkeep"),
        checks=dict(type="list", elements="str", choices=list(CONCERN_IDS)),
        statement_timeout_ms=dict(type="int", default=5000),
        lock_timeout_ms=dict(type="int", default=1000),
        max_workers=dict(type="int", default=16),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if not HAS_PSYCOPG:
        module.fail_json(msg=missing_required_lib("psycopg"), exception=str(PSYCOPG_IMPORT_ERROR))
    try:
        checks = health_databases(module.params)
    except ParameterError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**module_result(checks))


if __name__ == "__main__":
    main()
