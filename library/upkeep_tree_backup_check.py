#!/usr/bin/python
# -*- coding: utf-8 -*-
"""upkeep_tree_backup_check: compare asset and configuration trees with their backup copies."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: upkeep_tree_backup_check
short_description: Compare an asset or configuration directory with its backup copy by content checksums
description:
  - For each O(trees) item, walks the source and the copy (streaming, C(os.scandir)) and reports files
    missing from the copy, files that differ (size, or a streamed sha256 when sizes agree), files only in the
    copy, and how long the oldest change the copy does not hold has been unprotected, against the RPO
    (the guide - configuration and static assets < 24 hours).
  - Emits one C(backup.tree) check per item. A missing or changed file is a warning while it is younger than
    the RPO and critical after. The task fails only on unusable parameters.
  - Results name paths, sizes and the first 12 hex digits of hashes only, never a file's content, so a
    configuration tree (C(.env) files) can be checked safely.
  - Symlinks are compared by their target text and never followed, so nothing outside the trees is read.
  - Runs on the host that holds the trees; standard library only.
version_added: "0.1.0"
author: upkeep maintainers
attributes:
  check_mode:
    support: full
    details: Read-only; runs normally in check mode and never reports a change.
  diff_mode:
    support: none
options:
  trees:
    description: The (source, copy) pairs to compare.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Label used as the check's target. Default C(source -> copy).
        type: str
      source:
        description: Absolute path of the live directory.
        type: path
        required: true
      copy:
        description: Absolute path of its backup copy (a separate tree, not inside the source).
        type: path
        required: true
      exclude:
        description: fnmatch patterns (relative path or base name) left out on both sides; default O(exclude).
        type: list
        elements: str
      rpo_hours:
        description: Hours a change may stay unprotected before the check is critical; default O(rpo_hours).
        type: float
  exclude:
    description: Default exclude patterns for every tree.
    type: list
    elements: str
    default: []
  rpo_hours:
    description: Default RPO in hours.
    type: float
    default: 24
  max_findings:
    description: Findings listed per kind (missing, changed, extra, unreadable); the metrics count all.
    type: int
    default: 20
"""

EXAMPLES = r"""
- name: Compare the asset and configuration trees with their backups
  upkeep_tree_backup_check:
    trees:
      - name: public-images
        source: /srv/app/public/images
        copy: /backup/app/public/images
      - name: app-config
        source: /srv/app/config
        copy: /backup/app/config
        exclude: ["*.tmp"]
  register: upkeep_files_backup_tree_result
"""

RETURN = r"""
status:
  description: Worst status of all checks.
  returned: always
  type: str
counts:
  description: Number of checks per status.
  returned: always
  type: dict
checks:
  description: One C(backup.tree) check per tree, in order.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: C(backup.tree).
      type: str
    target:
      description: The item's name or C(source -> copy).
      type: str
    status:
      description: ok, warning or critical.
      type: str
    summary:
      description: One line for people.
      type: str
    metrics:
      description:
        - source_files, copy_files, source_bytes, missing_files, changed_files, extra_files, unreadable_files,
          hashed_bytes, source_newest_change_age_hours, copy_newest_change_age_hours, unprotected_change_age_hours.
      type: dict
    thresholds:
      description: The RPO unprotected_change_age_hours is judged against.
      type: dict
    findings:
      description: One per missing, changed, extra (info) or unreadable path, up to O(max_findings) each.
      type: list
      elements: dict
    source:
      description: The source path.
      type: str
    copy:
      description: The copy path.
      type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.upkeep.result import ParameterError, module_result
from ansible.module_utils.upkeep.tree_backup import check_trees, tree_item_spec


def argument_spec():
    item = dict(tree_item_spec(), name=dict(type="str"), source=dict(type="path", required=True),
                copy=dict(type="path", required=True))
    return dict(
        trees=dict(type="list", elements="dict", options=item, required=True),
        exclude=dict(type="list", elements="str", default=[]),
        rpo_hours=dict(type="float", default=24),
        max_findings=dict(type="int", default=20),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        checks = check_trees(module.params)
    except ParameterError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**module_result(checks))


if __name__ == "__main__":
    main()
