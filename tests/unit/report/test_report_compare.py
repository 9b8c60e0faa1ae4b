"""Trends and "new since last run", compared against a real history store filled through its API."""

from __future__ import annotations

import datetime

from ansible.module_utils.upkeep import result
from upkeep.history import History
from upkeep.report import compare, render
from upkeep.report.collector import Collector
from upkeep.report.enrich import enrich


def run(run_id, started, checks, cadence="daily"):
    """A report built the way the wrapper builds one: module results fed to the collector."""
    moment = datetime.datetime.strptime(started, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    collector = Collector(cadence, started_at=moment)
    collector.task_result("ok", "db1", "Probe", "upkeep_fake", result.module_result(checks))
    collector.stats(["db1"])
    return collector.report(ansible_rc=0, run_id=run_id, finished_at=moment)


def size_check(size, findings=(), status="warning"):
    return dict(result.check("pg.database_size", "app", status, "size", metrics={"database_size_bytes": size,
                                                                                   "cache_hit_pct": 99.0},
                             findings=[dict(f) for f in findings]), host="db1")


SLOW = result.finding("warning", "Slow query: mean 612 ms", "SELECT * FROM leads", "", "Add an index")
LOCK = result.finding("critical", "Blocking lock chain", "pid 4242", "", "")


def test_fingerprint_is_stable_across_volatile_numbers_and_uses_the_modules_own():
    check = size_check(1)
    slower = dict(SLOW, title="Slow query: mean 1,640.5 ms", detail="different detail", severity="critical")
    assert compare.fingerprint(check, SLOW) == compare.fingerprint(check, slower)
    assert compare.fingerprint(check, SLOW) != compare.fingerprint(check, dict(SLOW, resource="SELECT 1"))
    assert compare.fingerprint(check, SLOW) != compare.fingerprint(dict(check, host="db2"), SLOW)
    assert compare.fingerprint(check, dict(SLOW, fingerprint="pg-access:abc")) == "pg-access:abc"


def test_trend_only_for_changed_numbers():
    assert compare.trend({"a_bytes": 1200, "b_pct": 5.0, "c": 3, "flag": True, "s": "x"},
                         {"a_bytes": 1000, "b_pct": 5.0, "c": 0, "flag": False, "s": "y"}) == {
        "a_bytes": {"previous": 1000, "delta": 200, "delta_pct": 20.0},
        "c": {"previous": 0, "delta": 3, "delta_pct": None}}


def test_first_run_has_no_trend_and_every_finding_is_new(tmp_path):
    report = run("daily-1", "2026-01-01T00:00:00Z", [size_check(1000, [SLOW])])
    assert enrich(report, tmp_path / "history.sqlite") == []  # no store yet: nothing to compare with
    [check] = report["checks"]
    assert "trend" not in check and check["findings"][0]["new"] is True
    assert report["finding_counts"] == {"total": 1, "new": 1, "acknowledged": 0}
    assert report["comparison"]["checks_compared"] == 0
    md = render.render_markdown(report)
    assert "New since last run\n" not in md and "NEW" not in md and "no earlier run" in md


def test_second_run_trends_and_new_findings_first(tmp_path):
    path = tmp_path / "history.sqlite"
    first = run("daily-1", "2026-01-01T00:00:00Z", [size_check(1000, [SLOW])])
    enrich(first, path)
    with History(path) as store:
        store.append(first)
    acked = dict(result.finding("warning", "Superuser without expiry", "role admin"),
                 acknowledged={"reason": "break-glass account", "expires": "2026-06-30", "by": "dba"})
    slow_again = dict(SLOW, title="Slow query: mean 700 ms")
    second = run("daily-2", "2026-01-02T00:00:00Z", [size_check(1250, [slow_again, acked, LOCK])])
    enrich(second, path)
    [check] = second["checks"]
    assert check["trend"] == {"database_size_bytes": {"previous": 1000, "delta": 250, "delta_pct": 25.0}}
    assert [(f["title"], f["new"]) for f in check["findings"]] == [
        ("Blocking lock chain", True), ("Slow query: mean 700 ms", False), ("Superuser without expiry", True)]
    assert second["finding_counts"] == {"total": 2, "new": 1, "acknowledged": 1}
    md = render.render_markdown(second)
    assert "database_size_bytes 1250 Δ +250 (+25%)" in md
    assert "**Findings: 2 open, 1 new since last run** · 1 acknowledged (not counted)" in md
    new_section = md[md.index("## New since last run"):md.index("## Needs attention")]
    assert "Blocking lock chain" in new_section and "Slow query" not in new_section
    attention = md[md.index("## Needs attention"):md.index("## Acknowledged")]
    assert "🆕 NEW · **Blocking lock chain**" in attention and "Superuser" not in attention
    assert "break-glass account (by dba, until 2026-06-30)" in md[md.index("## Acknowledged"):]
    page = render.render_html(second)
    assert '<span class="new">NEW</span> Blocking lock chain' in page and "Δ +250 (+25%)" in page

    # an expired acknowledgement needs a look again, like a new finding
    expired = dict(result.finding("warning", "Superuser without expiry", "role admin"),
                   acknowledgement_expired={"reason": "break-glass account", "expires": "2026-01-01"})
    third = run("daily-3", "2026-01-03T00:00:00Z", [size_check(1250, [expired])])
    enrich(third, path)
    assert third["finding_counts"] == {"total": 1, "new": 1, "acknowledged": 0}
    md = render.render_markdown(third)
    assert "| Superuser without expiry (acknowledgement expired) | role admin |" in md
    assert "⏰ ACKNOWLEDGEMENT EXPIRED · **Superuser without expiry**" in md

    # another cadence and another host are not "the previous run"
    weekly = run("weekly-1", "2026-01-03T00:00:00Z", [size_check(5000, [SLOW])], cadence="weekly")
    enrich(weekly, path)
    assert "trend" not in weekly["checks"][0] and weekly["checks"][0]["findings"][0]["new"] is True


def test_an_unreadable_store_still_gives_a_report_with_a_warning(tmp_path):
    path = tmp_path / "history.sqlite"
    path.write_bytes(b"this is not a sqlite database" * 100)
    report = run("daily-1", "2026-01-01T00:00:00Z", [size_check(1000, [SLOW])])
    warnings = enrich(report, path)
    assert len(warnings) == 1 and "not read" in warnings[0]
    assert report["checks"][0]["findings"][0]["new"] is True and "trend" not in report["checks"][0]
