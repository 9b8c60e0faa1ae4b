# -*- coding: utf-8 -*-
"""The run summary every cadence publishes with set_stats (AWX keeps it as job artifacts)."""

from __future__ import annotations

import os
import re

import ansible.module_utils
from ansible.errors import AnsibleFilterError

# Controller-side plugins do not see ansible.cfg's module_utils path; extend the package path
# so this filter judges statuses with the very code the modules ship.
_MODULE_UTILS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "module_utils")
if os.path.normpath(_MODULE_UTILS) not in [os.path.normpath(p) for p in ansible.module_utils.__path__]:
    ansible.module_utils.__path__.append(os.path.normpath(_MODULE_UTILS))

from ansible.module_utils.upkeep.result import STATUSES, UNKNOWN, exit_code_for, worst  # noqa: E402

DOCUMENTATION = ""

MAX_PROBLEMS = 20
# Registers the summary reads: every upkeep role registers its module results as
# ``upkeep_<role>[_<step>]_result`` (the naming rule is checked by a test over roles/).
_REGISTER = re.compile(r"^upkeep_.+_result$")
_ROLES_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "roles"))
# The fail_on levels in the order of the exit codes (unknown, exit 3, ranks above critical).
FAIL_ON = {"warning": 1, "critical": 2, "unknown": 3, "never": None}


def _role_of(register):
    """The role a register belongs to (the longest role name it starts with), for the check id the
    report gives a failed task: ``task.<role>``."""
    try:
        roles = [name for name in os.listdir(_ROLES_DIR) if register.startswith(name + "_")]
    except OSError:
        roles = []
    return max(roles, key=len) if roles else register[: -len("_result")]


def _checks_of(register, result, host):
    """Checks of one registered result; a failed task without checks is one unknown check, with
    the id the report gives it."""
    if not isinstance(result, dict) or result.get("skipped"):
        return []
    if result.get("failed") and not result.get("checks"):
        return [{"id": "task.%s" % _role_of(register), "host": host, "target": "", "status": UNKNOWN,
                 "summary": " ".join(str(result.get("msg", "task failed")).split())[:200]}]
    return [dict(item, host=str(item.get("host") or host)) for item in result.get("checks") or []
            if isinstance(item, dict) and item.get("status") in STATUSES]


def upkeep_run_summary(hostvars, hosts, cadence):
    """A small JSON summary of a cadence run from every play host's registered results: worst
    status, counts, exit code and the first problems (host, id, target, status, summary).

    A run_once task registers the same result on every host: a check counts once per
    (host, id, target), and a failed task once per register and message.
    """
    checks, seen = [], set()
    for host in hosts or []:
        variables = hostvars[host]
        for register in sorted(name for name in variables.keys() if _REGISTER.match(name)):
            for item in _checks_of(register, variables[register], host):
                key = (item["id"], item["summary"]) if item["id"].startswith("task.") else (item["host"], item["id"], item.get("target", ""))
                if key not in seen:
                    seen.add(key)
                    checks.append(item)
    counts = {status: 0 for status in STATUSES}
    for item in checks:
        counts[item["status"]] += 1
    status = worst(item["status"] for item in checks) if checks else UNKNOWN
    problems = sorted(({key: item.get(key, "") for key in ("host", "id", "target", "status", "summary")}
                       for item in checks if item["status"] != "ok"),
                      key=lambda item: (-exit_code_for(item["status"]), item["host"], item["id"]))
    return {
        "cadence": cadence,
        "status": status,
        "exit_code": exit_code_for(status),
        "counts": counts,
        "checks_total": len(checks),
        "problems": problems[:MAX_PROBLEMS],
        "problems_total": len(problems),
    }


def upkeep_fails_on(summary, fail_on):
    """Whether a run with ``summary`` fails at the level ``fail_on`` (critical by default; unknown
    ranks above critical, as in the exit codes; never never fails)."""
    if fail_on not in FAIL_ON:
        raise AnsibleFilterError("upkeep_fail_on must be one of %s, got %r" % (", ".join(FAIL_ON), fail_on))
    level = FAIL_ON[fail_on]
    return level is not None and summary["exit_code"] >= level


def upkeep_verdict(summary, fail_on):
    """The message the play fails with: one verdict line, then one line per problem."""
    counts = summary["counts"]
    lines = ["upkeep verdict: %s %s is %s (upkeep_fail_on=%s): %s" % (
        summary["cadence"], "run", summary["status"].upper(), fail_on,
        ", ".join("%d %s" % (counts[s], s) for s in reversed(STATUSES)))]
    lines += ["%s %s %s %s: %s" % (p["status"].upper(), p["host"], p["id"], p["target"], p["summary"])
              for p in summary["problems"]]
    if summary["problems_total"] > len(summary["problems"]):
        lines.append("... and %d more (see the report)" % (summary["problems_total"] - len(summary["problems"])))
    return "\n".join(lines)


class FilterModule(object):
    def filters(self):
        return {"upkeep_run_summary": upkeep_run_summary, "upkeep_fails_on": upkeep_fails_on,
                "upkeep_verdict": upkeep_verdict}
