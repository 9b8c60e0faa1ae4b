"""Minute probe samples in the history store (schema 3 of upkeep.history): writing, retention,
and what is read back (availability, downtime intervals, latency percentiles).

A sample is one target's result of one probe run: ``(target, time, status, latency, error)``.
Availability is sample based: the share of evaluated samples (ok, warning or critical; unknown
means "not evaluated" and is left out) in which the target answered (ok or warning: slow is up).
A downtime interval runs from the first critical sample to the first later sample that is up
(still open when none is); it is kept as its own row, maintained as samples are written, so it
outlives the raw samples. Retention: raw samples ``raw_days`` (30), then hourly roll-ups (counts,
a latency histogram and the hour's first error) ``hourly_days`` (365); runs and downtime
intervals follow the same clocks.

Times are epoch seconds (UTC) throughout; the callers turn them into ISO strings to show.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sqlite3
from typing import Iterable

STATUS_CODES = {"ok": 0, "warning": 1, "critical": 2, "unknown": 3}
STATUS_NAMES = {code: name for name, code in STATUS_CODES.items()}
UP_MAX, DOWN, UNKNOWN = 1, 2, 3  # status <= UP_MAX is up

DEFAULT_RAW_DAYS = 30
DEFAULT_HOURLY_DAYS = 365
ROLLUP_EVERY_S = 3600  # a probe run rolls up at most this often (probe_meta.last_rollup)
# Latency histograms of the hourly roll-ups: log buckets 5 % wide, so a percentile read back from
# merged hours is within 5 % of the exact one.
_LOG_STEP = math.log(1.05)


@dataclasses.dataclass(frozen=True)
class Sample:
    host: str
    check_id: str
    target: str
    status: str
    latency_ms: float | None
    error: str | None = None


@dataclasses.dataclass(frozen=True)
class Retention:
    raw_days: int = DEFAULT_RAW_DAYS
    hourly_days: int = DEFAULT_HOURLY_DAYS


# -- writing ---------------------------------------------------------------------------------

def target_ids(db: sqlite3.Connection, keys: Iterable[tuple[str, str, str]]) -> dict[tuple, int]:
    keys = list(dict.fromkeys(keys))
    found = {}
    for key in keys:
        row = db.execute("SELECT target_id FROM probe_targets WHERE host = ? AND check_id = ? AND target = ?",
                         key).fetchone()
        if row is None:
            row = (db.execute("INSERT INTO probe_targets (host, check_id, target) VALUES (?, ?, ?)", key).lastrowid,)
        found[key] = row[0]
    return found


def error_id(db: sqlite3.Connection, text: str | None) -> int | None:
    if not text:
        return None
    text = text[:500]
    row = db.execute("SELECT error_id FROM probe_errors WHERE text = ?", (text,)).fetchone()
    return row[0] if row else db.execute("INSERT INTO probe_errors (text) VALUES (?)", (text,)).lastrowid


def record_samples(db: sqlite3.Connection, ts: int, samples: list[Sample], duration_ms: float) -> None:
    """Append one probe run's samples (one transaction), updating the downtime intervals."""
    counts = {name: 0 for name in STATUS_CODES}
    with db:
        ids = target_ids(db, ((s.host, s.check_id, s.target) for s in samples))
        for sample in samples:
            code = STATUS_CODES.get(sample.status, UNKNOWN)
            counts[STATUS_NAMES[code]] += 1
            target = ids[(sample.host, sample.check_id, sample.target)]
            err = error_id(db, sample.error) if code >= DOWN else None
            latency = None if sample.latency_ms is None else int(round(sample.latency_ms * 1000))
            db.execute("INSERT OR REPLACE INTO probe_samples (target_id, ts, status, latency_us, error_id)"
                       " VALUES (?, ?, ?, ?, ?)", (target, ts, code, latency, err))
            _track_downtime(db, target, ts, code, err)
        db.execute("INSERT OR REPLACE INTO probe_runs (ts, duration_ms, ok, warning, critical, unknown)"
                   " VALUES (?, ?, ?, ?, ?, ?)", (ts, round(duration_ms, 1), counts["ok"], counts["warning"],
                                                  counts["critical"], counts["unknown"]))


