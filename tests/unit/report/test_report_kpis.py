"""Weekly KPIs from a history filled through its API (reports appended as the wrapper records them)."""

from __future__ import annotations

import datetime

from ansible.module_utils.upkeep import result
from upkeep.history import History
from upkeep.report import kpis, render
from upkeep.report.collector import Collector
from upkeep.report.enrich import enrich


def at(day, hour=6):
    return datetime.datetime(2026, 1, day, hour, tzinfo=datetime.timezone.utc)


def report(cadence, moment, checks):
    collector = Collector(cadence, started_at=moment)
    for host in sorted({c["host"] for c in checks}):
        collector.task_result("ok", host, "Probe", "r", result.module_result([c for c in checks if c["host"] == host]))
    collector.stats(sorted({c["host"] for c in checks}))
    return collector.report(ansible_rc=0, finished_at=moment)


def http(check_id, status, p95, host="web1", target="https://web1/api/health"):
    return result.check(check_id, target, status, "s", metrics={"latency_p95_ms": p95}, host=host)


def fill(path, days):
    """One daily run per day: health and an API endpoint on web1, a page too; web2 only health."""
    with History(path) as store:
        for day, (status, health_ms, page_ms) in days.items():
            store.append(report("daily", at(day), [
                http("http.health", status, health_ms),
                http("http.endpoint", "ok", health_ms * 2, target="https://web1/api/products"),
                http("http.page", "ok", page_ms, target="https://web1/"),
                http("http.health", "ok", 40.0, host="web2", target="https://web2/api/health"),
            ]))


def by_kpi(rows):
    return {row["kpi"]: row for row in rows}


def test_weekly_kpis_from_a_week_of_daily_runs(tmp_path):
    path = tmp_path / "history.sqlite"
    # day 1 falls outside the 7-day window of a weekly run on day 9 at 06:00 and must not count
    fill(path, {1: ("critical", 9000.0, 9000.0), 2: ("ok", 100.0, 1000.0), 3: ("ok", 120.0, 1200.0),
                4: ("critical", 110.0, 1100.0), 5: ("ok", 130.0, 1300.0), 6: ("ok", 140.0, 1400.0),
                7: ("ok", 150.0, 1500.0), 8: ("unknown", 160.0, 1600.0)})
    weekly = report("weekly", at(9), [
        result.check("log.scan", "/var/log/nginx/access.log", "warning", "s", metrics={"error_rate_pct": 2.5},
                     host="web1"),
        result.check("log.scan", "/var/log/app.log", "ok", "s", metrics={"error_rate_pct": 0.2}, host="web1"),
        result.check("log.latency", "/var/log/nginx/access.log", "warning", "s", metrics={"latency_p95_ms": 640.0},
                     host="web1"),
    ])
    assert enrich(weekly, path) == []
    section = weekly["kpis"]
    assert section["window"] == {"since": "2026-01-02T06:00:00Z", "until": "2026-01-09T06:00:00Z", "days": 7}
    web1 = by_kpi(section["hosts"]["web1"])
    # health p95s 100..160 (7 days) and endpoints 200..320: p95 of those 14 values
    api_values = [100.0, 120.0, 110.0, 130.0, 140.0, 150.0, 160.0] + [200.0, 240.0, 220.0, 260.0, 280.0, 300.0, 320.0]
    assert web1["api_response"]["samples"] == 14
    assert web1["api_response"]["value"] == round(kpis.percentile(api_values, 95), 1) == 307.0
    assert web1["api_response"]["verdict"] == "pass" and web1["api_response"]["target"] == {"op": "<", "value": 500.0}
    assert web1["page_load"]["value"] == round(kpis.percentile([1000.0, 1200, 1100, 1300, 1400, 1500, 1600], 95), 1)
    assert web1["page_load"]["verdict"] == "pass"
    # days 2-7: 6 evaluated runs (day 8 unknown is not a sample), one of them down
    assert web1["uptime"]["samples"] == 6 and web1["uptime"]["value"] == round(500 / 6, 2)
    assert web1["uptime"]["verdict"] == "not enough data"  # 6 < 7 samples
    assert web1["error_rate"]["value"] == 2.5 and web1["error_rate"]["verdict"] == "fail"
    assert web1["error_rate"]["samples"] == 2
    assert web1["api_response_logs"]["value"] == 640.0 and web1["api_response_logs"]["verdict"] == "fail"

    web2 = by_kpi(section["hosts"]["web2"])
    assert web2["page_load"] == dict(web2["page_load"], value=None, samples=0, verdict="no data")
    assert web2["error_rate"]["verdict"] == "no data" and web2["error_rate"]["value"] is None
    assert web2["uptime"]["samples"] == 7 and web2["uptime"]["value"] == 100.0 and web2["uptime"]["verdict"] == "pass"

    md = render.render_markdown(weekly)
    kpi_md = md[md.index("## Weekly KPIs"):md.index("## Hosts")]
    assert "| API response | 307 ms | < 500 ms | 14 | PASS |" in kpi_md
    assert "| Error rate | 2.5% | < 1% | 2 | FAIL |" in kpi_md
    assert "| Uptime | 83.33% | > 99.9% | 6 | NOT ENOUGH DATA |" in kpi_md
    assert "| Page load | no data | < 3000 ms | 0 | NO DATA |" in kpi_md
    assert "Weekly KPIs" in render.render_html(weekly)


def test_kpis_only_in_the_weekly_report_and_no_data_without_history(tmp_path):
    daily = report("daily", at(9), [http("http.health", "ok", 10.0)])
    enrich(daily, tmp_path / "none.sqlite")
    assert "kpis" not in daily and "Weekly KPIs" not in render.render_markdown(daily)

    weekly = report("weekly", at(9), [result.check("tls.certificate", "web1:443", "ok", "s", host="web1")])
    enrich(weekly, tmp_path / "none.sqlite")
    assert {row["verdict"] for row in weekly["kpis"]["hosts"]["web1"]} == {"no data"}
    assert all(row["value"] is None for row in weekly["kpis"]["hosts"]["web1"])


def test_compute_kpis_is_reusable_on_plain_records():
    records = [{"run_id": "r%d" % i, "started_at": "2026-01-0%dT00:00:00Z" % i, "host": "h", "check_id": "http.health",
                "target": "t", "status": "ok", "metrics": {"latency_p95_ms": 700.0}} for i in range(1, 4)]
    [row_page, row_api, row_logs, row_err, row_up] = kpis.compute_kpis(records, "2026-01-01T00:00:00Z", "2026-01-31T00:00:00Z",
                                                             min_samples=3)["hosts"]["h"]
    assert row_api["verdict"] == "fail" and row_api["value"] == 700.0
    assert row_up["verdict"] == "pass" and row_up["samples"] == 3
    assert row_logs["verdict"] == row_err["verdict"] == row_page["verdict"] == "no data"
