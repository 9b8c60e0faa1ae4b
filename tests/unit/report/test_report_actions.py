"""Check mode shows its plan wherever the check is shown: the statements a maintenance run would
execute appear on the console (live and in the summary), in Markdown and in HTML, not only in
report.json. The check is in the shape upkeep_pg_maintenance returns (module_utils/upkeep/pg_maintenance.py)."""

from __future__ import annotations

import io

from ansible.module_utils.upkeep import result
from upkeep.progress import Progress
from upkeep.report import render
from upkeep.report.collector import Collector
from upkeep.report.summary import summary_text

STATEMENT = 'VACUUM (ANALYZE) "public"."cart_sessions"'


def planned_report(check_mode=True):
    maintenance = result.check(
        "pg.maintenance", "app-db", "ok", "check mode: would run 1 statement(s) on 14 table(s) checked", host="db1",
        metrics={"statements_planned": 1, "statements_run": 0},
        actions=[{"kind": "vacuum_analyze", "table": "public.cart_sessions", "statement": STATEMENT,
                  "status": "would_run" if check_mode else "ran", "changed": not check_mode}],
        statements=[STATEMENT], check_mode=check_mode)
    collector = Collector("monthly")
    collector.feed_event({"event": "runner_on_ok", "event_data": {"host": "db1", "task": "t", "role": "r",
                                                                  "res": result.module_result([maintenance])}})
    collector.feed_event({"event": "playbook_on_stats", "event_data": {"processed": {"db1": 1}}})
    return collector.report(ansible_rc=0, run={"check_mode": check_mode})


def test_the_plan_is_in_every_rendering():
    report = planned_report()
    line = "would run: %s" % STATEMENT
    assert line in summary_text(report) and "Actions (check mode: nothing was run):" in summary_text(report)
    assert line in render.render_markdown(report)
    assert "would run: VACUUM (ANALYZE) &#34;public&#34;.&#34;cart_sessions&#34;" in render.render_html(report)


def test_the_live_console_prints_the_plan_under_its_check():
    stream = io.StringIO()
    progress = Progress(stream=stream)
    report = planned_report()
    for check in report["checks"]:
        progress.check(check)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("OK") and "pg.maintenance" in lines[0]
    assert lines[1].strip() == "would run: %s" % STATEMENT


def test_what_ran_is_shown_as_ran():
    report = planned_report(check_mode=False)
    assert "ran: %s" % STATEMENT in summary_text(report) and "check mode" not in summary_text(report).split("Actions")[1]
