#!/usr/bin/python
# -*- coding: utf-8 -*-
"""upkeep_restore_verify: restore a backup into a scratch database and prove it equal."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: upkeep_restore_verify
short_description: Restore a backup into a scratch database, prove its contents, measure the RTO
description:
  - Restores a backup into a new scratch database on the restore server (the connection options),
    named C(upkeep_scratch_...) and marked as scratch with a C(COMMENT ON DATABASE); parallel
    pg_restore jobs for custom and directory archives; encrypted upkeep backups are decrypted first;
    plain SQL dumps (also gzipped, decompressed on the fly) run through psql, except a dump that
    creates or switches databases (C(pg_dump --create), C(\connect)), which is never run.
  - Refuses, with a clear message and before writing anything, a O(backups[].target_database) that
    does not start with C(upkeep_scratch_), that is the source database, or that exists without
    upkeep's scratch marker. The source database is only read.
  - For an upkeep backup (with a manifest), first checks the files' sha256, then proves every table's
    row count and checksum, the sequences, the schema fingerprint (domains and their constraints
    included) and each materialized view's populated state equal to the manifest; every difference
    is a critical finding naming the object. A manifest from an older upkeep is verified with what
    it recorded (its fingerprint version; no materialized-view state). For a foreign dump, compares row counts and
    schema with the live O(backups[].source) and reports drift as information.
  - A restore that fails (pg_restore or psql exits with an error, a gzip stream or a plain dump cut
    short) is critical, with the tool's own root-cause message in the summary and the finding;
    after such a failure, tables the source holds rows of that came back empty are lost (critical),
    not drift.
  - Measures restore time (plus decryption - the RTO) and verification time separately; the RTO over
    O(backups[].rto_objective_s) is a warning. Checks free space first. Drops the scratch database
    afterwards unless O(backups[].keep), and drops scratch databases an interrupted earlier run left
    behind (their process is gone, or older than O(backups[].stale_after_s)). A database kept with
    O(backups[].keep) is marked as kept and never dropped by a later run; each run lists it (info)
    until a person drops it.
  - Records the outcome beside an upkeep backup (C(.verify.json)), which retention and
    C(upkeep_backup_check) read (a failed verification makes that backup's integrity critical).
  - Emits one C(restore.verify) check per item (metrics restore_ms, verify_ms, decrypt_ms, rto_ms,
    rto_objective_ms, tables, rows).
version_added: "0.1.0"
author: upkeep maintainers
requirements:
  - psycopg >= 3.1, cryptography (encrypted backups), pg_restore (psql for plain dumps)
attributes:
  check_mode:
    support: full
    details: Restores nothing, creates and drops nothing; reports what it would restore and which leftovers it would drop.
  diff_mode:
    support: none
options:
  backups:
    description: What to restore-verify; unset values come from the top-level options.
    type: list
    elements: dict
    suboptions:
      inventory_host: {description: Inventory host the check is filed under., type: str}
      backup: {description: "A manifest, a dump, or a directory (its newest upkeep backup, else its newest dump matching O(pattern)).", type: path}
      backup_name: {description: In a directory, only upkeep backups with this backup_name., type: str}
      pattern: {description: Glob for foreign dumps in a directory., type: str}
      name: {description: Label of the restore server., type: str}
      dsn: {description: Restore server connection string (secret)., type: str}
      host: {description: Restore server host., type: str}
      port: {description: Restore server port., type: int}
      user: {description: Role on the restore server; needs CREATEDB., type: str}
      password: {description: Its password., type: str}
      database: {description: Database to connect to for CREATE DATABASE (default postgres)., type: str}
      sslmode: {description: libpq sslmode., type: str, choices: [disable, allow, prefer, require, verify-ca, verify-full]}
      sslrootcert: {description: CA file., type: path}
      connect_timeout_s: {description: Connection timeout., type: int}
      passfile: {description: libpq password file., type: path}
      application_name: {description: application_name., type: str}
      source:
        description: The live source database (read only), to refuse it as a target and to compare a foreign dump with.
        type: dict
        options:
          name: {description: Label., type: str}
          dsn: {description: Connection string (secret)., type: str}
          host: {description: Host., type: str}
          port: {description: Port., type: int}
          user: {description: Role., type: str}
          password: {description: Password., type: str}
          database: {description: Database., type: str}
          sslmode: {description: sslmode., type: str, choices: [disable, allow, prefer, require, verify-ca, verify-full]}
          sslrootcert: {description: CA file., type: path}
          connect_timeout_s: {description: Connection timeout., type: int}
          passfile: {description: Password file., type: path}
          application_name: {description: application_name., type: str}
      target_database: {description: "Scratch database name (must start with upkeep_scratch_); default a new unique name.", type: str}
      keep: {description: Keep the scratch database after verifying., type: bool}
      jobs: {description: pg_restore jobs and checksum connections., type: int}
      decrypt_key_file: {description: X25519 private key (PEM) for encrypted backups., type: path}
      rto_objective_s: {description: Database recovery objective in seconds., type: float}
      work_dir: {description: Where an encrypted backup is decrypted (default the temp directory)., type: path}
      stale_after_s: {description: Age after which a leftover scratch database is dropped., type: float}
      record: {description: Record the outcome beside an upkeep backup., type: bool}
      pg_bindir: {description: Directory holding pg_restore., type: path}
  backup: {description: Default backup path., type: path}
  backup_name: {description: Default backup name filter., type: str}
  pattern: {description: Default foreign dump glob., type: str, default: "*"}
  name: {description: Default restore server label., type: str}
  dsn: {description: Default restore server connection string (secret)., type: str}
  host: {description: Default restore server host., type: str}
  port: {description: Default restore server port., type: int}
  user: {description: Default restore server role., type: str}
  password: {description: Default restore server password., type: str}
  database: {description: Default maintenance database., type: str}
  sslmode: {description: Default sslmode., type: str, choices: [disable, allow, prefer, require, verify-ca, verify-full]}
  sslrootcert: {description: Default CA file., type: path}
  connect_timeout_s: {description: Default connection timeout., type: int, default: 5}
  passfile: {description: Default password file., type: path}
  application_name: {description: Default application_name., type: str, default: upkeep}
  source:
    description: Default source database (read only).
    type: dict
    options:
      name: {description: Label., type: str}
      dsn: {description: Connection string (secret)., type: str}
      host: {description: Host., type: str}
      port: {description: Port., type: int}
      user: {description: Role., type: str}
      password: {description: Password., type: str}
      database: {description: Database., type: str}
      sslmode: {description: sslmode., type: str, choices: [disable, allow, prefer, require, verify-ca, verify-full]}
      sslrootcert: {description: CA file., type: path}
      connect_timeout_s: {description: Connection timeout., type: int}
      passfile: {description: Password file., type: path}
      application_name: {description: application_name., type: str}
  target_database: {description: Default scratch database name., type: str}
  keep: {description: Keep the scratch database., type: bool, default: false}
  jobs: {description: Default parallel jobs., type: int, default: 2}
  decrypt_key_file: {description: Default private key., type: path}
  rto_objective_s: {description: Default RTO objective (seconds)., type: float, default: 3600}
  work_dir: {description: Default decryption directory., type: path}
  stale_after_s: {description: Default leftover age (seconds)., type: float, default: 86400}
  record: {description: Record outcomes beside upkeep backups., type: bool, default: true}
  pg_bindir: {description: Default directory holding pg_restore., type: path}
"""

