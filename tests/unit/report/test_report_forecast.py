"""Disk fill dates at report time: a real history store holding a generated series of host.disk
runs, then a new report enriched from it (src/upkeep/report/forecast.py through enrich)."""

from __future__ import annotations

import datetime

from ansible.module_utils.upkeep import result
from upkeep.history import History
from upkeep.report.collector import Collector
from upkeep.report.enrich import enrich
from upkeep.report.forecast import forecast_check, linear_growth

GIB = 2 ** 30
TOTAL = 100 * GIB
START = datetime.datetime(2026, 3, 1, 2, 0, tzinfo=datetime.timezone.utc)


def disk(target, used):
    return result.check("host.disk", target, "ok", "%s used" % target,
                        metrics={"disk_total_bytes": TOTAL, "disk_used_bytes": used, "disk_free_bytes": TOTAL - used,
                                 "disk_used_pct": round(100.0 * used / TOTAL, 1)})


def report(day, checks, host="app1"):
    moment = START + datetime.timedelta(days=day)
    collector = Collector("daily", started_at=moment)
    collector.task_result("ok", host, "Check this host", "upkeep_host_resources", result.module_result(checks))
    collector.stats([host])
    return collector.report(ansible_rc=0, run_id="daily-%03d-%s" % (day, host), finished_at=moment)


def history(tmp_path, days, used_on_day, targets=("/data",), host="app1"):
    path = tmp_path / "history.sqlite"
    with History(path) as store:
        for day in range(days):
            earlier = report(day, [disk(target, used_on_day(day, target)) for target in targets], host)
            enrich(earlier, path)
            store.append(earlier)
    return path


def by_target(done):
    return {item["target"]: item for item in done["checks"]}


def test_a_disk_growing_a_gib_a_day_is_full_in_ten_days(tmp_path):
    # /data grows 1 GiB a day (with daily noise); /var is flat; 20 days of history.
    noise = [0, 0.3, -0.2, 0.1, -0.3, 0.2, 0, -0.1, 0.3, -0.2] * 2
    path = history(tmp_path, 20, lambda day, target: int((70 + day + noise[day]) * GIB) if target == "/data" else 40 * GIB,
                   targets=("/data", "/var"))
    now = report(20, [disk("/data", 90 * GIB), disk("/var", 40 * GIB)])
    assert enrich(now, path) == []
    data, var = by_target(now)["/data"], by_target(now)["/var"]
    forecast = data["forecast"]
    # the last 14 runs (13 earlier plus this one) are fitted
    assert forecast["points"] == 14 and forecast["span_days"] == 13.0
    assert abs(forecast["growth_bytes_per_day"] - GIB) < 0.05 * GIB
    assert 9.5 < data["metrics"]["days_until_full"] < 10.5
    assert forecast["fill_date"] in ("2026-03-30", "2026-03-31")
    assert data["thresholds"]["days_until_full"] == {"warning": 30.0, "critical": 7.0, "direction": "below"}
    (found,) = data["findings"]
    assert found["severity"] == "warning" and found["title"].startswith("Disk /data full in about ")
    # Fitted before the comparison, so fingerprinted like the rest: the earlier runs already
    # warned (30 days and less for a week), and "in about 11 days" then is the same finding now.
    assert found["fingerprint"] and found["new"] is False
    assert data["status"] == "ok"  # the play's verdict is not rewritten at report time
    assert var["forecast"]["days_until_full"] is None and "not growing" in var["forecast"]["note"]
    assert "days_until_full" not in var["metrics"] and not var["findings"]
    assert data["trend"]["disk_used_bytes"]["previous"] == int((70 + 19 - 0.2) * GIB)  # the usual trend is still there


def test_days_left_under_a_week_is_a_critical_finding_and_other_hosts_do_not_mix(tmp_path):
    path = history(tmp_path, 5, lambda day, target: (80 + 4 * day) * GIB)
    with History(path) as store:  # another host's same mount point, shrinking, must not bend the line
        for day in range(5):
            store.append(report(day, [disk("/data", (90 - 5 * day) * GIB)], host="app2"))
    now = report(5, [disk("/data", 97 * GIB)])
    enrich(now, path)
    data = by_target(now)["/data"]
    assert data["forecast"]["points"] == 6 and data["metrics"]["days_until_full"] < 1.0
    assert [item["severity"] for item in data["findings"]] == ["critical"]


def test_too_little_history_gives_no_forecast(tmp_path):
    path = history(tmp_path, 1, lambda day, target: 50 * GIB)
    now = report(1, [disk("/data", 60 * GIB)])
    enrich(now, path)
    assert "forecast" not in by_target(now)["/data"]  # two points: no line worth drawing
    fresh = report(0, [disk("/data", 60 * GIB)])
    assert enrich(fresh, tmp_path / "none.sqlite") == [] and "forecast" not in fresh["checks"][0]


def test_runs_minutes_apart_are_not_a_trend():
    check = disk("/data", 60 * GIB)
    series = [{"started_at": (START - datetime.timedelta(minutes=minutes)).isoformat(), "value": 59 * GIB}
              for minutes in (30, 20, 10)]
    assert forecast_check(check, series, START) is None


def test_linear_growth():
    assert linear_growth([(0, 1), (1, 3), (2, 5)]) == 2.0
    assert linear_growth([(1, 1), (1, 2)]) is None
