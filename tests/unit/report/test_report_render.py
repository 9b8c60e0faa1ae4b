"""Rendering: every file of a run, escaping of hostile text, well-formed JUnit, the latest link."""

from __future__ import annotations

import html.parser
import json
import os
import xml.etree.ElementTree as ET

import pytest

from ansible.module_utils.upkeep import result
from upkeep.report import render
from upkeep.report.collector import Collector
from upkeep.report.junit import render_junit

HOSTILE = '<script>alert("x")</script> | & "quoted" \x00\x1b'


def make_report(partial=False) -> dict:
    collector = Collector("daily")
    checks = [
        result.check("http.health", "https://web1/api/health", "ok", "200 in 12 ms", metrics={"latency_p95_ms": 12.0},
                     thresholds={"latency_p95_ms": result.thresholds(500, 2000)}, duration_ms=40, host="web1"),
        result.check("http.page", "https://web2/<b>", "critical", HOSTILE, host="web2",
                     findings=[result.finding("critical", "Page down <img src=x onerror=alert(1)>", "/",
                                              "detail " + HOSTILE, "Restart <the> app")]),
        result.check("pg.ping", "db", "warning", "slow query", metrics={"query_ms": 250.5}, host="web2"),
    ]
    collector.feed_event({"event": "runner_on_ok", "event_data": {"host": "web1", "task": "t", "role": "r",
                                                                  "res": result.module_result(checks)}})
    collector.feed_event({"event": "runner_on_failed", "event_data": {"host": "web3", "task": "Probe", "role": "upkeep_smtp",
                                                                      "res": {"msg": "missing required lib <aiosmtplib>"}}})
    if not partial:
        collector.feed_event({"event": "playbook_on_stats", "event_data": {"processed": {"web1": 1, "web2": 1, "web3": 1}}})
    return collector.report(ansible_rc=2, interrupted=partial, run={"inventory": "inv.yml", "check_mode": False})


def test_json_round_trips_the_report():
    report = make_report()
    assert json.loads(render.render_json(report)) == report


def test_html_escapes_hostile_text_and_is_self_contained():
    page = render.render_html(make_report())
    assert "<script>" not in page and "<img" not in page and "https://web2/<b>" not in page
    assert "https://web2/&lt;b&gt;" in page
    assert "&lt;script&gt;" in page and "Restart &lt;the&gt; app" in page
    assert "http://" not in page.replace("http://www.w3.org", "") and "<link" not in page and "src=" not in page.replace("src=x", "")
    parser = html.parser.HTMLParser()
    parser.feed(page)  # parses without raising
    assert "UNKNOWN" in page and "Needs attention (3)" in page
    # what is wrong comes first: critical before unknown before warning
    assert page.index("http.page") < page.index("task.upkeep_smtp") < page.index("pg.ping")


def test_html_marks_a_partial_report():
    page = render.render_html(make_report(partial=True))
    assert "Partial report" in page and "interrupted" in page


def test_markdown_puts_problems_first_and_keeps_tables_intact():
    text = render.render_markdown(make_report())
    assert text.index("## Needs attention") < text.index("## Hosts")
    assert "**Fix:** Restart &lt;the&gt; app" in text
    row = [line for line in text.splitlines() if line.startswith("| 🔴 critical")][0]
    assert row.count(" | ") == 4  # the hostile pipe is escaped, the row keeps its five cells
    assert "<script>" not in text


def test_junit_is_well_formed_with_one_suite_per_host():
    report = make_report(partial=True)
    root = ET.fromstring(render_junit(report).encode())
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {"web1", "web2", "web3", "upkeep-run"}
    assert suites["web2"].find("testcase/failure").get("type") == "critical"
    assert HOSTILE.replace("\x00", "").replace("\x1b", "") == suites["web2"].find("testcase/failure").get("message")
    assert suites["web3"].find("testcase/error").get("type") == "unknown"
    warning_case = [c for c in suites["web2"].findall("testcase") if c.get("name").startswith("pg.ping")][0]
    assert warning_case.find("failure") is None and warning_case.find("system-out").text.startswith("WARNING")
    assert suites["upkeep-run"].find("testcase/error").get("type") == "partial"
    assert root.get("tests") == "5" and root.get("failures") == "1" and root.get("errors") == "2"


def test_write_run_creates_the_files_and_an_atomic_relative_latest_link(tmp_path):
    first = make_report()
    run_dir = render.write_run(first, tmp_path)
    assert sorted(os.listdir(run_dir)) == sorted(render.FILES)
    assert os.readlink(tmp_path / "latest") == first["run_id"] == run_dir.name
    second = make_report()
    second["run_id"] = first["run_id"]  # same second: a suffix keeps both
    run_dir2 = render.write_run(second, tmp_path)
    assert run_dir2.name == first["run_id"] + "-2" == second["run_id"]
    assert json.loads((run_dir2 / "report.json").read_text())["run_id"] == run_dir2.name
    assert os.readlink(tmp_path / "latest") == run_dir2.name
    assert render.find_run(tmp_path, "last") == run_dir2.resolve()
    assert render.find_run(tmp_path, first["run_id"]) == run_dir.resolve()
    with pytest.raises(FileNotFoundError):
        render.find_run(tmp_path, "../etc")
