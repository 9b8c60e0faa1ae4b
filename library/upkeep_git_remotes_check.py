#!/usr/bin/python
# -*- coding: utf-8 -*-
"""upkeep_git_remotes_check: every remote of a repository holds the same protected-branch heads."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: upkeep_git_remotes_check
short_description: Check that every remote of a code repository has the same head for the protected branches
description:
  - For each repository in O(repositories), reads every remote's heads of the protected branches with
    C(git ls-remote) and reports remotes that are behind (with the commit count from C(git rev-list --count)
    when the commits are in the local repository), that diverged, that lack a branch or cannot be reached.
  - Emits one C(backup.git) check per repository. A lagging remote is a warning, or critical at
    O(behind_critical_commits); a diverged, missing or unreachable remote is critical.
  - Read-only unless O(fetch) is set, which fetches the remotes' branches into their remote-tracking refs so
    commits can be counted; check mode never fetches.
  - Remote URLs may hold credentials, so results name remotes, never their URLs. git runs with argv lists,
    never prompts (C(GIT_TERMINAL_PROMPT=0), ssh in batch mode) and has a timeout per command.
  - Runs on the host that holds the repository; standard library and the git binary.
version_added: "0.1.0"
author: upkeep maintainers
requirements:
  - git
attributes:
  check_mode:
    support: full
    details: Read-only in check mode (O(fetch) is skipped and the check says so); reports a change only after a fetch.
  diff_mode:
    support: none
options:
  repositories:
    description: The repositories to check.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Label used as the check's target. Default the path.
        type: str
      path:
        description: Absolute path of the local repository (a clone or a bare repository).
        type: path
        required: true
      branches:
        description: Protected branches; default O(branches).
        type: list
        elements: str
      remotes:
        description: Remotes to compare; default every configured remote. A listed remote that is not configured is critical.
        type: list
        elements: str
      fetch:
        description: Fetch the protected branches from remotes whose heads are not local, to count commits.
        type: bool
      behind_warning_commits:
        description: Commits behind at which the check is a warning.
        type: int
      behind_critical_commits:
        description: Commits behind at which the check is critical.
        type: int
  branches:
    description: Default protected branches.
    type: list
    elements: str
    default: [main]
  remotes:
    description: Default remotes to compare (default every configured remote).
    type: list
    elements: str
  fetch:
    description: Default for O(repositories[].fetch).
    type: bool
    default: false
  behind_warning_commits:
    description: Default warning threshold.
    type: int
    default: 1
  behind_critical_commits:
    description: Default critical threshold.
    type: int
    default: 20
  timeout_s:
    description: Timeout of each git command in seconds.
    type: int
    default: 30
"""

EXAMPLES = r"""
- name: Compare the code repository's remotes
  upkeep_git_remotes_check:
    repositories:
      - path: /srv/app
        branches: [main, release]
  register: upkeep_files_backup_git_result
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
  description: One C(backup.git) check per repository.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: C(backup.git).
      type: str
    target:
      description: The item's name or path.
      type: str
    status:
      description: ok, warning or critical.
      type: str
    metrics:
      description: remotes, branches, remotes_lagging, max_behind_commits.
      type: dict
    findings:
      description: Remote behind, remote heads differ, diverged, branch missing, remote unreachable or not configured.
      type: list
      elements: dict
    remotes:
      description: Per remote and branch - remote, branch, head (12 hex digits), state (current, behind, differs, diverged, missing), behind_commits.
      type: list
      elements: dict
    fetched:
      description: Remotes fetched to count commits.
      type: list
      elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.upkeep.git_remotes import check_repositories
from ansible.module_utils.upkeep.result import ParameterError, module_result


def argument_spec():
    item = dict(name=dict(type="str"), path=dict(type="path", required=True),
                branches=dict(type="list", elements="str"), remotes=dict(type="list", elements="str"),
                fetch=dict(type="bool"), behind_warning_commits=dict(type="int"),
                behind_critical_commits=dict(type="int"))
    return dict(
        repositories=dict(type="list", elements="dict", options=item, required=True),
        branches=dict(type="list", elements="str", default=["main"]),
        remotes=dict(type="list", elements="str"),
        fetch=dict(type="bool", default=False),
        behind_warning_commits=dict(type="int", default=1),
        behind_critical_commits=dict(type="int", default=20),
        timeout_s=dict(type="int", default=30),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    git = module.get_bin_path("git", required=True)
    try:
        checks = check_repositories(git, module.params, check_mode=module.check_mode)
    except ParameterError as exc:
        module.fail_json(msg=str(exc))
    # A fetch only moves remote-tracking refs, but it did change the repository: say so.
    module.exit_json(**module_result(checks, changed=any(item.get("fetched") for item in checks)))


if __name__ == "__main__":
    main()
