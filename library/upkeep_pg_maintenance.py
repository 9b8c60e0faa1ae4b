#!/usr/bin/python
# -*- coding: utf-8 -*-
"""upkeep_pg_maintenance: ANALYZE and VACUUM (ANALYZE) PostgreSQL tables only where needed."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: upkeep_pg_maintenance
short_description: ANALYZE and VACUUM (ANALYZE) only the PostgreSQL tables whose statistics say they need it
description:
  - For each database, reads pg_stat_user_tables in one query and picks the tables over the thresholds - dead-tuple
    ratio, rows modified since the last analyze, and the age of the last (manual or auto) vacuum and analyze.
    Tables that need a vacuum get VACUUM (ANALYZE), tables that only need fresh statistics get C(ANALYZE).
  - Partitioned tables get C(ANALYZE) of the parent (C(ANALYZE ONLY) on PostgreSQL 17+) when never analyzed as a
    whole, when their partitions' rows modified since the last analyze pass the thresholds, or when the parent's
    last analyze is older than O(analyze_max_age_days) and the partitions changed since - autovacuum analyzes the
    partitions but never the parent, so the planner's statistics for the table as a whole go stale otherwise.
    Such actions carry C(partitioned=true) and the number of C(partitions).
  - Every statement runs under O(lock_timeout_ms) and O(statement_timeout_ms), so maintenance never queues behind
    traffic or holds it up for long; a lock timeout on one table is a finding and the other tables go on.
  - Never C(VACUUM FULL) unless a table is named in O(databases[].vacuum_full_tables).
  - Refuses to run on a standby or a read-only database (a warning finding, nothing run).
  - C(changed) only when a statement ran. In check mode it connects, plans, returns the exact statements it would
    run in RV(statements) and runs none (C(changed) then says whether anything would run).
  - Emits one C(pg.maintenance) check per database with an C(actions) list - per table the statement, the reason,
    its status, dead tuples before and after, and the duration. A database that cannot be reached is a critical
    check and the other databases go on.
  - Identifiers are quoted by psycopg.sql.
version_added: "0.1.0"
author: upkeep maintainers
requirements:
  - psycopg >= 3.1 (on the host that runs it, usually the controller)
attributes:
  check_mode:
    support: full
    details: Plans and returns the statements it would run; runs none.
  diff_mode:
    support: none
options:
  databases:
    description:
      - The databases to maintain. Each item takes the connection options and thresholds below; unset values
        come from the top-level options.
      - Omit it to maintain the single database the top-level options describe.
      - The connecting role must own the tables (or be a superuser); tables it may not vacuum are reported as skipped.
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
      vacuum_dead_ratio_pct:
        description: VACUUM (ANALYZE) a table whose dead tuples are at least this percentage of its rows (and at least O(vacuum_min_dead_tuples)).
        type: float
      vacuum_min_dead_tuples:
        description: Fewer dead tuples than this never trigger a VACUUM (small tables are autovacuum's job).
        type: int
      vacuum_max_age_days:
        description: VACUUM (ANALYZE) a table with at least O(vacuum_min_dead_tuples) dead tuples that has not been vacuumed (manually or by autovacuum) for this many days, or never.
        type: float
      analyze_modified_pct:
        description: ANALYZE a table whose rows modified since the last analyze are at least this percentage of its rows (and at least O(analyze_min_modified)).
        type: float
      analyze_min_modified:
        description: Fewer modified rows than this never trigger an ANALYZE.
        type: int
      analyze_max_age_days:
        description: ANALYZE a table with at least O(analyze_min_modified) modified rows that has not been analyzed for this many days, or never.
        type: float
      max_tables:
        description: At most this many tables per database and run, most dead tuples first; the rest is reported as an info finding.
        type: int
      vacuum_full_tables:
        description:
          - Tables of this database (schema-qualified, quoted as in SQL where needed) to rewrite with
            VACUUM (FULL, ANALYZE) whatever the thresholds say. It takes an ACCESS EXCLUSIVE lock for the whole
            rewrite; O(lock_timeout_ms) still bounds the wait for it.
          - Never applied to a table that is not named here.
        type: list
        elements: str
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
  vacuum_dead_ratio_pct:
    description: VACUUM (ANALYZE) a table whose dead tuples are at least this percentage of its rows (and at least O(vacuum_min_dead_tuples)).
    type: float
    default: 10
  vacuum_min_dead_tuples:
    description: Fewer dead tuples than this never trigger a VACUUM (small tables are autovacuum's job).
    type: int
    default: 1000
  vacuum_max_age_days:
    description: VACUUM (ANALYZE) a table with at least O(vacuum_min_dead_tuples) dead tuples that has not been vacuumed (manually or by autovacuum) for this many days, or never.
    type: float
    default: 30
  analyze_modified_pct:
    description: ANALYZE a table whose rows modified since the last analyze are at least this percentage of its rows (and at least O(analyze_min_modified)).
    type: float
    default: 10
  analyze_min_modified:
    description: Fewer modified rows than this never trigger an ANALYZE.
    type: int
    default: 1000
  analyze_max_age_days:
    description: ANALYZE a table with at least O(analyze_min_modified) modified rows that has not been analyzed for this many days, or never.
    type: float
    default: 7
  max_tables:
    description: At most this many tables per database and run, most dead tuples first; the rest is reported as an info finding.
    type: int
    default: 100
  vacuum_full_tables:
    description:
      - Tables to rewrite with VACUUM FULL, for the single database when O(databases) is omitted. With
        O(databases), name them per database (O(databases[].vacuum_full_tables)); setting both is an error.
    type: list
    elements: str
  lock_timeout_ms:
    description: How long one statement may wait for its table lock before giving up on that table.
    type: int
    default: 2000
  statement_timeout_ms:
    description: How long one statement may run before it is cancelled.
    type: int
    default: 600000
  max_workers:
    description: Databases maintained at the same time (1-64); tables of one database are done one after another.
    type: int
    default: 4
seealso:
  - module: upkeep_pg_health
  - name: Routine vacuuming
    description: Why and when PostgreSQL tables need VACUUM and ANALYZE.
    link: https://www.postgresql.org/docs/current/routine-vacuuming.html
"""

