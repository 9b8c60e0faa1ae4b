"""The guide's weekly KPIs per host, from the history of a window (default the last 7 days, all
cadences) plus the run being reported.

| KPI | from | target |
|---|---|---|
| page load | p95 of ``http.page`` checks' ``latency_p95_ms`` | < 3000 ms |
| API response | p95 of ``http.health`` / ``http.endpoint`` ``latency_p95_ms`` | < 500 ms |
| API response (access logs) | ``latency_p95_ms`` of ``log.latency``: latest per log, worst of those | < 500 ms |
| error rate | ``error_rate_pct`` of ``log.*`` checks: latest per (check, target), worst of those | < 1 % |
| uptime | share of the minute probes of the host's ``http.health`` targets that were up; without probes, share of runs in which every ``http.health`` was ok | > 99.9 % |

Uptime from probes (upkeep.probe_store) is used whenever the window holds any probe sample;
unknown samples and checks (not evaluated) are left out either way.

Never a made-up number: no samples gives ``verdict: "no data"`` and ``value: None``; an uptime
from fewer than ``min_samples`` runs (or ``PROBE_MIN_SAMPLES`` probe samples: below 1,000 a
0.1 % step cannot even be seen) gives ``"not enough data"`` (the value is shown, not judged).
The KPI's ``source`` says which it rests on and how many samples.
"""

from __future__ import annotations

import datetime
import math
from typing import Iterable

DEFAULT_DAYS = 7
DEFAULT_MIN_SAMPLES = 7  # one run a day for the week

PAGE_LOAD_MS = 3000.0
API_RESPONSE_MS = 500.0
ERROR_RATE_PCT = 1.0
UPTIME_PCT = 99.9

API_CHECKS = ("http.health", "http.endpoint")
PAGE_CHECKS = ("http.page",)
UPTIME_CHECK = "http.health"
LOG_LATENCY_CHECK = "log.latency"
LATENCY_METRIC = "latency_p95_ms"
ERROR_RATE_METRIC = "error_rate_pct"
PROBE_MIN_SAMPLES = 1000

PASS, FAIL, NO_DATA, NOT_ENOUGH = "pass", "fail", "no data", "not enough data"


def percentile(values: list[float], pct: float) -> float:
    """Linear-interpolated percentile (the same definition as module_utils result.percentile)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * pct / 100.0
    lower = int(math.floor(position))
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def compute_kpis(records: Iterable[dict], since: str, until: str, min_samples: int = DEFAULT_MIN_SAMPLES,
                 probe_uptime: dict | None = None) -> dict:
    """KPIs per host from check records ``{run_id, started_at, host, check_id|id, target,
    status, metrics}`` (history rows or report checks with ``run_id``/``started_at`` added),
    keeping those with ``since <= started_at <= until`` (ISO UTC strings). ``probe_uptime``:
    per host, ``{up, down, samples, targets}`` of its probed ``http.health`` targets over the
    window; a host found there has its uptime from the probes."""
    by_host: dict[str, list[dict]] = {}
    for record in records:
        if since <= record["started_at"] <= until:
            by_host.setdefault(record.get("host") or "", []).append(record)
    probe_uptime = {host: found for host, found in (probe_uptime or {}).items() if found["samples"]}
    for host in probe_uptime:
        by_host.setdefault(host, [])
    hosts = {}
    for host in sorted(by_host):
        rows = by_host[host]
        hosts[host] = [
            _latency_kpi("page_load", "Page load", rows, PAGE_CHECKS, PAGE_LOAD_MS),
            _latency_kpi("api_response", "API response", rows, API_CHECKS, API_RESPONSE_MS),
            _latest_kpi("api_response_logs", "API response (access logs)", rows, lambda i: i == LOG_LATENCY_CHECK,
                        LATENCY_METRIC, "ms", API_RESPONSE_MS, "latest %s %s per log, worst of them"
                        % (LOG_LATENCY_CHECK, LATENCY_METRIC)),
            _latest_kpi("error_rate", "Error rate", rows, lambda i: i.startswith("log."), ERROR_RATE_METRIC, "%",
                        ERROR_RATE_PCT, "latest log.* %s per log, worst of them" % ERROR_RATE_METRIC),
            _probe_uptime_kpi(probe_uptime[host]) if host in probe_uptime else _uptime_kpi(rows, min_samples),
        ]
    return {"window": {"since": since, "until": until}, "min_samples": min_samples, "hosts": hosts}


def kpis_for_report(report: dict, store=None, days: int = DEFAULT_DAYS, min_samples: int = DEFAULT_MIN_SAMPLES) -> dict:
    """KPIs for the window of ``days`` ending at the report's start, from ``store`` (a
    History, or None) and the report's own checks."""
    until = report["started_at"]
    start = datetime.datetime.strptime(until, "%Y-%m-%dT%H:%M:%SZ") - datetime.timedelta(days=days)
    since = start.strftime("%Y-%m-%dT%H:%M:%SZ")
    records = [] if store is None else [r for r in store.iter_checks(since=since) if r["run_id"] != report["run_id"]]
    records += [dict(c, run_id=report["run_id"], started_at=until) for c in report.get("checks") or []]
    result = compute_kpis(records, since, until, min_samples, _probe_uptime(store, start, until))
    result["window"]["days"] = days
    return result


