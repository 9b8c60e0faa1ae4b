"""The report contract: the shipped JSON Schema accepts what upkeep really writes (through the
real collector, enrichment and publish), refuses a broken report naming the field, and ships as
package data."""

from __future__ import annotations

import copy
import datetime
import fnmatch
import json
import pathlib
import tomllib

import jsonschema
import pytest

from ansible.module_utils.upkeep import result
from upkeep.report import collector as collector_module
from upkeep.report import contract, dr, kpis
from upkeep.report.collector import Collector
from upkeep.report.contract import ReportContractError, contract_errors, load_schema, validate_report
from upkeep.report.publish import publish

from tests.support.sample_report import make_report

REPO = pathlib.Path(__file__).resolve().parents[3]


def written_report(report: dict, tmp_path: pathlib.Path) -> dict:
    published = publish(report, tmp_path / "reports", tmp_path / "reports" / "history.sqlite")
    assert published.problems == []
    return json.loads((published.run_dir / "report.json").read_text())


def weekly_report_with_drill(started_at: datetime.datetime | None = None) -> dict:
    """A weekly run (so the KPI section is added) holding DR drill checks (so the DR section is)."""
    collector = Collector("weekly", started_at=started_at)
    checks = [
        result.check("http.health", "https://web1/api/health", "ok", "200 in 12 ms",
                     metrics={"latency_p95_ms": 12.0}, duration_ms=40, host="web1"),
        result.check("dr.database_recovery", "staging-db", "ok", "restored in 14 min",
                     metrics={"measured_s": 840.2, "objective_s": 3600}, host="web1"),
        result.check("dr.app_recovery", "app", "unknown", "not configured", host="web1",
                     dr={"configured": False}, detail_path="/var/lib/upkeep/drill.log"),
    ]
    collector.feed_event({"event": "runner_on_ok", "event_data": {"host": "web1", "task": "t", "role": "r",
                                                                  "res": result.module_result(checks)}})
    collector.feed_event({"event": "playbook_on_stats", "event_data": {"processed": {"web1": 1}}})
    return collector.report(ansible_rc=0, run={"check_mode": False, "source": "test"})


def test_the_schema_is_a_valid_draft_2020_12_schema():
    schema = load_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("partial", [False, True], ids=["complete", "partial"])
def test_the_sample_report_as_written_matches_the_schema(tmp_path, partial):
    report = written_report(make_report(partial=partial), tmp_path)
    # enrichment ran: the written report carries what history adds, and still matches
    assert report["finding_counts"]["total"] == 2 and all("fingerprint" in f for c in report["checks"] for f in c["findings"])
    assert report["run"]["publish"] == []
    assert contract_errors(report) == []


def test_a_second_run_with_trends_kpis_and_a_drill_matches_the_schema(tmp_path):
    start = datetime.datetime(2026, 12, 1, 6, 0, tzinfo=datetime.timezone.utc)
    written_report(weekly_report_with_drill(start), tmp_path)
    second = weekly_report_with_drill(start + datetime.timedelta(days=1))
    second["checks"][0]["metrics"]["latency_p95_ms"] = 30.0
    report = written_report(second, tmp_path)
    assert report["checks"][0]["trend"] == {"latency_p95_ms": {"previous": 12.0, "delta": 18.0, "delta_pct": 150.0}}
    assert report["kpis"]["hosts"]["web1"] and [p["verdict"] for p in report["dr"]["phases"]] == ["pass", "not configured"]
    assert contract_errors(report) == []


def _set(report, path, value):
    target = report
    for part in path[:-1]:
        target = target[part]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value


