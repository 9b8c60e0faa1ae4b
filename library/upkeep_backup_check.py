#!/usr/bin/python
# -*- coding: utf-8 -*-
"""upkeep_backup_check: freshness, integrity, size and encryption of backups."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: upkeep_backup_check
short_description: Check backups for freshness against the RPO, integrity, size change and encryption policy
description:
  - For each backup source, a directory of dumps or a Supabase project, emits C(backup.freshness),
    C(backup.integrity), C(backup.size) and C(backup.encryption) checks (Supabase - freshness and integrity).
  - A directory may hold upkeep backups (C(upkeep_pg_backup), with manifests) and foreign pg_dump files
    matched by O(sources[].pattern) in custom, directory, plain or gzipped plain format.
  - Freshness - the newest backup's age (upkeep - its snapshot time; foreign - the file time; Supabase -
    the newest COMPLETED backup, or the newest point-in-time recovery point with PITR) against O(sources[].rpo_hours).
  - Integrity of the newest backup - sizes and sha256 against the manifest, C(pg_restore --list) reads the
    archive, with O(sources[].deep) a full read of a foreign archive (C(pg_restore -f /dev/null)), a plain dump
    ends with pg_dump's completion trailer, a gzip stream decompresses, an encrypted dump authenticates
    with the configured key.
  - Size - change of the newest backup against the previous one.
  - Encryption - every backup encrypted when O(sources[].encryption_required), the newest readable with
    O(sources[].decrypt_key_file).
  - Read-only. Fleet mode - one call for every source of the play, each item may carry C(inventory_host).
version_added: "0.1.0"
author: upkeep maintainers
requirements:
  - cryptography (encrypted backups), httpx (Supabase), pg_restore (archive checks)
attributes:
  check_mode:
    support: full
    details: Read-only; runs normally in check mode and never reports a change.
  diff_mode:
    support: none
options:
  sources:
    description: The backup sources; unset values come from the top-level options of the same name.
    type: list
    elements: dict
    suboptions:
      inventory_host: {description: Inventory host the checks are filed under., type: str}
      name: {description: Label (check target)., type: str}
      type: {description: Kind of source., type: str, choices: [directory, supabase]}
      path: {description: Backup directory., type: path}
      pattern: {description: Glob for foreign dump files in the directory., type: str}
      backup_name: {description: Only upkeep backups made with this backup_name., type: str}
      rpo_hours: {description: RPO objective; a newest backup this old is critical., type: float}
      freshness_warning_hours: {description: Age that is a warning (default 80% of the RPO)., type: float}
      size_change_warning_pct: {description: Size change against the previous backup that is a warning., type: float}
      size_change_critical_pct: {description: Size change that is critical., type: float}
      encryption_required: {description: Every backup must be encrypted., type: bool}
      decrypt_key_file: {description: X25519 private key (PEM) that must be able to read the backups., type: path}
      deep: {description: Read a foreign archive's data in full, and decrypt an encrypted one in full., type: bool}
      project_ref: {description: Supabase project reference., type: str}
      api_url: {description: Supabase Management API base URL., type: str}
      access_token: {description: Supabase access token (secret)., type: str}
      ca_file: {description: CA file to verify the API's certificate., type: path}
      timeout_s: {description: API request timeout in seconds., type: float}
      pg_bindir: {description: Directory holding pg_restore., type: path}
  name: {description: Label of the single source (without O(sources))., type: str}
  type: {description: Default kind of source., type: str, choices: [directory, supabase], default: directory}
  path: {description: Default backup directory., type: path}
  pattern: {description: Default glob for foreign dumps., type: str, default: "*"}
  backup_name: {description: Default upkeep backup name filter., type: str}
  rpo_hours: {description: Default RPO objective in hours., type: float, default: 24}
  freshness_warning_hours: {description: Default warning age in hours., type: float}
  size_change_warning_pct: {description: Default size change warning., type: float, default: 50}
  size_change_critical_pct: {description: Default size change critical., type: float, default: 90}
  encryption_required: {description: Default encryption policy., type: bool, default: false}
  decrypt_key_file: {description: Default private key to prove readability., type: path}
  deep: {description: Default full-read setting., type: bool, default: true}
  project_ref: {description: Default Supabase project., type: str}
  api_url: {description: Default Management API URL., type: str, default: "https://api.supabase.com"}
  access_token: {description: Default Supabase access token (secret)., type: str}
  ca_file: {description: Default CA file., type: path}
  timeout_s: {description: Default API timeout., type: float, default: 10}
  pg_bindir: {description: Default directory holding pg_restore., type: path}
"""

EXAMPLES = r"""
- name: Check every host's backups
  upkeep_backup_check:
    sources: "{{ hostvars | upkeep_fleet(ansible_play_hosts, 'upkeep_backup_sources') }}"
    rpo_hours: 24
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
checks:
  description: Per source, backup.freshness, backup.integrity, backup.size and backup.encryption checks.
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

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.upkeep.backup_check import check_sources, source_spec
from ansible.module_utils.upkeep.result import ParameterError, module_result


def argument_spec():
    top = {key: value for key, value in source_spec().items() if key != "inventory_host"}
    top.update(type=dict(type="str", choices=["directory", "supabase"], default="directory"),
               pattern=dict(type="str", default="*"), rpo_hours=dict(type="float", default=24),
               size_change_warning_pct=dict(type="float", default=50),
               size_change_critical_pct=dict(type="float", default=90),
               encryption_required=dict(type="bool", default=False), deep=dict(type="bool", default=True),
               api_url=dict(type="str", default="https://api.supabase.com"), timeout_s=dict(type="float", default=10),
               sources=dict(type="list", elements="dict", options=source_spec()))
    return top


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        checks = check_sources(module.params)
    except ParameterError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**module_result(checks))


if __name__ == "__main__":
    main()
