"""The run summary (plugins/filter/upkeep_summary.py) finds a role's results by their register
names alone: every task that calls one of upkeep's modules registers ``upkeep_<role>[_<step>]_result``.
A task that breaks the rule would drop its checks from the AWX summary and the play's verdict
without a word, so the rule is checked here over every role's tasks."""

from __future__ import annotations

import pathlib
import re

import yaml

REPO = pathlib.Path(__file__).resolve().parents[3]
MODULES = {path.stem for path in (REPO / "library").glob("upkeep_*.py")}
# Calls that return no checks, on purpose outside the rule (so the summary never reads them).
NO_CHECKS = {"upkeep_auth_audit_collected": "the controller-side read of Supabase's audit table returns rows "
                                             "(e-mails, IPs) for the per-host judgement, which registers the checks"}


def _tasks(items):
    for task in items or []:
        if not isinstance(task, dict):
            continue
        yield task
        for key in ("block", "rescue", "always"):
            yield from _tasks(task.get(key))


def _module_of(task):
    return next((key for key in task if key in MODULES or key.split(".")[-1] in MODULES), None)


def test_every_upkeep_module_call_registers_its_result_under_the_rule():
    offenders, seen = [], 0
    for path in sorted(REPO.glob("roles/*/tasks/*.yml")):
        role = path.parts[-3]
        rule = re.compile(r"^%s(_[a-z0-9_]+)?_result$" % re.escape(role))
        for task in _tasks(yaml.safe_load(path.read_text())):
            if _module_of(task):
                seen += 1
                if not rule.match(str(task.get("register", ""))) and task.get("register") not in NO_CHECKS:
                    offenders.append("%s: %r registers %r" % (path.relative_to(REPO), task.get("name"), task.get("register")))
    assert seen >= 15, "the walk found the module calls"
    assert offenders == []


def test_the_summary_reads_exactly_the_registers_the_rule_allows():
    import sys
    sys.path.insert(0, str(REPO / "plugins" / "filter"))
    import upkeep_summary

    assert upkeep_summary._REGISTER.match("upkeep_postgres_review_access_result")
    assert upkeep_summary._role_of("upkeep_postgres_review_access_result") == "upkeep_postgres_review"
    assert upkeep_summary._role_of("upkeep_http_result") == "upkeep_http"
    assert not upkeep_summary._REGISTER.match("upkeep_auth_audit_collected")  # raw audit rows, no checks
