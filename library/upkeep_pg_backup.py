#!/usr/bin/python
# -*- coding: utf-8 -*-
"""upkeep_pg_backup: pg_dump with a manifest that proves what the dump holds."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: upkeep_pg_backup
short_description: Back up PostgreSQL databases with pg_dump and a content manifest, encryption and retention
description:
  - For each database, opens a REPEATABLE READ transaction, exports its snapshot with C(pg_export_snapshot())
    and, while it stays open, runs C(pg_dump --snapshot) (custom format, or directory format with
    parallel O(jobs)). Connections importing the same snapshot meanwhile compute every table's row
    count and an order-independent checksum (a 64-bit hash of each row summed in the database, so no
    table is read into memory), a schema fingerprint (tables, views, sequences, functions, enums,
    domains with their constraints, extensions; version 2) and whether each materialized view is
    populated. Sequence values are read from the archive.
  - Writes C(<backup_name>-<UTC time>.manifest.json) beside the dump with the file sizes and sha256,
    server version, start, end and snapshot time, and the content fingerprint. C(upkeep_restore_verify)
    proves a restore against it.
  - With O(encrypt_to) the dump is encrypted for an X25519 recipient public key (scheme
    C(upkeep-x25519-aes256gcm/1), streaming AES-256-GCM chunks); the manifest names the scheme and the
    key's sha256, never a key, and the plaintext dump is removed.
  - Retention keeps the newest O(retention.keep_last), the last backup of each of the last
    O(retention.keep_daily) days, O(retention.keep_weekly) weeks and O(retention.keep_monthly) months,
    and never deletes the newest verified (else newest intact) backup.
  - C(pg_dump) and C(pg_restore) are found on PATH, in O(pg_bindir) or the newest C(/usr/lib/postgresql/*/bin),
    and run with argv lists; the password travels in the environment, never on the command line.
  - Emits one C(backup.run) check per database; a failed dump is a C(critical) check, not a task failure.
version_added: "0.1.0"
author: upkeep maintainers
requirements:
  - psycopg >= 3.1 and cryptography on the host that runs the backup (usually the controller)
  - pg_dump and pg_restore of at least the server's major version
attributes:
  check_mode:
    support: full
    details: Makes no backup and deletes nothing; the check lists what retention would delete.
  diff_mode:
    support: none
options:
  databases:
    description:
      - The databases to back up, one after the other. Each item takes the connection options and the
        backup options below; unset values come from the top-level options.
      - Omit it to back up the single database the top-level options describe.
    type: list
    elements: dict
    suboptions:
      inventory_host: {description: The inventory host this database belongs to; its check carries it as C(host)., type: str}
      name: {description: Label of the database (check target)., type: str}
      dsn: {description: libpq connection string or URI (secret)., type: str}
      host: {description: Host name, IP address or socket directory., type: str}
      port: {description: Port., type: int}
      user: {description: Role to connect as (needs to read every table)., type: str}
      password: {description: Password. Prefer a passfile., type: str}
      database: {description: Database name., type: str}
      sslmode: {description: libpq sslmode., type: str, choices: [disable, allow, prefer, require, verify-ca, verify-full]}
      sslrootcert: {description: CA file to verify the server., type: path}
      connect_timeout_s: {description: Connection timeout in seconds., type: int}
      passfile: {description: libpq password file (mode 0600)., type: path}
      application_name: {description: Shown in pg_stat_activity., type: str}
      directory: {description: Directory the dump and manifest go to., type: path}
      backup_name: {description: "File name prefix, 1-64 of [A-Za-z0-9._-]; default the label or database name.", type: str}
      format: {description: pg_dump format., type: str, choices: [custom, directory]}
      jobs: {description: pg_dump parallel jobs (directory format only)., type: int}
      compress: {description: pg_dump compression level 0-9., type: int}
      checksum_jobs: {description: Connections computing table checksums in parallel., type: int}
      encrypt_to: {description: X25519 recipient public key (PEM file) to encrypt the dump for (custom format)., type: path}
      retention:
        description: Retention for this database's backups.
        type: dict
        suboptions:
          keep_last: {description: Newest backups kept., type: int}
          keep_daily: {description: Days whose last backup is kept., type: int}
          keep_weekly: {description: ISO weeks whose last backup is kept., type: int}
          keep_monthly: {description: Months whose last backup is kept., type: int}
      apply_retention: {description: Delete backups retention does not keep., type: bool}
      timeout_s: {description: Longest pg_dump may run., type: int}
      pg_bindir: {description: Directory holding pg_dump and pg_restore., type: path}
  name: {description: Label of the single database., type: str}
  dsn: {description: Default connection string or URI (secret)., type: str}
  host: {description: Default host., type: str}
  port: {description: Default port., type: int}
  user: {description: Default role., type: str}
  password: {description: Default password., type: str}
  database: {description: Default database name., type: str}
  sslmode: {description: Default sslmode., type: str, choices: [disable, allow, prefer, require, verify-ca, verify-full]}
  sslrootcert: {description: Default CA file., type: path}
  connect_timeout_s: {description: Default connection timeout in seconds., type: int, default: 5}
  passfile: {description: Default libpq password file., type: path}
  application_name: {description: Default application_name., type: str, default: upkeep}
  directory: {description: Default backup directory., type: path}
  backup_name: {description: Default file name prefix., type: str}
  format: {description: Default pg_dump format., type: str, choices: [custom, directory], default: custom}
  jobs: {description: Default pg_dump parallel jobs (directory format only)., type: int, default: 1}
  compress: {description: Default pg_dump compression level (pg_dump's default when unset)., type: int}
  checksum_jobs: {description: Default connections computing checksums in parallel., type: int, default: 1}
  encrypt_to: {description: Default recipient public key (PEM)., type: path}
  retention:
    description: Default retention.
    type: dict
    suboptions:
      keep_last: {description: Newest backups kept., type: int, default: 7}
      keep_daily: {description: Days whose last backup is kept., type: int, default: 7}
      keep_weekly: {description: ISO weeks whose last backup is kept., type: int, default: 4}
      keep_monthly: {description: Months whose last backup is kept., type: int, default: 6}
  apply_retention: {description: Delete backups retention does not keep., type: bool, default: true}
  timeout_s: {description: Longest pg_dump may run (seconds)., type: int, default: 21600}
  pg_bindir: {description: Directory holding pg_dump and pg_restore., type: path}
"""

