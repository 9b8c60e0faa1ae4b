#!/usr/bin/python
# -*- coding: utf-8 -*-
"""upkeep_auth_audit: failed logins, brute force, credential stuffing and suspicious successes."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: upkeep_auth_audit
short_description: Audit a host's auth logs for failed logins, brute force and a success after a burst of failures
description:
  - Reads sshd login lines from syslog-style auth logs (C(auth.log), C(secure); current, rotated and
    gzip files by glob) and the application's auth events from JSON logs (event names configurable)
    over the last O(window_days).
  - Emits C(auth.failed_logins) (failures, successes, invalid user names, top IPs and users),
    C(auth.brute_force) (an IP with O(brute_force_failures) failures within O(brute_force_window_s),
    or failures for O(stuffing_users) different users - credential stuffing; warning) and
    C(auth.compromise) (a successful login from an IP after O(burst_failures) failures from it within
    O(brute_force_window_s); critical, a possible compromise). Suspicious IPs come with their evidence.
  - Addresses in O(allowlist) are counted but never flagged.
  - Runs on the host (standard library only). Supabase's C(auth.audit_log_entries) and GeoIP lookups
    are not part of this module.
version_added: "0.1.0"
author: upkeep maintainers
attributes:
  check_mode:
    support: full
    details: Read-only; runs normally in check mode and never reports a change.
  diff_mode:
    support: none
options:
  sources:
    description: The auth log sources.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Label of the source.
        type: str
        required: true
      format:
        description: C(syslog) for sshd lines in syslog text, C(json) for application auth events.
        type: str
        required: true
        choices: [syslog, json]
      paths:
        description: Glob patterns of the files, e.g. C(/var/log/auth.log*).
        type: list
        elements: str
        required: true
      fields:
        description: For C(json), the (dotted) field of each role C(timestamp), C(event), C(ip), C(user); common names otherwise.
        type: dict
      failure_events:
        description: For C(json), event names that are failed logins (default common names such as C(login_failed)).
        type: list
        elements: str
      success_events:
        description: For C(json), event names that are successful logins (default common names such as C(login_success)).
        type: list
        elements: str
  window_days:
    description: Length of the window read, ending now.
    type: float
    default: 7
  allowlist:
    description: IP addresses and networks (CIDR) never flagged, e.g. the office and the monitoring hosts.
    type: list
    elements: str
    default: []
  brute_force_failures:
    description: Failures from one IP within O(brute_force_window_s) that make it a brute force.
    type: int
    default: 10
  brute_force_window_s:
    description: The sliding window (seconds) for brute force and for a success after failures.
    type: float
    default: 600
  stuffing_users:
    description: Distinct user names failing from one IP in the window that make it credential stuffing.
    type: int
    default: 5
  burst_failures:
    description: Failures from an IP within O(brute_force_window_s) before a success from it that make the success suspicious.
    type: int
    default: 5
  failed_logins_warning:
    description: Failed logins in the window at or above which C(auth.failed_logins) is a warning; omit to only report.
    type: int
  failed_logins_critical:
    description: Failed logins in the window at or above which C(auth.failed_logins) is critical; omit to only report.
    type: int
"""

EXAMPLES = r"""
- name: Audit the logins of the last week
  upkeep_auth_audit:
    sources:
      - name: sshd
        format: syslog
        paths: [/var/log/auth.log*]
      - name: app
        format: json
        paths: [/var/log/app/app.log*]
        failure_events: [auth.login_failed]
        success_events: [auth.login_succeeded]
    allowlist: [192.0.2.0/24]
  register: upkeep_auth_audit_result
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
  description: C(auth.failed_logins), C(auth.brute_force), C(auth.compromise); all unknown when no auth log could be read.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The check id.
      type: str
    status:
      description: ok, warning, critical or unknown.
      type: str
    metrics:
      description:
        - auth.failed_logins - failed_logins, successful_logins, invalid_user_attempts, source_ips, users_tried,
          allowlisted_failures.
        - auth.brute_force - brute_force_ips, credential_stuffing_ips.
        - auth.compromise - success_after_failures_ips.
      type: dict
    findings:
      description: One per suspicious IP, with the evidence and what to do.
      type: list
      elements: dict
    top_ips:
      description: auth.failed_logins - the IPs with the most failures.
      type: list
      elements: dict
      returned: for auth.failed_logins when a log was read
suspicious_ips:
  description: Flagged IPs with reasons (brute_force, credential_stuffing, success_after_failures) and evidence.
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.upkeep.auth_audit import audit, source_spec
from ansible.module_utils.upkeep.result import ParameterError, module_result


def argument_spec():
    return dict(
        sources=dict(type="list", elements="dict", required=True, options=source_spec()),
        window_days=dict(type="float", default=7),
        allowlist=dict(type="list", elements="str", default=[]),
        brute_force_failures=dict(type="int", default=10),
        brute_force_window_s=dict(type="float", default=600),
        stuffing_users=dict(type="int", default=5),
        burst_failures=dict(type="int", default=5),
        failed_logins_warning=dict(type="int"),
        failed_logins_critical=dict(type="int"),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        checks, extra = audit(module.params)
    except ParameterError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**module_result(checks, **extra))


if __name__ == "__main__":
    main()
