"""Rendering: every file of a run, escaping of hostile text, well-formed JUnit, the latest link."""

from __future__ import annotations

import html.parser
import json
import os
import xml.etree.ElementTree as ET

import pytest

from upkeep.report import render
from upkeep.report.junit import render_junit

from tests.support.sample_report import HOSTILE, make_report

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
    assert suites["upkeep-run"].find("testcase/error").get("type") == "partial"
    assert root.get("tests") == "5" and root.get("failures") == "1" and root.get("errors") == "2"


def test_junit_shows_a_warning_as_a_skipped_case_and_every_status_as_a_property():
    root = ET.fromstring(render_junit(make_report()).encode())
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    cases = {c.get("name").split(" ")[0]: c for s in root.findall("testsuite") for c in s.findall("testcase")}
    warning_case = cases["pg.ping"]
    skipped = warning_case.find("skipped")
    assert warning_case.find("failure") is None and warning_case.find("error") is None
    assert skipped.get("type") == "warning" and skipped.get("message") == "warning: slow query"
    assert skipped.text.startswith("slow query")
    # not a failure of the build, but counted where CI systems count what they show apart
    assert suites["web2"].get("skipped") == "1" and suites["web2"].get("failures") == "1"
    assert suites["web1"].get("skipped") == "0" and root.get("skipped") == "1"
    assert root.get("tests") == "4" and root.get("failures") == "1" and root.get("errors") == "1"
    statuses = {name: [p.get("value") for p in case.findall("properties/property") if p.get("name") == "upkeep.status"]
                for name, case in cases.items()}
    assert statuses == {"http.health": ["ok"], "http.page": ["critical"], "pg.ping": ["warning"],
                        "task.upkeep_smtp": ["unknown"]}
    # properties first, then the outcome: the element order the JUnit schema CI tools read requires
    assert [child.tag for child in warning_case] == ["properties", "skipped"]