EXAMPLES = r"""
- name: Back up the application database, encrypted, keeping 7 daily and 4 weekly backups
  upkeep_pg_backup:
    host: db.example.com
    database: app
    user: backup
    passfile: /etc/upkeep/pgpass
    directory: /var/backups/postgres
    encrypt_to: /etc/upkeep/backup-recipient.pub
    retention: {keep_last: 3, keep_daily: 7, keep_weekly: 4, keep_monthly: 6}
"""

RETURN = r"""
checks:
  description: One C(backup.run) check per database (metrics dump_ms, checksum_ms, size_bytes, tables, rows, deleted_backups).
  returned: always
  type: list
  elements: dict
backups:
  description: Per database, C(manifest_path) and C(dump_path) of the new backup and the C(deleted) manifest paths (C(would_delete) in check mode).
  returned: always
  type: list
  elements: dict
status:
  description: Worst status of all checks.
  returned: always
  type: str
counts:
  description: Number of checks per status.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.upkeep.backup import BACKUP_ITEM_KEYS, backup_databases
from ansible.module_utils.upkeep.backup_crypto import HAS_CRYPTOGRAPHY
from ansible.module_utils.upkeep.pg import HAS_PSYCOPG, PSYCOPG_IMPORT_ERROR, pg_connection_spec
from ansible.module_utils.upkeep.result import ParameterError, module_result


def retention_spec(with_defaults):
    defaults = {"keep_last": 7, "keep_daily": 7, "keep_weekly": 4, "keep_monthly": 6}
    return {key: dict(type="int", default=value if with_defaults else None) for key, value in defaults.items()}


def backup_spec():
    return dict(directory=dict(type="path"), backup_name=dict(type="str"),
                format=dict(type="str", choices=["custom", "directory"]), jobs=dict(type="int"),
                compress=dict(type="int"), checksum_jobs=dict(type="int"), encrypt_to=dict(type="path"),
                retention=dict(type="dict", options=retention_spec(False)), apply_retention=dict(type="bool"),
                timeout_s=dict(type="int"), pg_bindir=dict(type="path"))


def argument_spec():
    item = dict(pg_connection_spec(), inventory_host=dict(type="str"), **backup_spec())
    spec = dict(pg_connection_spec(), **backup_spec())
    spec.update(
        databases=dict(type="list", elements="dict", options=item),
        connect_timeout_s=dict(type="int", default=5), application_name=dict(type="str", default="upkeep"),
        format=dict(type="str", choices=["custom", "directory"], default="custom"), jobs=dict(type="int", default=1),
        checksum_jobs=dict(type="int", default=1), retention=dict(type="dict", options=retention_spec(True), default={}),
        apply_retention=dict(type="bool", default=True), timeout_s=dict(type="int", default=21600),
    )
    assert set(BACKUP_ITEM_KEYS) <= set(spec)
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if not HAS_PSYCOPG:
        module.fail_json(msg=missing_required_lib("psycopg"), exception=str(PSYCOPG_IMPORT_ERROR))
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"))
    try:
        checks, backups = backup_databases(module.params, check_mode=module.check_mode)
    except ParameterError as exc:
        module.fail_json(msg=str(exc))
    changed = any(b.get("changed") or b.get("deleted") for b in backups)
    module.exit_json(**module_result(checks, changed=changed, backups=backups))


if __name__ == "__main__":
    main()
