"""JUnit XML for CI dashboards: one testsuite per host, one testcase per check.

Mapping (chosen so a CI job's red/green agrees with what needs a person, and a warning is seen):
- ok       -> passed testcase
- warning  -> <skipped type="warning" message="warning: <summary>"> with the summary and findings
              as its text. Not a failure (a warning is not a broken build; the run's exit code 1
              is there to gate on it), but CI test views (Jenkins, GitLab, GitHub test reporters)
              list skipped cases apart from passed ones, where <system-out> on a passed case is
              folded away unseen. The suites count it in ``skipped``.
- critical -> <failure type="critical">
- unknown  -> <error type="unknown"> (the check could not be evaluated)
Every testcase carries ``<properties><property name="upkeep.status" value="..."/></properties>``
with the check's own status, so tools that read properties need not infer it from the element.
A run that failed or stopped early (partial) adds a testsuite "upkeep-run" with an errored
testcase, so a CI job never shows green for a run that did not complete.
Built with ElementTree (escaping is its job); characters XML 1.0 forbids are dropped first.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

STATUS_PROPERTY = "upkeep.status"

_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text) -> str:
    return _ILLEGAL_XML.sub("", str("" if text is None else text))


def _details(check: dict) -> str:
    lines = [_clean(check.get("summary"))]
    for item in check.get("findings") or []:
        lines.append("- [%s] %s %s" % (item.get("severity", ""), item.get("title", ""), item.get("resource", "")))
        if item.get("detail"):
            lines.append("  detail: %s" % item["detail"])
        if item.get("remediation"):
            lines.append("  remediation: %s" % item["remediation"])
    return _clean("\n".join(lines))


def render_junit(report: dict) -> str:
    cadence = report.get("cadence", "")
    root = ET.Element("testsuites", name="upkeep %s" % _clean(cadence))
    suites = []
    by_host: dict[str, list] = {host: [] for host in report.get("hosts") or {}}
    for check in report.get("checks") or []:
        by_host.setdefault(check.get("host", ""), []).append(check)
    for host, checks in by_host.items():
        suite = ET.SubElement(root, "testsuite", name=_clean(host), timestamp=report.get("started_at", ""))
        stats = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0, "time": 0.0}
        for check in checks:
            seconds = (check.get("duration_ms") or 0) / 1000.0
            case = ET.SubElement(suite, "testcase", classname=_clean("upkeep.%s.%s" % (cadence, host)),
                                 name=_clean("%s [%s]" % (check["id"], check.get("target", ""))),
                                 time="%.3f" % seconds)
            stats["tests"] += 1
            stats["time"] += seconds
            status = check["status"]
            # Properties come first: the JUnit schema Jenkins and GitLab read orders them before the outcome.
            properties = ET.SubElement(case, "properties")
            ET.SubElement(properties, "property", name=STATUS_PROPERTY, value=_clean(status))
            if status == "critical":
                stats["failures"] += 1
                ET.SubElement(case, "failure", message=_clean(check.get("summary")), type="critical").text = _details(check)
            elif status == "unknown":
                stats["errors"] += 1
                ET.SubElement(case, "error", message=_clean(check.get("summary")), type="unknown").text = _details(check)
            elif status == "warning":
                stats["skipped"] += 1
                ET.SubElement(case, "skipped", message=_clean("warning: %s" % check.get("summary", "")),
                              type="warning").text = _details(check)
        suites.append((suite, stats))
    run = report.get("run") or {}
    problem = report.get("partial_reason") if report.get("partial") else run.get("error")
    if problem:
        suite = ET.SubElement(root, "testsuite", name="upkeep-run", timestamp=report.get("started_at", ""))
        case = ET.SubElement(suite, "testcase", classname="upkeep.%s" % _clean(cadence), name="run completed", time="0")
        ET.SubElement(ET.SubElement(case, "properties"), "property", name=STATUS_PROPERTY, value="unknown")
        ET.SubElement(case, "error", message=_clean(problem), type="partial" if report.get("partial") else "run").text = _clean(problem)
        suites.append((suite, {"tests": 1, "failures": 0, "errors": 1, "skipped": 0, "time": 0.0}))
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0, "time": 0.0}
    for suite, stats in suites:
        for key in totals:
            totals[key] += stats[key]
        for key, value in stats.items():
            suite.set(key, "%.3f" % value if key == "time" else str(value))
    for key, value in totals.items():
        root.set(key, "%.3f" % value if key == "time" else str(value))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
