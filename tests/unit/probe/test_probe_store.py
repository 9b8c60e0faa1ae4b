"""Probe samples in a real history store: retention on a generated history with an injected
clock (rows with old timestamps), availability and percentiles across raw and rolled-up data,
downtime intervals, and the weekly uptime KPI resting on the samples."""

from __future__ import annotations

import random

from upkeep import probe_store
from upkeep.history import History
from upkeep.probe_store import Retention, Sample
from upkeep.report.kpis import kpis_for_report

NOW = 1_790_000_000 // 3600 * 3600 + 1800  # an injected clock: half past some hour
DAY = 86400


def _generate(store, days, outage=None, targets=("api-health", "home-page"), step=60):
    """A probe of each target every ``step`` s for ``days`` up to NOW; ``outage`` (start, end) is down."""
    rng = random.Random(7)
    store.connection.execute("PRAGMA synchronous=OFF")  # generating only: durability is not the point
    start = NOW - days * DAY
    for ts in range(start, NOW, step):
        down = outage is not None and outage[0] <= ts < outage[1]
        samples = [Sample("web1", "http.health" if name == "api-health" else "http.page", name,
                          "critical" if down else "ok", None if down else 20.0 + rng.random() * 10,
                          "Connection refused" if down else None) for name in targets]
        probe_store.record_samples(store.connection, ts, samples, 30.0)


def test_retention_rolls_old_samples_into_hours_and_keeps_what_it_promises(tmp_path):
    with History(tmp_path / "history.sqlite") as store:
        db = store.connection
        outage = (NOW - 40 * DAY, NOW - 40 * DAY + 600)  # ten minutes down, 40 days ago
        _generate(store, 45, outage, step=300)
        before = {name: probe_store.availability(db, tid, NOW - 45 * DAY, NOW)
                  for tid, name in db.execute("SELECT target_id, target FROM probe_targets")}
        p95_before = probe_store.latency_percentiles(db, 1, NOW - 45 * DAY, NOW)["p95"]
        assert db.execute("SELECT count(*) FROM probe_samples").fetchone()[0] == 2 * 45 * 288

        done = probe_store.rollup(db, NOW, Retention(raw_days=30, hourly_days=365))
        raw_left = db.execute("SELECT min(ts), count(*) FROM probe_samples").fetchone()
        assert NOW - 30 * DAY - 3600 <= raw_left[0] <= NOW - 30 * DAY
        assert done["rolled_up_samples"] == 2 * 45 * 288 - raw_left[1]
        hours = db.execute("SELECT count(*), sum(up + down + unknown), min(hour) FROM probe_hourly").fetchone()
        assert hours[1] == done["rolled_up_samples"] and hours[2] == (NOW - 45 * DAY) // 3600 * 3600
        assert hours[0] == 2 * (raw_left[0] - hours[2]) // 3600
        # availability over the whole span is the same number of samples, the same answer
        after = {name: probe_store.availability(db, tid, NOW - 45 * DAY, NOW)
                 for tid, name in db.execute("SELECT target_id, target FROM probe_targets")}
        assert after == before
        assert after["api-health"]["down"] == 2 and after["api-health"]["availability_pct"] < 100
        # percentiles merged from the hourly histograms stay within their 5 % buckets
        p95_after = probe_store.latency_percentiles(db, 1, NOW - 45 * DAY, NOW)["p95"]
        assert abs(p95_after - p95_before) / p95_before < 0.05
        # the downtime interval outlives the raw samples it came from
        [interval] = probe_store.downtimes(db, NOW - 45 * DAY, NOW, NOW)[:1]
        assert (interval["start"], interval["end"], interval["samples"]) == (outage[0], outage[1], 2)
        assert interval["first_error"] == "Connection refused" and interval["duration_s"] == 600

        # a year later the hours and the finished interval are gone too; a second roll-up is a no-op
        later = probe_store.rollup(db, NOW + 400 * DAY, Retention(raw_days=30, hourly_days=365))
        assert later["dropped_hours"] > 0 and later["dropped_downtimes"] == 2  # one per target
        assert db.execute("SELECT count(*) FROM probe_hourly").fetchone()[0] == 0
        assert probe_store.rollup(db, NOW + 400 * DAY)["rolled_up_samples"] == 0