EXAMPLES = r"""
- name: Maintain the application database, rewriting one bloated table
  upkeep_pg_maintenance:
    host: db.example.com
    database: app
    user: app_owner
    passfile: /etc/upkeep/pgpass
    vacuum_full_tables: [public.availability_updates]

- name: Vacuum and analyze where needed on every database of the play
  upkeep_pg_maintenance:
    databases: "{{ hostvars | upkeep_fleet(ansible_play_hosts, 'upkeep_postgres_databases') }}"
    vacuum_dead_ratio_pct: 20
  delegate_to: localhost
  run_once: true
  register: upkeep_postgres_maintenance_result
"""

RETURN = r"""
changed:
  description: True when a statement ran (in check mode - when one would run).
  returned: always
  type: bool
statements:
  description: The statements run, in order (in check mode - the statements that would run).
  returned: always
  type: list
  elements: str
  sample: ['VACUUM (ANALYZE) "public"."leads"', 'ANALYZE "public"."products"']
status:
  description: Worst status of all checks.
  returned: always
  type: str
counts:
  description: Number of checks per status.
  returned: always
  type: dict
checks:
  description: One C(pg.maintenance) check per database.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: C(pg.maintenance).
      type: str
    target:
      description: The database's name, or user@host:port/database. Never a password.
      type: str
    status:
      description:
        - ok when everything needed ran (or nothing was needed); warning when a table hit a lock or statement
          timeout, was skipped or failed, a vacuum_full_tables name is not a table, or the server is a standby or
          read-only; critical when the database could not be reached.
      type: str
    metrics:
      description: tables_checked, tables_needing_maintenance, statements_planned, statements_run, statements_failed, dead_tuples_before, dead_tuples_after.
      type: dict
    actions:
      description:
        - Per table - table (schema.name), kind (vacuum_analyze, analyze, vacuum_full), reason, statement, status
          (ran, would_run, lock_timeout, statement_timeout, skipped, failed), changed, before and (when it ran) after
          (each n_dead_tup, n_live_tup, n_mod_since_analyze, dead_pct), duration_ms (when it was tried).
      type: list
      elements: dict
    statements:
      description: The statements planned for this database.
      type: list
      elements: str
    criteria:
      description: The thresholds the tables were picked with (vacuum_dead_ratio_pct, analyze_min_modified ...).
      type: dict
    check_mode:
      description: True when nothing was run because the task ran in check mode.
      type: bool
    findings:
      description: Tables that timed out, were skipped or failed, unknown vacuum_full_tables names, refusal, tables over max_tables.
      type: list
      elements: dict
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.upkeep.pg import HAS_PSYCOPG, PSYCOPG_IMPORT_ERROR, pg_connection_spec
from ansible.module_utils.upkeep.pg_maintenance import MAINTENANCE_DEFAULTS, maintain_databases, maintenance_item_spec
from ansible.module_utils.upkeep.result import ParameterError, module_result


def argument_spec():
    item = dict(pg_connection_spec(), inventory_host=dict(type="str"), **maintenance_item_spec())
    spec = dict(pg_connection_spec())
    for name, option in maintenance_item_spec().items():
        default = MAINTENANCE_DEFAULTS.get(name)
        spec[name] = option if default is None else dict(option, default=default)
    spec.update(
        databases=dict(type="list", elements="dict", options=item),
        connect_timeout_s=dict(type="int", default=5),
        application_name=dict(type="str", default="upkeep"),
        lock_timeout_ms=dict(type="int", default=2000),
        statement_timeout_ms=dict(type="int", default=600000),
        max_workers=dict(type="int", default=4),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if not HAS_PSYCOPG:
        module.fail_json(msg=missing_required_lib("psycopg"), exception=str(PSYCOPG_IMPORT_ERROR))
    try:
        checks, statements = maintain_databases(module.params, check_mode=module.check_mode)
    except ParameterError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**module_result(checks, changed=bool(statements), statements=statements))


if __name__ == "__main__":
    main()