def _probe_uptime(store, start: datetime.datetime, until: str) -> dict:
    """Per host, the probe samples of its http.health targets in the window (none without a
    store of schema 3, or without probes)."""
    db = getattr(store, "connection", None)
    if db is None:
        return {}
    from .. import probe_store
    since_ts = int(start.replace(tzinfo=datetime.timezone.utc).timestamp())
    until_ts = int(datetime.datetime.strptime(until, "%Y-%m-%dT%H:%M:%SZ")
                   .replace(tzinfo=datetime.timezone.utc).timestamp())
    if not probe_store.has_samples(db, since_ts, until_ts):
        return {}
    return probe_store.uptime_by_host(db, UPTIME_CHECK, since_ts, until_ts)


def _probe_uptime_kpi(found: dict) -> dict:
    samples = found["samples"]
    value = round(100.0 * found["up"] / samples, 3)
    verdict = _judge(value, ">", UPTIME_PCT) if samples >= PROBE_MIN_SAMPLES else NOT_ENOUGH
    return _kpi("uptime", "Uptime", value, "%", ">", UPTIME_PCT, samples, verdict,
                "%d probe samples of %d %s target(s): %d up, %d down (%d needed to judge)"
                % (samples, found["targets"], UPTIME_CHECK, found["up"], found["down"], PROBE_MIN_SAMPLES))


def _id(record: dict) -> str:
    return record.get("check_id") or record.get("id") or ""


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _kpi(key, label, value, unit, op, target, samples, verdict, source) -> dict:
    return {"kpi": key, "label": label, "value": value, "unit": unit, "target": {"op": op, "value": target},
            "samples": samples, "verdict": verdict, "source": source}


def _judge(value, op, target) -> str:
    if value is None:
        return NO_DATA
    return PASS if (value < target if op == "<" else value > target) else FAIL


def _latency_kpi(key, label, rows, check_ids, target) -> dict:
    values = [r["metrics"][LATENCY_METRIC] for r in rows
              if _id(r) in check_ids and _number((r.get("metrics") or {}).get(LATENCY_METRIC))]
    value = round(percentile(values, 95), 1) if values else None
    return _kpi(key, label, value, "ms", "<", target, len(values), _judge(value, "<", target),
                "p95 of %s %s" % ("/".join(check_ids), LATENCY_METRIC))


def _latest_kpi(key, label, rows, wanted, metric, unit, target, source) -> dict:
    """The worst of the latest values per (check, target): a log scan already covers its own
    window, so its newest value speaks for the week; older ones are counted as samples."""
    latest: dict[tuple, tuple] = {}
    samples = 0
    for r in rows:
        value = (r.get("metrics") or {}).get(metric)
        if wanted(_id(r)) and _number(value):
            samples += 1
            key_ = (_id(r), r.get("target", ""))
            if key_ not in latest or r["started_at"] >= latest[key_][0]:
                latest[key_] = (r["started_at"], value)
    value = max(v for _, v in latest.values()) if latest else None
    return _kpi(key, label, value, unit, "<", target, samples, _judge(value, "<", target), source)


def _uptime_kpi(rows, min_samples) -> dict:
    runs: dict[str, bool] = {}
    for r in rows:
        if _id(r) == UPTIME_CHECK and r["status"] != "unknown":
            runs[r["run_id"]] = runs.get(r["run_id"], True) and r["status"] == "ok"
    samples = len(runs)
    value = round(100.0 * sum(runs.values()) / samples, 2) if samples else None
    verdict = _judge(value, ">", UPTIME_PCT)
    if value is not None and samples < min_samples:
        verdict = NOT_ENOUGH
    return _kpi("uptime", "Uptime", value, "%", ">", UPTIME_PCT, samples, verdict,
                "share of runs with every %s ok (%d needed)" % (UPTIME_CHECK, min_samples))
