#!/usr/bin/python
# -*- coding: utf-8 -*-
"""upkeep_dr_summary: turn a disaster-recovery drill's phase results into its DR summary checks."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: upkeep_dr_summary
short_description: Summarise a disaster-recovery drill - each phase's measured time against its objective
description:
  - Takes the registered results of the drill's phases (database restore with C(upkeep_restore_verify),
    application recovery with C(upkeep_app_recovery), the backup check with C(upkeep_backup_check)) and emits
    C(dr.drill) - each phase with its measured time, its objective (database recovery < 1 h, application
    recovery < 30 min, RPO < 1 h, full system recovery < 2 h), pass/fail and the evidence - plus C(dr.monitoring) and C(dr.communication),
    reported as unknown ("not configured") until alerting exists, never as passed.
  - A phase whose task was skipped or failed, or reported no time, is unknown, never passed.
  - RPO is the time from the newest backup's snapshot (from the restore or backup check) to now.
  - Pure computation, no side effect; standard library only.
version_added: "0.1.0"
author: upkeep maintainers
attributes:
  check_mode:
    support: full
    details: Runs normally in check mode (its inputs then say what was not measured); never reports a change.
  diff_mode:
    support: none
options:
  name:
    description: Label used as the checks' target.
    type: str
    default: dr-drill
  restore_result:
    description: Registered result of the drill's restore (C(upkeep_restore_verify)).
    type: dict
  app_recovery_result:
    description: Registered result of C(upkeep_app_recovery).
    type: dict
  backup_result:
    description: Registered result of C(upkeep_backup_check) (newest backup and its snapshot time).
    type: dict
  objectives:
    description: Objectives in minutes; unset ones keep the guide's values.
    type: dict
    suboptions:
      db_recovery:
        description: Database recovery objective (minutes).
        type: float
        default: 60
      app_recovery:
        description: Application recovery objective (minutes).
        type: float
        default: 30
      rpo:
        description: Recovery point objective (minutes of data loss).
        type: float
        default: 60
      full_recovery:
        description: Full system recovery objective (minutes), database plus application recovery.
        type: float
        default: 120
"""

EXAMPLES = r"""
- name: Summarise the drill
  upkeep_dr_summary:
    restore_result: "{{ upkeep_dr_drill_restore_result | default({}) }}"
    app_recovery_result: "{{ upkeep_dr_drill_app_result | default({}) }}"
    backup_result: "{{ upkeep_dr_drill_backup_result | default({}) }}"
"""

RETURN = r"""
status:
  description: Worst status of the checks.
  returned: always
  type: str
counts:
  description: Number of checks per status.
  returned: always
  type: dict
checks:
  description: C(dr.drill), C(dr.monitoring) and C(dr.communication).
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The check id.
      type: str
    status:
      description: For C(dr.drill) the worst of the measured phases; unknown for the unconfigured tests.
      type: str
    metrics:
      description: db_recovery_ms, app_recovery_ms, rpo_ms (those measured).
      type: dict
    phases:
      description: Per phase - phase, status, measured_ms, objective_ms, evidence, reason.
      type: list
      elements: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.upkeep.dr import drill_summary
from ansible.module_utils.upkeep.result import ParameterError, module_result


def argument_spec():
    objectives = dict(db_recovery=dict(type="float", default=60), app_recovery=dict(type="float", default=30),
                      rpo=dict(type="float", default=60), full_recovery=dict(type="float", default=120))
    return dict(
        name=dict(type="str", default="dr-drill"),
        restore_result=dict(type="dict"),
        app_recovery_result=dict(type="dict"),
        backup_result=dict(type="dict"),
        objectives=dict(type="dict", options=objectives),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    try:
        checks = drill_summary(params["restore_result"], params["app_recovery_result"], params["backup_result"],
                               objectives=params["objectives"], target=params["name"])
    except ParameterError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**module_result(checks))


if __name__ == "__main__":
    main()
