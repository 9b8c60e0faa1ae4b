#!/usr/bin/python
# -*- coding: utf-8 -*-
"""upkeep_pg_access_review: review postgresql roles, grants, row-level security and security definer objects."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: upkeep_pg_access_review
short_description: Review PostgreSQL roles, grants, row-level security and SECURITY DEFINER objects
description:
  - For each database, one read-only connection and one set-based catalog query per check, emitting up to five
    review checks in the upkeep check contract (RV(checks)).
  - C(pg.privileged_roles) (SUPERUSER, BYPASSRLS, REPLICATION, CREATEROLE, CREATEDB), C(pg.password_expiry) (login
    roles without C(rolvaliduntil); activity is only knowable for sessions connected now, and the finding says so),
    C(pg.public_grants) (PUBLIC CREATE on schemas, PUBLIC grants on tables and views, default privileges for PUBLIC),
    C(pg.rls) (tables in O(exposed_schemas) without row-level security, or with it and no policy; and partitions,
    in any schema, that roles restricted by their parent's row-level security may read directly in full - a
    partition read directly is checked against its own policies, not the parent's; critical where an exposed
    schema holds the partition or its parent) and
    C(pg.security_definer) (SECURITY DEFINER functions, critical without a pinned search_path; views without
    C(security_invoker) on PostgreSQL 15+) in O(exposed_schemas).
  - Objects that belong to an extension are left out. Remediation SQL is advice; nothing is changed.
  - Every statement runs read-only under O(statement_timeout_ms) and a 2-second lock_timeout, so a check whose
    query would queue behind a lock (an ALTER TABLE, a VACUUM FULL) becomes C(unknown) instead of holding up traffic.
  - Every finding carries a stable C(fingerprint); O(acknowledgements) mark reviewed findings so they stop counting
    until they expire.
  - Fleet mode as upkeep_pg_ping; a database that cannot be reached gives one critical C(pg.access_review) check.
version_added: "0.1.0"
author: upkeep maintainers
requirements:
  - psycopg >= 3.1 (on the host that runs the check, usually the controller)
attributes:
  check_mode:
    support: full
    details: Read-only (every statement runs in a read-only transaction); runs normally in check mode and never reports a change.
  diff_mode:
    support: none
options:
  databases:
    description:
      - The databases to review. Each item takes the connection options below plus per-item settings;
        unset values come from the top-level options.
      - Omit it to review the single database the top-level options describe; an empty list reviews nothing.
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
      exposed_schemas:
        description: Schemas an API exposes (Supabase/PostgREST exposes C(public)); pg.rls and pg.security_definer look there.
        type: list
        elements: str
      max_findings:
        description: Findings kept per check (worst first); the summary says how many were left out.
        type: int
      checks:
        description: The checks to run on this database (default all).
        type: list
        elements: str
        choices: [privileged_roles, password_expiry, public_grants, rls, security_definer]
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
  exposed_schemas:
    description: Schemas an API exposes (Supabase/PostgREST exposes C(public)); pg.rls and pg.security_definer look there.
    type: list
    elements: str
    default: [public]
  max_findings:
    description: Findings kept per check (worst first); the summary says how many were left out.
    type: int
    default: 50
  checks:
    description: The checks to run (default all).
    type: list
    elements: str
    choices: [privileged_roles, password_expiry, public_grants, rls, security_definer]
  acknowledgements:
    description:
      - Reviewed findings, kept in the inventory. A finding whose C(fingerprint) matches an unexpired
        entry stays in the result, marked C(acknowledged), and no longer counts toward its check's status.
        After O(acknowledgements[].expires) it counts again and carries C(acknowledgement_expired).
    type: list
    elements: dict
    default: []
    suboptions:
      fingerprint:
        description: The 16 hex digits of the finding's C(fingerprint).
        type: str
        required: true
      reason:
        description: Why the finding is accepted.
        type: str
        required: true
      expires:
        description: Last day (YYYY-MM-DD) the acknowledgement holds.
        type: str
        required: true
      by:
        description: Who accepted it.
        type: str
      inventory_host:
        description: Set by the upkeep_fleet filter; ignored.
        type: str
  statement_timeout_ms:
    description: statement_timeout sent at connection start; every statement also runs read-only.
    type: int
    default: 10000
  max_workers:
    description: Databases reviewed at the same time (1-256).
    type: int
    default: 8
"""

EXAMPLES = r"""
- name: Review access to every database of the play
  upkeep_pg_access_review:
    databases: "{{ hostvars | upkeep_fleet(ansible_play_hosts, 'upkeep_postgres_databases') }}"
    exposed_schemas: [public, api]
    acknowledgements: "{{ hostvars | upkeep_fleet(ansible_play_hosts, 'upkeep_postgres_acknowledgements') }}"
  delegate_to: localhost
  run_once: true
  register: upkeep_postgres_access_result
"""

RETURN = r"""
status:
  description: Worst status of all checks (acknowledged findings do not count).
  returned: always
  type: str
  sample: warning
counts:
  description: Number of checks per status.
  returned: always
  type: dict
  sample: {ok: 3, warning: 2, critical: 0, unknown: 0}
checks:
  description:
    - Per database, one check per selected check (C(pg.privileged_roles), C(pg.password_expiry), C(pg.public_grants), C(pg.rls), C(pg.security_definer)); a database that cannot be reached gives
      one critical C(pg.access_review) check instead.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The check id.
      type: str
    target:
      description: The database's name, or user@host:port/database. Never a password.
      type: str
    host:
      description: The item's inventory_host, when given.
      type: str
      returned: when the item has inventory_host
    status:
      description: The worst severity among the unacknowledged findings (info counts as ok); unknown when a query failed.
      type: str
    summary:
      description: One line for people.
      type: str
    metrics:
      description: Counts and sizes with the unit in the name; C(findings) and C(findings_acknowledged) on every check.
      type: dict
    thresholds:
      description: The limits the findings were judged against.
      type: dict
    findings:
      description:
        - What to act on, worst first, at most O(max_findings). Each has severity, title, resource, detail,
          remediation (SQL where a safe statement exists, given as advice and never run), a stable C(fingerprint),
          and C(acknowledged) or C(acknowledgement_expired) when an acknowledgement matched.
      type: list
      elements: dict
    duration_ms:
      description: Time spent on this check.
      type: float
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.upkeep.ack import acknowledgement_spec
from ansible.module_utils.upkeep.pg import HAS_PSYCOPG, PSYCOPG_IMPORT_ERROR, pg_connection_spec
from ansible.module_utils.upkeep.pg_access import access_item_spec, access_review_databases
from ansible.module_utils.upkeep.result import ParameterError, module_result


def argument_spec():
    item = dict(pg_connection_spec(), inventory_host=dict(type="str"), **access_item_spec())
    spec = dict(pg_connection_spec(), **access_item_spec(with_defaults=True))
    spec.update(
        databases=dict(type="list", elements="dict", options=item),
        connect_timeout_s=dict(type="int", default=5),
        application_name=dict(type="str", default="upkeep"),
        acknowledgements=acknowledgement_spec(),
        statement_timeout_ms=dict(type="int", default=10000),
        max_workers=dict(type="int", default=8),
    )
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if not HAS_PSYCOPG:
        module.fail_json(msg=missing_required_lib("psycopg"), exception=str(PSYCOPG_IMPORT_ERROR))
    try:
        checks = access_review_databases(module.params)
    except ParameterError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**module_result(checks))


if __name__ == "__main__":
    main()
