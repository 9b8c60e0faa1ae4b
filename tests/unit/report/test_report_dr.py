"""The DR section from synthetic drill checks of the documented shape (upkeep.report.dr)."""

from __future__ import annotations

import datetime
import html.parser

from ansible.module_utils.upkeep import result
from upkeep.report import render
from upkeep.report.collector import Collector
from upkeep.report.dr import dr_section
from upkeep.report.enrich import enrich

DRILL = [
    result.check("dr.database_recovery", "staging-db", "ok", "restored and verified in 14 min",
                 metrics={"measured_s": 840.2, "objective_s": 3600},
                 dr={"phase": "Database recovery", "evidence": ["restore log: /var/lib/upkeep/drill/restore.log",
                                                               "row counts and checksums match the manifest"]},
                 host="db1"),
    result.check("dr.app_recovery", "https://staging/api/health", "critical", "healthy after 41 min",
                 metrics={"measured_s": 2460.0, "objective_s": 1800}, host="web1"),
    result.check("dr.rpo", "newest backup", "ok", "newest backup 20 min old", metrics={"measured_s": 1200, "objective_s": 3600},
                 dr={"phase": "Recovery point <RPO>"}, detail_path="/var/lib/upkeep/drill/rpo.json", host="db1"),
    result.check("dr.monitoring", "alerting", "unknown", "alerting is not configured",
                 dr={"configured": False, "evidence": "no alert channel in the inventory"}, host="web1"),
]


def drill_report(checks):
    moment = datetime.datetime(2026, 3, 31, 2, tzinfo=datetime.timezone.utc)
    collector = Collector("quarterly", started_at=moment)
    collector.task_result("ok", "db1", "Drill", "upkeep_dr_drill", result.module_result(checks))
    collector.stats(["db1", "web1"])
    return collector.report(ansible_rc=0, finished_at=moment)


def test_phases_verdicts_and_fallbacks():
    section = dr_section(DRILL)
    rows = {p["id"]: p for p in section["phases"]}
    assert section["verdict"] == "fail"
    assert rows["dr.database_recovery"]["verdict"] == "pass" and rows["dr.database_recovery"]["measured_s"] == 840.2
    assert rows["dr.database_recovery"]["evidence"][1] == "row counts and checksums match the manifest"
    # no dr mapping: phase from the id, measured/objective from metrics, evidence from the summary
    assert rows["dr.app_recovery"]["phase"] == "App recovery" and rows["dr.app_recovery"]["verdict"] == "fail"
    assert rows["dr.app_recovery"]["evidence"] == ["healthy after 41 min"]
    assert rows["dr.rpo"]["evidence"] == ["newest backup 20 min old", "/var/lib/upkeep/drill/rpo.json"]
    # never "passed" when it was not set up
    assert rows["dr.monitoring"]["verdict"] == "not configured"
    assert dr_section([c for c in DRILL if c["id"] != "dr.app_recovery"])["verdict"] == "incomplete"
    assert dr_section(DRILL[:1])["verdict"] == "pass"
    assert dr_section([result.check("pg.ping", "db", "ok", "s")]) is None


def test_millisecond_metrics_fall_back_to_seconds():
    [row] = dr_section([result.check("dr.restore", "s", "ok", "s", metrics={"measured_ms": 90000.0,
                                                                            "objective_ms": 3600000.0})])["phases"]
    assert (row["measured_s"], row["objective_s"], row["verdict"]) == (90.0, 3600.0, "pass")


def test_dr_section_rendered_in_markdown_and_html(tmp_path):
    report = drill_report(DRILL)
    enrich(report, tmp_path / "history.sqlite")
    assert report["dr"]["verdict"] == "fail"
    md = render.render_markdown(report)
    section = md[md.index("## Disaster-recovery drill: FAIL"):md.index("## Hosts")]
    assert "| Database recovery | db1 | 14 min | 60 min | PASS | restore log: /var/lib/upkeep/drill/restore.log; " in section
    assert "| App recovery | web1 | 41 min | 30 min | FAIL | healthy after 41 min |" in section
    assert "| Monitoring | web1 | no data | no data | NOT CONFIGURED |" in section
    page = render.render_html(report)
    html.parser.HTMLParser().feed(page)
    assert "Disaster-recovery drill" in page and "Recovery point &lt;RPO&gt;" in page
    assert "dr" not in drill_report([result.check("pg.ping", "db", "ok", "s")])


def test_the_drill_modules_own_checks_fit_the_shape():
    """The drill summary as module_utils/upkeep/dr.py builds it for a drill that measured nothing:
    never a pass, monitoring and communication not configured."""
    drill = __import__("ansible.module_utils.upkeep.dr", fromlist=["drill_summary"])
    section = dr_section([dict(c, host="staging") for c in drill.drill_summary()])
    verdicts = {p["id"]: p["verdict"] for p in section["phases"]}
    assert section["verdict"] != "pass"
    assert verdicts["dr.monitoring"] == verdicts["dr.communication"] == "not configured"
    assert verdicts["dr.database_recovery"] == "not measured"
    assert {p["phase"] for p in section["phases"]} >= {"Database recovery", "Recovery point (RPO)"}