EXAMPLES = r"""
- name: Restore-verify the newest backup of the application database
  upkeep_restore_verify:
    backup: /var/backups/postgres
    backup_name: app
    host: staging-db.example.com
    user: upkeep_restore
    passfile: /etc/upkeep/pgpass
    decrypt_key_file: /etc/upkeep/backup-recipient.key
    rto_objective_s: 3600
"""

RETURN = r"""
checks:
  description: One C(restore.verify) check per item.
  returned: always
  type: list
  elements: dict
restores:
  description: Per item, scratch_database, kept, restore_ms, verify_ms, decrypt_ms, rto_ms, cleaned (leftovers dropped), kept_earlier (scratch databases kept with keep that still exist; never dropped by upkeep) and the backup restored.
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
from ansible.module_utils.upkeep.pg import HAS_PSYCOPG, PSYCOPG_IMPORT_ERROR, pg_connection_spec
from ansible.module_utils.upkeep.restore import verify_backups
from ansible.module_utils.upkeep.result import ParameterError, module_result


def item_spec():
    return dict(backup=dict(type="path"), backup_name=dict(type="str"), pattern=dict(type="str"),
                source=dict(type="dict", options=pg_connection_spec()), target_database=dict(type="str"),
                keep=dict(type="bool"), jobs=dict(type="int"), decrypt_key_file=dict(type="path", no_log=False),
                rto_objective_s=dict(type="float"), work_dir=dict(type="path"), stale_after_s=dict(type="float"),
                record=dict(type="bool"), pg_bindir=dict(type="path"))


def argument_spec():
    item = dict(pg_connection_spec(), inventory_host=dict(type="str"), **item_spec())
    spec = dict(pg_connection_spec(), **item_spec())
    spec.update(backups=dict(type="list", elements="dict", options=item),
                connect_timeout_s=dict(type="int", default=5), application_name=dict(type="str", default="upkeep"),
                pattern=dict(type="str", default="*"), keep=dict(type="bool", default=False),
                jobs=dict(type="int", default=2), rto_objective_s=dict(type="float", default=3600),
                stale_after_s=dict(type="float", default=86400), record=dict(type="bool", default=True))
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if not HAS_PSYCOPG:
        module.fail_json(msg=missing_required_lib("psycopg"), exception=str(PSYCOPG_IMPORT_ERROR))
    try:
        checks, restores = verify_backups(module.params, check_mode=module.check_mode)
    except ParameterError as exc:
        module.fail_json(msg=str(exc))
    changed = any(r.get("kept") for r in restores)
    module.exit_json(**module_result(checks, changed=changed, restores=restores))


if __name__ == "__main__":
    main()
