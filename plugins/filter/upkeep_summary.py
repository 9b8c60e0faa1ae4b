# -*- coding: utf-8 -*-
"""The run summary every cadence publishes with set_stats (AWX keeps it as job artifacts)."""

from __future__ import annotations

import os

import ansible.module_utils

# Controller-side plugins do not see ansible.cfg's module_utils path; extend the package path
# so this filter judges statuses with the very code the modules ship.
_MODULE_UTILS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "module_utils")
if os.path.normpath(_MODULE_UTILS) not in [os.path.normpath(p) for p in ansible.module_utils.__path__]:
    ansible.module_utils.__path__.append(os.path.normpath(_MODULE_UTILS))

from ansible.module_utils.upkeep.result import STATUSES, UNKNOWN, exit_code_for, worst  # noqa: E402

DOCUMENTATION = ""

MAX_PROBLEMS = 20


def _checks_of(result):
    """Checks of one registered result; a failed task counts as one unknown check."""
    if not isinstance(result, dict) or result.get("skipped"):
        return []
    if result.get("failed") and not result.get("checks"):
        return [{"id": "task.failed", "target": "", "status": UNKNOWN,
                 "summary": str(result.get("msg", "task failed"))[:200]}]
    return [item for item in result.get("checks") or [] if isinstance(item, dict) and item.get("status") in STATUSES]


def upkeep_run_summary(results, cadence):
    """A small JSON summary of the registered results of a cadence run: worst status, counts,
    exit code and the first problems (host, id, target, status, summary)."""
    checks = [item for result in results or [] for item in _checks_of(result)]
    counts = {status: 0 for status in STATUSES}
    for item in checks:
        counts[item["status"]] += 1
    status = worst(item["status"] for item in checks) if checks else UNKNOWN
    problems = [
        {key: item.get(key, "") for key in ("host", "id", "target", "status", "summary")}
        for item in checks if item["status"] != "ok"
    ]
    return {
        "cadence": cadence,
        "status": status,
        "exit_code": exit_code_for(status),
        "counts": counts,
        "checks_total": len(checks),
        "problems": problems[:MAX_PROBLEMS],
        "problems_total": len(problems),
    }


class FilterModule(object):
    def filters(self):
        return {"upkeep_run_summary": upkeep_run_summary}
