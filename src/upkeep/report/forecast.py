"""When each disk fills up, from history: a step of :func:`upkeep.report.enrich.enrich`.

``host.disk`` runs on the host, which keeps no history, so the estimate is made here at report
time: a least-squares line through the filesystem's ``disk_used_bytes`` over its last runs (any
cadence: the bytes on a disk do not depend on who looked) and this run's value gives the growth
per day; today's free bytes divided by it is ``days_until_full``, added to the check's metrics,
with a ``forecast`` entry (points, span, growth, fill date) and a finding under the thresholds.

The check's status is left as the host judged it: the play's own verdict (the AWX summary,
``upkeep_fail_on``) is decided before history is read, and the report must not contradict it.
The finding is what carries the warning to the reader and to alerts.
"""

from __future__ import annotations

import datetime

CHECK_ID = "host.disk"
USED, FREE, TOTAL = "disk_used_bytes", "disk_free_bytes", "disk_total_bytes"
DEFAULTS = {"points": 14, "min_points": 3, "min_span_days": 1.0, "warning_days": 30.0, "critical_days": 7.0}
_DAY_S = 86400.0


def _when(stamp: str) -> datetime.datetime:
    moment = datetime.datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)


def linear_growth(points: list[tuple[float, float]]) -> float | None:
    """Slope (value per unit of x) of the least-squares line through ``points``; None when x
    does not vary."""
    count = len(points)
    mean_x = sum(x for x, _ in points) / count
    mean_y = sum(y for _, y in points) / count
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    if spread == 0:
        return None
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread


def forecast_check(check: dict, series: list[dict], now: datetime.datetime, options: dict | None = None) -> dict | None:
    """The ``forecast`` entry for one ``host.disk`` check from its earlier ``series``
    (History.metric_series rows, oldest first), adding ``days_until_full`` and a finding to
    ``check`` in place; None (the check untouched) when there is too little history to fit."""
    o = dict(DEFAULTS, **(options or {}))
    metrics = check.get("metrics") or {}
    used, free = metrics.get(USED), metrics.get(FREE)
    if not isinstance(used, (int, float)) or not isinstance(free, (int, float)):
        return None
    earlier = [(_when(row["started_at"]), float(row["value"])) for row in series
               if isinstance(row.get("value"), (int, float))][-(int(o["points"]) - 1):]
    points = [((moment - now).total_seconds() / _DAY_S, value) for moment, value in earlier] + [(0.0, float(used))]
    span_days = -points[0][0]
    if len(points) < o["min_points"] or span_days < o["min_span_days"]:
        return None
    growth = linear_growth(points)
    entry = {"points": len(points), "span_days": round(span_days, 2),
             "growth_bytes_per_day": round(growth, 1) if growth is not None else None,
             "days_until_full": None, "fill_date": None}
    if growth is None or growth <= 0:
        entry["note"] = "not growing over the last %d runs" % len(points)
        return entry
    days = free / growth
    entry.update(days_until_full=round(days, 1), fill_date=(now + datetime.timedelta(days=days)).date().isoformat())
    metrics["days_until_full"] = entry["days_until_full"]
    check.setdefault("thresholds", {})["days_until_full"] = {
        "warning": o["warning_days"], "critical": o["critical_days"], "direction": "below"}
    severity = "critical" if days <= o["critical_days"] else "warning" if days <= o["warning_days"] else None
    if severity:
        target = check.get("target", "")
        check.setdefault("findings", []).append({
            "severity": severity, "title": "Disk %s full in about %d days" % (target, days), "resource": target,
            "detail": "growing %.0f MiB a day over %d runs in %.1f days; %d MiB free; full around %s" % (
                growth / 2 ** 20, len(points), span_days, free / 2 ** 20, entry["fill_date"]),
            "remediation": "Find what grows (logs, backups, uploads) and rotate or move it, or grow the filesystem "
                           "before then."})
    return entry


def add_forecasts(report: dict, store, options: dict | None = None) -> int:
    """Forecast every ``host.disk`` check of ``report`` from ``store`` (a History, or None: no
    history, nothing to fit). Returns how many checks got a forecast."""
    if store is None:
        return 0
    now = _when(report["started_at"])
    done = 0
    for check in report.get("checks") or []:
        if check.get("id") != CHECK_ID:
            continue
        series = [row for row in store.metric_series(CHECK_ID, USED, host=check.get("host", ""),
                                                     target=check.get("target", ""))
                  if row.get("run_id") != report.get("run_id") and _when(row["started_at"]) < now]
        entry = forecast_check(check, series, now, options)
        if entry is not None:
            check["forecast"] = entry
            done += 1
    return done