def test_a_probe_run_rolls_up_a_bounded_slice_once_an_hour(tmp_path):
    with History(tmp_path / "history.sqlite") as store:
        db = store.connection
        _generate(store, 33, targets=("api-health",), step=300)
        assert probe_store.rollup_due(db, NOW)
        done = probe_store.rollup(db, NOW, max_hours=24)
        assert done["rolled_up_samples"] == 24 * 12 - 6  # the first hour starts at half past
        assert not probe_store.rollup_due(db, NOW + 60) and probe_store.rollup_due(db, NOW + 3600)


def test_a_late_sample_for_an_hour_already_rolled_up_is_added_to_it(tmp_path):
    with History(tmp_path / "history.sqlite") as store:
        db = store.connection
        old = NOW - 40 * DAY
        probe_store.record_samples(db, old, [Sample("web1", "http.health", "api", "ok", 10.0)], 1.0)
        probe_store.rollup(db, NOW)
        probe_store.record_samples(db, old + 60, [Sample("web1", "http.health", "api", "critical", None, "boom")], 1.0)
        probe_store.rollup(db, NOW + 3600)
        assert [tuple(row) for row in db.execute("SELECT up, down FROM probe_hourly")] == [(1, 1)]


def test_unknown_samples_neither_count_nor_end_an_outage(tmp_path):
    with History(tmp_path / "history.sqlite") as store:
        db = store.connection
        for offset, status in enumerate(("ok", "critical", "unknown", "critical", "warning")):
            probe_store.record_samples(db, NOW + 60 * offset, [Sample("web1", "http.health", "api", status, 5.0,
                                                                       "err %d" % offset)], 1.0)
        found = probe_store.availability(db, 1, NOW, NOW + 600)
        assert (found["up"], found["down"], found["unknown"], found["availability_pct"]) == (2, 2, 1, 50.0)
        [interval] = probe_store.downtimes(db, NOW, NOW + 600, NOW + 600)
        assert (interval["start"], interval["end"], interval["samples"], interval["first_error"]) == (
            NOW + 60, NOW + 240, 2, "err 1")


def test_the_weekly_uptime_kpi_rests_on_probe_samples_when_there_are_any(tmp_path):
    iso = "2026-09-21T22:30:00Z"
    import datetime
    now = int(datetime.datetime(2026, 9, 21, 22, 30, tzinfo=datetime.timezone.utc).timestamp())
    report = {"run_id": "weekly-1", "started_at": iso, "checks": [
        {"id": "http.health", "host": "web1", "target": "api-health", "status": "ok", "metrics": {}}]}
    with History(tmp_path / "history.sqlite") as store:
        run_based = kpis_for_report(report, store)["hosts"]["web1"]
        uptime = next(k for k in run_based if k["kpi"] == "uptime")
        assert uptime["samples"] == 1 and "runs" in uptime["source"]
        db = store.connection
        db.execute("PRAGMA synchronous=OFF")
        for ts in range(now - 7 * DAY, now, 60):  # a week of minute probes, 5 minutes down
            down = now - 2 * DAY <= ts < now - 2 * DAY + 300
            probe_store.record_samples(db, ts, [Sample("web1", "http.health", "api-health",
                                                       "critical" if down else "ok", 12.0)], 1.0)
        probed = next(k for k in kpis_for_report(report, store)["hosts"]["web1"] if k["kpi"] == "uptime")
    assert probed["samples"] == 7 * 1440
    assert probed["value"] == round(100.0 * (7 * 1440 - 5) / (7 * 1440), 3) and probed["verdict"] == "pass"
    assert "10080 probe samples" in probed["source"] and "5 down" in probed["source"]
