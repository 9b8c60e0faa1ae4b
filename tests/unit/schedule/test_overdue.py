"""Missed runs (upkeep.report.overdue) over a real history store, with the clock injected
(``at=`` in process, ``UPKEEP_NOW`` for the CLI): the only stand-in in these tests."""

from __future__ import annotations

import datetime
import json

import pytest
from ansible.module_utils.upkeep import result

from upkeep.history import History
from upkeep.report.collector import Collector
from upkeep.report.overdue import add_to_report, evaluate
from upkeep.report.publish import publish
from upkeep.schedule import parse_schedule
from upkeep.schedule_install import install

from tests.fixtures.wrapper import upkeep

UTC = datetime.timezone.utc
DAY = 86400
ALLOWANCES = {"daily": 26 * 3600, "weekly": (7 * 24 + 6) * 3600}


def at(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=UTC)


def record_run(history, cadence: str, finished: str, status="ok", partial=False) -> str:
    started = at(finished) - datetime.timedelta(minutes=5)
    collector = Collector(cadence, started_at=started)
    collector.feed_event({"event": "runner_on_ok", "event_data": {"host": "web1", "task": "t", "res": {"checks": [
        result.check("http.health", "api", status, "answered")]}}})
    if not partial:
        collector.stats(["web1"])
    report = collector.report(ansible_rc=0, interrupted=partial, finished_at=at(finished))
    with History(history) as store:
        store.append(report)
    return report["run_id"]


def test_on_time_late_very_late_and_never(tmp_path):
    history = tmp_path / "history.sqlite"
    record_run(history, "daily", "2026-12-01T02:05:00")
    record_run(history, "weekly", "2026-11-16T03:10:00")
    record_run(history, "weekly", "2026-11-23T03:10:00", partial=True)  # cut short: not a completed run
    with History(history) as store:
        found = {late.cadence: late for late in evaluate(store, dict(ALLOWANCES, monthly=32 * DAY),
                                                         at("2026-12-02T03:00:00"))}
        assert found["daily"].status == "ok" and found["daily"].late_by_s == 0
        assert found["daily"].text == "daily last completed 2026-12-01T02:05:00Z (1 d ago, ok); allowed 1 d 2 h"
        assert found["weekly"].status == "critical"  # 15 d 23 h since the last complete run: two periods missed
        assert found["weekly"].last_run["finished_at"] == "2026-11-16T03:10:00Z"
        assert found["weekly"].text.startswith("weekly overdue by 8 d 17 h: last completed 2026-11-16T03:10:00Z")
        assert found["monthly"].status == "unknown" and found["monthly"].text == "monthly never ran (no completed run in history)"

        late = evaluate(store, ALLOWANCES, at("2026-12-02T05:00:00"))[0]
        assert (late.status, round(late.late_by_s / 3600, 2)) == ("warning", 0.92)  # 26 h 55 min after 02:05


def test_never_ran_counts_from_the_install(tmp_path):
    with History(tmp_path / "history.sqlite") as store:
        installed = at("2026-12-01T00:00:00")
        [soon] = evaluate(store, {"weekly": ALLOWANCES["weekly"]}, at("2026-12-05T00:00:00"), installed)
        [late] = evaluate(store, {"weekly": ALLOWANCES["weekly"]}, at("2026-12-09T00:00:00"), installed)
    assert soon.status == "ok" and "never ran since the schedule was installed 2026-12-01T00:00:00Z" in soon.text
    assert late.status == "warning" and late.text.startswith("weekly overdue by 18 h: never ran since")


def test_the_next_report_of_any_cadence_carries_it(tmp_path, monkeypatch):
    """Through publish, as every run ends: the installed schedule's other cadences become checks,
    the verdict and exit code follow them, history keeps them."""
    reports = tmp_path / "reports"
    history = reports / "history.sqlite"
    install(parse_schedule(None, ["daily", "weekly", "monthly", "quarterly"]), kind="cron", user=True,
            dest=str(tmp_path / "cron"), report_dir=reports, inventory="/srv/i.yml")
    state_path = reports / "schedule.json"
    state = json.loads(state_path.read_text())
    state["installed_at"] = "2026-09-01T00:00:00Z"
    state_path.write_text(json.dumps(state))
    record_run(history, "weekly", "2026-11-30T03:10:00")
    record_run(history, "monthly", "2026-10-01T04:10:00")

    collector = Collector("daily", started_at=at("2026-12-02T02:00:00"))
    collector.feed_event({"event": "runner_on_ok", "event_data": {"host": "web1", "task": "t", "res": {"checks": [
        result.check("http.health", "api", "ok", "fine", metrics={"latency_p95_ms": 40})]}}})
    collector.stats(["web1"])
    report = collector.report(ansible_rc=0, finished_at=at("2026-12-02T02:03:00"))
    monkeypatch.setenv("UPKEEP_NOW", "2026-12-02T02:03:00Z")
    published = publish(report, reports, history, publishers=[])
    assert published.problems == [], published.problems
    overdue = {c["target"]: c for c in report["checks"] if c["id"] == "schedule.overdue"}
    assert sorted(overdue) == ["monthly", "quarterly", "weekly"]  # not daily: this run is daily's
    assert overdue["weekly"]["status"] == "ok"
    assert overdue["monthly"]["status"] == "warning" and overdue["monthly"]["host"] == "localhost"
    assert overdue["monthly"]["summary"].startswith("monthly overdue by 29 d 21 h: last completed 2026-10-01T04:10:00Z")
    assert overdue["monthly"]["findings"][0]["title"] == "monthly has not completed within 32 d"
    assert overdue["quarterly"]["status"] == "ok"  # installed 92 d ago: not due yet
    assert report["status"] == "warning" and report["run"]["exit_code"] == 1
    assert report["hosts"]["localhost"]["counts"] == {"ok": 2, "warning": 1, "critical": 0, "unknown": 0}
    assert report["counts"] == {"ok": 3, "warning": 1, "critical": 0, "unknown": 0}
    with History(history) as store:
        assert store.runs(cadence="daily")[0]["exit_code"] == 1


def test_no_installed_schedule_no_finding(tmp_path):
    report = {"cadence": "daily", "status": "ok", "checks": [], "run": {"exit_code": 0, "error": None}}
    add_to_report(report, None, None, at("2026-12-02T00:00:00"))
    assert report["checks"] == [] and report["status"] == "ok"


@pytest.mark.parametrize("now, code, first", [
    ("2026-12-02T12:00:00Z", 0, "OK       daily last completed 2026-12-02T02:05:00Z"),
    ("2026-12-03T06:00:00Z", 1, "WARNING  daily overdue by 1 h 55 min"),
    ("2026-12-05T06:00:00Z", 2, "CRITICAL daily overdue by"),
])
def test_schedule_check_exit_codes(tmp_path, now, code, first):
    reports = tmp_path / "reports"
    install(parse_schedule({"weekly": {"enabled": False}, "monthly": {"enabled": False},
                            "quarterly": {"enabled": False}}, ["daily", "weekly", "monthly", "quarterly"]),
            kind="cron", user=True, dest=str(tmp_path / "cron"), report_dir=reports, inventory="/srv/i.yml")
    record_run(reports / "history.sqlite", "daily", "2026-12-02T02:05:00")
    run = upkeep("schedule", "check", "--report-dir", reports, UPKEEP_NOW=now)
    assert run.returncode == code, run.stdout + run.stderr
    assert run.stdout.startswith(first)
    status = upkeep("schedule", "status", "--report-dir", reports, UPKEEP_NOW=now)
    assert status.returncode == 0 and "daily-20261202T020000Z" in status.stdout