def _track_downtime(db, target: int, ts: int, code: int, err: int | None) -> None:
    if code == UNKNOWN:
        return  # not evaluated: neither opens nor closes an interval
    if code == DOWN:
        updated = db.execute("UPDATE probe_downtimes SET last_down_ts = max(last_down_ts, ?), samples = samples + 1"
                             " WHERE target_id = ? AND end_ts IS NULL", (ts, target)).rowcount
        if not updated:
            db.execute("INSERT OR IGNORE INTO probe_downtimes (target_id, start_ts, end_ts, last_down_ts, samples,"
                       " first_error_id) VALUES (?, ?, NULL, ?, 1, ?)", (target, ts, ts, err))
    else:
        db.execute("UPDATE probe_downtimes SET end_ts = ? WHERE target_id = ? AND end_ts IS NULL AND start_ts <= ?",
                   (ts, target, ts))


# -- retention -------------------------------------------------------------------------------

def rollup(db: sqlite3.Connection, now: float, retention: Retention = Retention(),
           max_hours: int | None = None) -> dict:
    """Roll raw samples older than ``raw_days`` (whole hours) into hourly rows and delete them;
    delete hourly rows, finished downtime intervals and probe runs past their retention.
    ``max_hours`` bounds the hours rolled up in one call (a probe run keeps to its budget; the
    rest waits for the next). Returns what was done."""
    raw_cutoff = (int(now) - retention.raw_days * 86400) // 3600 * 3600
    hourly_cutoff = (int(now) - retention.hourly_days * 86400) // 3600 * 3600
    with db:
        first = db.execute("SELECT min(ts) FROM probe_samples").fetchone()[0]
        end = raw_cutoff
        if first is not None and max_hours is not None:
            end = min(end, first // 3600 * 3600 + max_hours * 3600)
        rolled = 0
        if first is not None and first < end:
            rolled = _rollup_until(db, end)
        dropped_hours = db.execute("DELETE FROM probe_hourly WHERE hour < ?", (hourly_cutoff,)).rowcount
        dropped_downtimes = db.execute("DELETE FROM probe_downtimes WHERE end_ts IS NOT NULL AND end_ts < ?",
                                       (hourly_cutoff,)).rowcount
        db.execute("DELETE FROM probe_runs WHERE ts < ?", (raw_cutoff,))
        db.execute("INSERT OR REPLACE INTO probe_meta (key, value) VALUES ('last_rollup', ?)", (str(int(now)),))
    return {"rolled_up_samples": rolled, "dropped_hours": dropped_hours, "dropped_downtimes": dropped_downtimes,
            "raw_before": raw_cutoff, "hourly_before": hourly_cutoff}


def _rollup_until(db, end: int) -> int:
    hours: dict[tuple[int, int], list] = {}
    count = 0
    for target, ts, status, latency, err in db.execute(
            "SELECT target_id, ts, status, latency_us, error_id FROM probe_samples WHERE ts < ?", (end,)):
        count += 1
        key = (target, ts // 3600 * 3600)
        agg = hours.get(key)
        if agg is None:
            agg = hours[key] = [0, 0, 0, 0, {}, None, None]  # up, down, unknown, warning, hist, first error ts, id
        if status <= UP_MAX:
            agg[0] += 1
            agg[3] += status == 1
            if latency is not None:
                bucket = _bucket(latency)
                agg[4][bucket] = agg[4].get(bucket, 0) + 1
        elif status == DOWN:
            agg[1] += 1
            if err is not None and (agg[5] is None or ts < agg[5]):
                agg[5], agg[6] = ts, err
        else:
            agg[2] += 1
    for (target, hour), (up, down, unknown, warning, hist, _, err) in hours.items():
        old = db.execute("SELECT up, down, unknown, warning, latency_hist, first_error_id FROM probe_hourly"
                         " WHERE target_id = ? AND hour = ?", (target, hour)).fetchone()
        if old:  # a late sample for an hour already rolled up: add to it
            up, down, unknown, warning = up + old[0], down + old[1], unknown + old[2], warning + old[3]
            for bucket, n in _hist(old[4]).items():
                hist[bucket] = hist.get(bucket, 0) + n
            err = old[5] if old[5] is not None else err
        db.execute("INSERT OR REPLACE INTO probe_hourly (target_id, hour, up, down, unknown, warning, latency_hist,"
                   " first_error_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   (target, hour, up, down, unknown, warning,
                    json.dumps(hist, separators=(",", ":")) if hist else None, err))
    db.execute("DELETE FROM probe_samples WHERE ts < ?", (end,))
    return count


def _bucket(latency_us: int) -> int:
    return int(math.log(max(latency_us, 1)) / _LOG_STEP)


def _bucket_value_ms(bucket: int) -> float:
    return math.exp((bucket + 0.5) * _LOG_STEP) / 1000.0


def _hist(text: str | None) -> dict[int, int]:
    return {int(k): v for k, v in json.loads(text).items()} if text else {}


def rollup_due(db: sqlite3.Connection, now: float) -> bool:
    row = db.execute("SELECT value FROM probe_meta WHERE key = 'last_rollup'").fetchone()
    return row is None or now - float(row[0]) >= ROLLUP_EVERY_S


# -- reading ---------------------------------------------------------------------------------

def targets(db: sqlite3.Connection) -> list[dict]:
    return [dict(zip(("target_id", "host", "check_id", "target"), row))
            for row in db.execute("SELECT target_id, host, check_id, target FROM probe_targets ORDER BY host, check_id,"
                                  " target")]


def has_samples(db: sqlite3.Connection, since: int, until: int) -> bool:
    return bool(db.execute("SELECT 1 FROM probe_runs WHERE ts >= ? AND ts <= ? LIMIT 1", (since, until)).fetchone()
                or db.execute("SELECT 1 FROM probe_hourly WHERE hour > ? AND hour <= ? LIMIT 1",
                              (since - 3600, until)).fetchone())


def availability(db: sqlite3.Connection, target_id: int, since: int, until: int) -> dict:
    """``{up, down, unknown, samples, availability_pct}`` of one target over ``[since, until]``
    (raw samples, plus the hourly roll-ups of the hours the window reaches)."""
    up, down, unknown = db.execute(
        "SELECT coalesce(sum(status <= 1), 0), coalesce(sum(status = 2), 0), coalesce(sum(status = 3), 0)"
        " FROM probe_samples WHERE target_id = ? AND ts >= ? AND ts <= ?", (target_id, since, until)).fetchone()
    # The hourly rows hold only hours whose raw samples are gone, so the two never count twice;
    # an hour the window starts in counts whole (rolled-up data is exact to the hour).
    h_up, h_down, h_unknown = db.execute(
        "SELECT coalesce(sum(up), 0), coalesce(sum(down), 0), coalesce(sum(unknown), 0) FROM probe_hourly"
        " WHERE target_id = ? AND hour > ? AND hour <= ?", (target_id, since - 3600, until)).fetchone()
    up, down, unknown = up + h_up, down + h_down, unknown + h_unknown
    evaluated = up + down
    return {"up": up, "down": down, "unknown": unknown, "samples": evaluated,
            "availability_pct": round(100.0 * up / evaluated, 3) if evaluated else None}


def latency_percentiles(db: sqlite3.Connection, target_id: int, since: int, until: int,
                        pcts: tuple[float, ...] = (50, 95, 99)) -> dict:
    """Latency percentiles (ms) of the samples that were up: exact over raw samples; merged
    with the hourly histograms (5 % buckets) where the window reaches rolled-up hours."""
    raw = [row[0] / 1000.0 for row in db.execute(
        "SELECT latency_us FROM probe_samples WHERE target_id = ? AND ts >= ? AND ts <= ? AND status <= 1"
        " AND latency_us IS NOT NULL", (target_id, since, until))]
    hist: dict[int, int] = {}
    for (text,) in db.execute("SELECT latency_hist FROM probe_hourly WHERE target_id = ? AND hour > ? AND hour <= ?",
                              (target_id, since - 3600, until)):
        for bucket, n in _hist(text).items():
            hist[bucket] = hist.get(bucket, 0) + n
    if not hist:
        values = sorted(raw)
        result = {"p%g" % p: round(_exact(values, p), 2) if values else None for p in pcts}
    else:
        for value in raw:
            bucket = _bucket(int(value * 1000))
            hist[bucket] = hist.get(bucket, 0) + 1
        result = {"p%g" % p: round(_from_hist(hist, p), 2) for p in pcts}
    result["samples"] = len(raw) + sum(hist.values()) - (len(raw) if hist else 0)
    return result


def _exact(values: list[float], pct: float) -> float:
    position = (len(values) - 1) * pct / 100.0
    lower = int(math.floor(position))
    upper = min(lower + 1, len(values) - 1)
    return values[lower] + (values[upper] - values[lower]) * (position - lower)


def _from_hist(hist: dict[int, int], pct: float) -> float:
    total = sum(hist.values())
    rank = max(1, math.ceil(total * pct / 100.0))
    seen = 0
    for bucket in sorted(hist):
        seen += hist[bucket]
        if seen >= rank:
            return _bucket_value_ms(bucket)
    return _bucket_value_ms(max(hist))


def downtimes(db: sqlite3.Connection, since: int, until: int, now: int) -> list[dict]:
    """Downtime intervals overlapping ``[since, until]``, oldest first, each with its target,
    start, end (None: still down), duration (to ``now`` when open), samples and first error."""
    rows = db.execute(
        "SELECT t.host, t.check_id, t.target, d.start_ts, d.end_ts, d.last_down_ts, d.samples, e.text"
        " FROM probe_downtimes d JOIN probe_targets t USING (target_id)"
        " LEFT JOIN probe_errors e ON e.error_id = d.first_error_id"
        " WHERE d.start_ts <= ? AND (d.end_ts IS NULL OR d.end_ts >= ?) ORDER BY d.start_ts, t.target",
        (until, since))
    found = []
    for host, check_id, target, start, end, last_down, samples, error in rows:
        found.append({"host": host, "check_id": check_id, "target": target, "start": start, "end": end,
                      "duration_s": (end if end is not None else now) - start, "samples": samples,
                      "last_down": last_down, "first_error": error})
    return found


def latency_series(db: sqlite3.Connection, target_id: int, since: int, until: int, step_s: int) -> list[dict]:
    """p50/p95 per ``step_s`` bucket from ``since``: latency percentiles over time."""
    series = []
    start = since
    while start < until:
        stop = min(start + step_s, until) - 1
        point = latency_percentiles(db, target_id, start, stop, (50, 95))
        series.append({"start": start, **point})
        start += step_s
    return series


def uptime_by_host(db: sqlite3.Connection, check_id: str, since: int, until: int) -> dict[str, dict]:
    """Per host, the samples of its ``check_id`` targets over the window: ``{up, down, samples}``."""
    by_host: dict[str, dict] = {}
    for target in targets(db):
        if target["check_id"] != check_id:
            continue
        found = availability(db, target["target_id"], since, until)
        total = by_host.setdefault(target["host"], {"up": 0, "down": 0, "samples": 0, "targets": 0})
        total["up"] += found["up"]
        total["down"] += found["down"]
        total["samples"] += found["samples"]
        total["targets"] += 1
    return by_host