@pytest.mark.parametrize("path, value, message", [
    (("checks", 0, "status"), "fine", "report.checks[0].status: 'fine' is not one of ['ok', 'warning', 'critical', 'unknown']"),
    (("counts", "unknown"), KeyError, "report.counts: 'unknown' is a required property"),
    (("checks", 2, "metrics", "query_ms"), "250 ms", "report.checks[2].metrics.query_ms: '250 ms' is not of type 'number', 'null'"),
    (("checks", 1, "findings", 0, "severity"), "high", "report.checks[1].findings[0].severity: 'high' is not one of"),
    (("checks", 0, "id"), "Health", "report.checks[0].id: 'Health' does not match"),
    (("run", "exit_code"), 4, "report.run.exit_code: 4 is not one of [0, 1, 2, 3]"),
    (("run", "publish"), "disk full", "report.run.publish: 'disk full' is not of type 'array'"),
    (("hosts", "web1", "status"), "green", "report.hosts.web1.status: 'green' is not one of"),
    (("started_at",), "2026-12-02 18:00", "report.started_at: '2026-12-02 18:00' does not match"),
    (("verdict",), "ok", "report: Additional properties are not allowed ('verdict' was unexpected)"),
])
def test_a_broken_report_is_refused_naming_the_field(tmp_path, path, value, message):
    report = written_report(make_report(), tmp_path)
    broken = copy.deepcopy(report)
    _set(broken, path, value)
    with pytest.raises(ReportContractError) as caught:
        validate_report(broken)
    assert message in str(caught.value)
    assert str(caught.value).startswith("report %s does not match the upkeep.report/1 schema" % report["run_id"])


def test_a_module_may_add_keys_to_a_check_and_a_finding(tmp_path):
    report = written_report(make_report(), tmp_path)
    report["checks"][0]["statements"] = ["VACUUM (ANALYZE) t"]
    report["checks"][1]["findings"][0]["cve"] = "CVE-2026-1"
    # module_utils/upkeep/ack.py's mark on a reviewed finding
    report["checks"][1]["findings"][0]["acknowledged"] = {"reason": "kept for Q3", "expires": "2026-09-30", "by": "alice"}
    assert contract_errors(report) == []
    report["checks"][1]["findings"][0]["acknowledged"] = {"reason": "kept for Q3"}
    assert contract_errors(report) == ["report.checks[1].findings[0].acknowledged: 'expires' is a required property"]


def test_publish_refuses_a_broken_report_before_writing_anything(tmp_path, monkeypatch):
    monkeypatch.setenv(contract.VALIDATE_ENV, "1")
    report = make_report()
    report["checks"][0]["status"] = "fine"  # bypasses the collector, as a buggy entry point would
    with pytest.raises(ReportContractError, match=r"report\.checks\[0\]\.status: 'fine' is not one of"):
        publish(report, tmp_path / "reports", tmp_path / "reports" / "history.sqlite")
    assert not (tmp_path / "reports").exists()


def test_validation_is_only_on_when_asked(tmp_path, monkeypatch):
    # Production runs do not depend on jsonschema: without the variable a report is written as it is.
    monkeypatch.delenv(contract.VALIDATE_ENV, raising=False)
    report = make_report()
    report["checks"][0]["status"] = "fine"
    published = publish(report, tmp_path / "reports", tmp_path / "reports" / "history.sqlite")
    assert "report.json" in published.written


def test_the_schema_names_the_same_statuses_and_verdicts_as_the_code():
    defs = load_schema()["$defs"]
    assert tuple(defs["status"]["enum"]) == collector_module.STATUSES == result.STATUSES
    assert tuple(defs["finding"]["properties"]["severity"]["enum"]) == result.FINDING_SEVERITIES
    assert set(defs["dr"]["properties"]["phases"]["items"]["properties"]["verdict"]["enum"]) == {
        dr.PASS, dr.FAIL, dr.NOT_CONFIGURED, dr.NOT_MEASURED}
    kpi_item = defs["kpis"]["properties"]["hosts"]["additionalProperties"]["items"]
    assert set(kpi_item["properties"]["verdict"]["enum"]) == {kpis.PASS, kpis.FAIL, kpis.NO_DATA, kpis.NOT_ENOUGH}
    assert load_schema()["properties"]["schema"]["const"] == collector_module.SCHEMA


def test_the_schema_ships_as_package_data():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]["upkeep"]
    relative = "report/schema/" + contract.SCHEMA_FILE
    assert (REPO / "src" / "upkeep" / relative).is_file()
    assert any(fnmatch.fnmatch(relative, pattern) for pattern in globs), globs
