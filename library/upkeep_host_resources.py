#!/usr/bin/python
# -*- coding: utf-8 -*-
"""upkeep_host_resources: load, memory, disk and key services of the host it runs on."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: upkeep_host_resources
short_description: Check the load, memory, disks and key services of a host
description:
  - Runs on the host itself (standard library only) and emits C(host.*) checks (RV(checks)).
  - C(host.load) - the 5-minute load average per CPU core (C(/proc/loadavg)).
  - C(host.memory) - memory in use (MemTotal less MemAvailable, estimated on kernels without it) and swap in use
    (C(/proc/meminfo)).
  - C(host.disk) - per real filesystem of C(/proc/self/mounts) (pseudo filesystems, tmpfs, overlay and the second
    mount of a device left out), blocks and inodes in use. The fill-date estimate (C(days_until_full)) is added
    by the report from the history of C(disk_used_bytes).
  - C(host.services) - each of O(services) up - a systemd unit via C(systemctl is-active) where systemd runs,
    else processes matched by name or command line in C(/proc). A missing service is critical.
  - A file that cannot be read makes its check C(unknown) with the reason, never C(ok).
version_added: "0.1.0"
author: upkeep maintainers
attributes:
  check_mode:
    support: full
    details: Read-only; runs normally in check mode and never reports a change.
  diff_mode:
    support: none
options:
  checks:
    description: Which checks to run.
    type: list
    elements: str
    choices: [load, memory, disk, services]
    default: [load, memory, disk, services]
  load_warning_per_core:
    description: 5-minute load per core at or above which C(host.load) is a warning.
    type: float
    default: 1.5
  load_critical_per_core:
    description: 5-minute load per core at or above which C(host.load) is critical.
    type: float
    default: 3.0
  memory_warning_pct:
    description: Memory in use (%) at or above which C(host.memory) is a warning.
    type: float
    default: 85
  memory_critical_pct:
    description: Memory in use (%) at or above which C(host.memory) is critical.
    type: float
    default: 95
  swap_warning_pct:
    description: Swap in use (%) at or above which C(host.memory) is a warning.
    type: float
    default: 50
  swap_critical_pct:
    description: Swap in use (%) at or above which C(host.memory) is critical.
    type: float
    default: 80
  disk_warning_pct:
    description: Blocks in use (%, as df shows it) at or above which a C(host.disk) check is a warning.
    type: float
    default: 80
  disk_critical_pct:
    description: Blocks in use (%) at or above which a C(host.disk) check is critical.
    type: float
    default: 90
  inodes_warning_pct:
    description: Inodes in use (%) at or above which a C(host.disk) check is a warning.
    type: float
    default: 80
  inodes_critical_pct:
    description: Inodes in use (%) at or above which a C(host.disk) check is critical.
    type: float
    default: 90
  mounts_include:
    description:
      - Mount points checked whatever their filesystem type (a tmpfs, an overlay); one that is not mounted is
        an C(unknown) check.
    type: list
    elements: str
    default: []
  mounts_exclude:
    description: Mount point patterns (shell-style, C(/snap/*)) left out.
    type: list
    elements: str
    default: []
  services:
    description: The services that must be up; none configured, no C(host.services) check.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Label used as the check target; default the unit, process or cmdline.
        type: str
      unit:
        description: systemd unit asked with C(systemctl is-active) where systemd runs.
        type: str
      process:
        description:
          - Program name matched against each process's comm or the base name of its argv[0]; used when
            systemd does not run here or no O(services[].unit) is given.
        type: str
      cmdline:
        description: Text the process's command line must contain (with O(services[].process), both must match).
        type: str
  timeout_s:
    description: Deadline in seconds for each C(systemctl) call.
    type: float
    default: 10
"""

EXAMPLES = r"""
- name: Check this host's resources and key services
  upkeep_host_resources:
    services:
      - {name: web server, unit: nginx.service, process: nginx}
      - {name: node app, unit: app.service, process: node, cmdline: server.js}
      - {name: postgresql, unit: postgresql.service, process: postgres}
    mounts_exclude: ["/snap/*"]
  register: upkeep_host_resources_result
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
  description: C(host.load), C(host.memory), one C(host.disk) per mount and one C(host.services) per service.
  returned: always
  type: list
  elements: dict
  contains:
    metrics:
      description:
        - load - load_1m, load_5m, load_15m, cpu_cores, load_per_core_1m, load_per_core_5m.
        - memory - memory_total_bytes, memory_available_bytes, memory_used_pct, swap_total_bytes, swap_used_bytes,
          swap_used_pct.
        - disk - disk_total_bytes, disk_used_bytes, disk_free_bytes, disk_used_pct, inodes_total, inodes_used,
          inodes_used_pct.
        - services - up (1 or 0), processes_count when looked for as processes.
      type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.upkeep.host_resources import CHECKS, DEFAULTS, run_host_checks
from ansible.module_utils.upkeep.result import ParameterError, module_result


def main():
    numbers = {name: dict(type="float", default=value) for name, value in DEFAULTS.items() if isinstance(value, float)}
    module = AnsibleModule(
        argument_spec=dict(
            numbers,
            checks=dict(type="list", elements="str", choices=list(CHECKS), default=list(CHECKS)),
            mounts_include=dict(type="list", elements="str", default=[]),
            mounts_exclude=dict(type="list", elements="str", default=[]),
            services=dict(type="list", elements="dict", default=[], options=dict(
                name=dict(type="str"), unit=dict(type="str"), process=dict(type="str"), cmdline=dict(type="str"))),
        ),
        supports_check_mode=True,
    )
    try:
        checks = run_host_checks(module.params, systemctl=module.get_bin_path("systemctl"))
    except ParameterError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**module_result(checks))


if __name__ == "__main__":
    main()
