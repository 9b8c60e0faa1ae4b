"""``upkeep probe report``: uptime from the probe samples of the history store.

Per target: availability over 24 h, 7 d and 30 d (with the samples each rests on), latency
percentiles over 24 h and per day for the last 7 days, and the downtime intervals of the last
30 days (start, end, duration, first error).
"""

from __future__ import annotations

import time

from . import probe_store

WINDOWS = (("24h", 86400), ("7d", 7 * 86400), ("30d", 30 * 86400))


def build(db, now: float | None = None, days: int = 30, series_days: int = 7) -> dict:
    now = int(time.time() if now is None else now)
    report = {"generated_at": iso(now), "targets": [], "downtimes": []}
    for target in probe_store.targets(db):
        tid = target["target_id"]
        entry = {key: target[key] for key in ("host", "check_id", "target")}
        entry["availability"] = {name: probe_store.availability(db, tid, now - span, now) for name, span in WINDOWS}
        entry["latency_24h_ms"] = probe_store.latency_percentiles(db, tid, now - 86400, now)
        day0 = (now // 86400 - series_days + 1) * 86400
        entry["latency_by_day_ms"] = [dict(point, day=iso(point["start"])[:10]) for point in
                                      probe_store.latency_series(db, tid, day0, now + 1, 86400)]
        report["targets"].append(entry)
    for interval in probe_store.downtimes(db, now - days * 86400, now, now):
        report["downtimes"].append(dict(interval, start=iso(interval["start"]),
                                        end=iso(interval["end"]) if interval["end"] is not None else None,
                                        last_down=iso(interval["last_down"])))
    last = db.execute("SELECT max(ts), count(*) FROM probe_runs WHERE ts >= ?", (now - 86400,)).fetchone()
    report["last_probe"] = iso(last[0]) if last[0] is not None else None
    report["probe_runs_24h"] = last[1]
    return report


def iso(ts: int | None) -> str | None:
    return None if ts is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _pct(found: dict) -> str:
    value = found["availability_pct"]
    return "%8s" % ("-" if value is None else "%.3f%%" % value) + " %6d" % found["samples"]


def _ms(value) -> str:
    return "-" if value is None else "%.1f" % value


def duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return ("%dh%02dm%02ds" % (hours, minutes, secs) if hours else "%dm%02ds" % (minutes, secs) if minutes
            else "%ds" % secs)


def render(report: dict) -> str:
    lines = ["Uptime from probe samples (at %s; last probe %s, %d runs in 24 h)"
             % (report["generated_at"], report["last_probe"] or "never", report["probe_runs_24h"]), ""]
    if not report["targets"]:
        return "\n".join(lines + ["No probe samples yet: run `upkeep probe` (every minute, from a schedule)."])
    lines.append("%-12s %-14s %-28s %8s %6s %8s %6s %8s %6s %8s %8s" % (
        "HOST", "CHECK", "TARGET", "24H", "N", "7D", "N", "30D", "N", "P50 MS", "P95 MS"))
    for entry in report["targets"]:
        avail = entry["availability"]
        lines.append("%-12s %-14s %-28s %s %s %s %8s %8s" % (
            entry["host"][:12], entry["check_id"][:14], entry["target"][:28], _pct(avail["24h"]), _pct(avail["7d"]),
            _pct(avail["30d"]), _ms(entry["latency_24h_ms"]["p50"]), _ms(entry["latency_24h_ms"]["p95"])))
    lines += ["", "Latency by day (p50 / p95 ms):"]
    for entry in report["targets"]:
        points = ["%s %s/%s" % (p["day"][5:], _ms(p["p50"]), _ms(p["p95"])) for p in entry["latency_by_day_ms"]]
        lines.append("  %-28s %s" % (entry["target"][:28], "  ".join(points)))
    lines += ["", "Downtime (last 30 days):"]
    if not report["downtimes"]:
        lines.append("  none")
    for item in report["downtimes"]:
        lines.append("  %-28s %s -> %s  %s  %d samples  first error: %s" % (
            item["target"][:28], item["start"], item["end"] or "still down", duration(item["duration_s"]),
            item["samples"], item["first_error"] or "-"))
    return "\n".join(lines)
