#!/usr/bin/python
# -*- coding: utf-8 -*-
"""upkeep_app_recovery: run the application recovery procedure and measure the time until healthy."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: upkeep_app_recovery
short_description: Run the application recovery command and measure the time until the app is healthy (app RTO)
description:
  - Runs O(command) on the app host (an argv list, never a shell string, with a timeout), then polls
    O(health_url) until it answers one of O(expected_status) (and, when given, the JSON field O(json_field)
    equals O(json_value)), and measures the command time and the time to healthy from the command's start
    against the objective (the guide - application recovery < 30 min).
  - Emits one C(dr.app_recovery) check - ok when healthy within the objective, critical when the command fails
    or times out, when the app is not healthy by O(health_deadline_s), or when recovery took longer than the objective.
  - The command's output is discarded (it may hold secrets); the health URL's userinfo and query never reach the result.
  - Part of the quarterly disaster-recovery drill (role upkeep_dr_drill); standard library only.
version_added: "0.1.0"
author: upkeep maintainers
attributes:
  check_mode:
    support: full
    details: In check mode the command is not run and nothing is probed; the check is unknown and says so.
  diff_mode:
    support: none
options:
  name:
    description: Label used as the check's target. Default the health URL without userinfo or query.
    type: str
  command:
    description: The recovery command as an argv list, e.g. C([systemctl, restart, app]).
    type: list
    elements: str
    required: true
  chdir:
    description: Directory the command runs in.
    type: path
  command_timeout_s:
    description: Seconds the command may run before it counts as failed.
    type: float
    default: 600
  health_url:
    description: The application's health endpoint, http or https.
    type: str
    required: true
  expected_status:
    description: HTTP statuses that mean healthy.
    type: list
    elements: int
    default: [200]
  json_field:
    description: Dotted path of a JSON field in the health response that must equal O(json_value), e.g. C(status).
    type: str
  json_value:
    description: The value O(json_field) must have (compared as text; numbers and booleans in their JSON form).
    type: str
  ca_file:
    description: CA bundle used to verify the health endpoint's certificate.
    type: path
  validate_certs:
    description: Verify the health endpoint's certificate.
    type: bool
    default: true
  request_timeout_s:
    description: Timeout of each health request in seconds.
    type: float
    default: 10
  poll_interval_s:
    description: Seconds between health requests.
    type: float
    default: 2
  health_deadline_s:
    description: Seconds after the command's start at which polling gives up; default the objective.
    type: float
  objective_minutes:
    description: Application recovery objective (RTO) in minutes.
    type: float
    default: 30
"""

EXAMPLES = r"""
- name: Restart the application and time its recovery
  upkeep_app_recovery:
    command: [systemctl, restart, app.service]
    health_url: https://app.example.com/api/health
    json_field: status
    json_value: healthy
    ca_file: /etc/ssl/certs/ca-certificates.crt
  register: upkeep_dr_drill_app_result
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
  description: One C(dr.app_recovery) check.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: C(dr.app_recovery).
      type: str
    status:
      description: ok, critical, or unknown in check mode.
      type: str
    metrics:
      description: command_ms, objective_ms, health_polls, time_to_healthy_ms (when healthy).
      type: dict
    command:
      description: The command's program name (not its arguments).
      type: str
    ran:
      description: Whether the command ran (false in check mode).
      type: bool
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.upkeep.dr import app_recovery
from ansible.module_utils.upkeep.result import ParameterError, module_result


def argument_spec():
    return dict(
        name=dict(type="str"),
        command=dict(type="list", elements="str", required=True),
        chdir=dict(type="path"),
        command_timeout_s=dict(type="float", default=600),
        health_url=dict(type="str", required=True),
        expected_status=dict(type="list", elements="int", default=[200]),
        json_field=dict(type="str"),
        json_value=dict(type="str"),
        ca_file=dict(type="path"),
        validate_certs=dict(type="bool", default=True),
        request_timeout_s=dict(type="float", default=10),
        poll_interval_s=dict(type="float", default=2),
        health_deadline_s=dict(type="float"),
        objective_minutes=dict(type="float", default=30),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        checks = [app_recovery(module.params, check_mode=module.check_mode)]
    except ParameterError as exc:
        module.fail_json(msg=str(exc))
    # Running a recovery command (a restart, a deploy) is an action, even when it went well.
    module.exit_json(**module_result(checks, changed=checks[0].get("ran") is True))


if __name__ == "__main__":
    main()
