"""A small report with every kind of check (ok, critical with hostile text, warning, a failed
task), built through the real collector: the report tests render and publish it."""

from __future__ import annotations

from ansible.module_utils.upkeep import result
from upkeep.report.collector import Collector

HOSTILE = '<script>alert("x")</script> | & "quoted" \x00\x1b'


def make_report(partial=False) -> dict:
    collector = Collector("daily")
    checks = [
        result.check("http.health", "https://web1/api/health", "ok", "200 in 12 ms", metrics={"latency_p95_ms": 12.0},
                     thresholds={"latency_p95_ms": result.thresholds(500, 2000)}, duration_ms=40, host="web1"),
        result.check("http.page", "https://web2/<b>", "critical", HOSTILE, host="web2",
                     findings=[result.finding("critical", "Page down <img src=x onerror=alert(1)>", "/",
                                              "detail " + HOSTILE, "Restart <the> app")]),
        result.check("pg.ping", "db", "warning", "slow query", metrics={"query_ms": 250.5}, host="web2"),
    ]
    collector.feed_event({"event": "runner_on_ok", "event_data": {"host": "web1", "task": "t", "role": "r",
                                                                  "res": result.module_result(checks)}})
    collector.feed_event({"event": "runner_on_failed", "event_data": {"host": "web3", "task": "Probe", "role": "upkeep_smtp",
                                                                      "res": {"msg": "missing required lib <aiosmtplib>"}}})
    if not partial:
        collector.feed_event({"event": "playbook_on_stats", "event_data": {"processed": {"web1": 1, "web2": 1, "web3": 1}}})
    return collector.report(ansible_rc=2, interrupted=partial, run={"inventory": "inv.yml", "check_mode": False})
