"""The collector, fed with events recorded from real runs (tests/fixtures/events, re-recorded by
tests/fixtures/record_events.py) and with hand-made events for shapes a run rarely produces."""

from __future__ import annotations

import json
import pathlib

import pytest

from ansible.module_utils.upkeep import result
from upkeep.report.collector import STATUSES, Collector, exit_code_for, worst

EVENTS = pathlib.Path(__file__).resolve().parents[2] / "fixtures" / "events"


def replay(name: str, cadence: str = "daily") -> Collector:
    collector = Collector(cadence)
    for event in json.loads((EVENTS / name).read_text()):
        collector.feed_event(event)
    return collector


def ok_event(host, res, task="Probe", role="upkeep_http", kind="runner_on_ok"):
    return {"event": kind, "event_data": {"host": host, "task": task, "role": role, "res": res}}


def test_statuses_and_exit_codes_match_the_check_contract():
    assert STATUSES == result.STATUSES
    for status in STATUSES:
        assert exit_code_for(status) == result.exit_code_for(status)
    assert worst(["ok", "critical", "warning"]) == "critical"
    assert worst(["critical", "unknown"]) == "unknown"


def test_fleet_checks_are_filed_under_their_own_host_and_unreachable_is_unknown():
    report = replay("fleet_unreachable.json").report(ansible_rc=4)
    by = {(c["host"], c["id"], c["target"]): c for c in report["checks"]}
    assert by[("web1", "fake.health", "https://web1/api/health")]["status"] == "ok"
    assert by[("web2", "fake.health", "https://web2/api/health")]["status"] == "critical"
    assert by[("web2", "fake.latency", "https://web2/")]["status"] == "warning"
    reach = by[("down1", "host.reachable", "down1")]
    assert reach["status"] == "unknown" and "Connection refused" in reach["summary"]
    # set_stats and skipped tasks contribute nothing; host-side checks land on their event host
    assert sorted(c["id"] for c in report["checks"]) == ["fake.health", "fake.health", "fake.latency",
                                                        "fake.local", "fake.local", "host.reachable"]
    assert report["hosts"]["web2"] == {"status": "critical", "counts": {"ok": 1, "warning": 1, "critical": 1, "unknown": 0}}
    assert report["hosts"]["down1"]["status"] == "unknown"
    assert report["status"] == "unknown" and report["run"]["exit_code"] == 3
    assert report["partial"] is False and report["run"]["error"] is None  # rc 4 is explained by down1


def test_failed_task_without_checks_becomes_an_unknown_check_named_after_its_role():
    report = replay("task_failed.json").report(ansible_rc=2)
    [check] = report["checks"]
    assert check["id"] == "task.upkeep_fake" and check["status"] == "unknown" and check["host"] == "web1"
    assert check["summary"].startswith("endpoints[0].url: must be an http(s) URL")
    assert check["findings"][0]["remediation"]
    assert report["run"]["exit_code"] == 3


@pytest.mark.parametrize("statuses, expected, code", [
    (["ok", "ok"], "ok", 0), (["ok", "warning"], "warning", 1), (["warning", "critical"], "critical", 2),
])
def test_worst_check_decides_status_and_exit_code(statuses, expected, code):
    collector = Collector("daily")
    checks = [result.check("http.health", "t%d" % i, s, "s") for i, s in enumerate(statuses)]
    collector.feed_event(ok_event("web1", result.module_result(checks)))
    collector.feed_event({"event": "playbook_on_stats", "event_data": {"ok": {"web1": 1}, "processed": {"web1": 1}}})
    report = collector.report(ansible_rc=0)
    assert (report["status"], report["run"]["exit_code"]) == (expected, code)


def test_loop_results_contribute_each_item_and_a_failed_item_becomes_unknown():
    collector = Collector("daily")
    res = {"results": [result.module_result([result.check("pg.ping", "db1", "ok", "fine")]),
                       {"failed": True, "msg": "port: must be an integer"}]}
    collector.feed_event(ok_event("web1", res, task="Ping databases", role="", kind="runner_on_failed"))
    ids = [(c["id"], c["status"]) for c in collector.checks]
    assert ids == [("pg.ping", "ok"), ("task.ping_databases", "unknown")]


def test_unexplained_nonzero_rc_and_no_checks_make_the_run_unknown_with_the_error():
    collector = Collector("daily")
    collector.feed_event({"event": "verbose", "stdout": "\x1b[0;31mERROR! the playbook: x.yml could not be found\x1b[0m"})
    collector.feed_event({"event": "playbook_on_stats", "event_data": {}})
    report = collector.report(ansible_rc=1)
    assert report["status"] == "unknown" and report["run"]["exit_code"] == 3
    assert "exited with 1" in report["run"]["error"] and "could not be found" in report["run"]["error"]

    empty = Collector("daily")
    empty.feed_event({"event": "playbook_on_stats", "event_data": {"processed": {"web1": 1}}})
    report = empty.report(ansible_rc=0)
    assert report["status"] == "unknown" and "no checks ran" in report["run"]["error"]


def test_timeout_and_interrupt_give_partial_reports_from_events_already_seen():
    collector = Collector("daily")
    collector.feed_event(ok_event("web1", result.module_result([result.check("http.health", "u", "warning", "slow")])))
    timed = collector.report(ansible_rc=254, timed_out=True, timeout_s=5)
    assert timed["partial"] is True and "timed out after 5s" in timed["partial_reason"]
    assert timed["status"] == "unknown" and timed["counts"]["warning"] == 1
    interrupted = collector.report(ansible_rc=254, interrupted=True)
    assert "interrupted" in interrupted["partial_reason"]
    killed = collector.report(ansible_rc=None)  # no stats event, no reason known
    assert killed["partial"] is True and "before its final stats" in killed["partial_reason"]


def test_invalid_status_and_long_messages_are_contained():
    seen = []
    collector = Collector("daily", on_check=seen.append)
    collector.feed_event(ok_event("web1", {"checks": [{"id": "x.y", "target": "t", "status": "bogus", "summary": "s"}]}))
    collector.feed_event(ok_event("web1", {"msg": "boom " * 500}, kind="runner_on_failed"))
    assert seen[0]["status"] == "unknown" and "bogus" in seen[0]["summary"]
    assert len(seen[1]["summary"]) <= 300 and seen[1]["summary"].endswith("…")


def test_report_has_the_schema_keys():
    report = replay("fleet_unreachable.json").report(ansible_rc=4, run={"check_mode": True, "limit": "web*"})
    assert {"schema", "run_id", "cadence", "started_at", "finished_at", "status", "counts", "hosts", "checks",
            "partial", "partial_reason", "run"} <= set(report)
    assert report["schema"] == "upkeep.report/1" and report["run_id"].startswith("daily-")
    assert report["started_at"].endswith("Z") and report["run"]["check_mode"] is True
    assert set(report["counts"]) == set(STATUSES)
    assert all("host" in c for c in report["checks"])
    json.dumps(report)
