#!/usr/bin/env python3
"""Benchmark: a year of history in one store: its size, the cost of writing one probe result,
and retention.

Generated into a fresh ``history.sqlite`` (the real schema, through upkeep.history):

- a year of minute probes of ten endpoints (5,256,000 samples: latencies around 40 ms, a few
  outages with their downtime intervals), written with executemany in transactions of
  ``--batch`` rows (timed: rows per second);
- every cadence's runs over the same year through ``History.append``: 365 daily, 52 weekly,
  12 monthly and 4 quarterly reports of a platform host (40 / 60 / 50 / 80 checks with metrics,
  a summary and some findings with fingerprints).

Measured on it:

1. the size with every raw sample kept (no retention: the worst case, ``raw_days: 365``);
2. writing one probe result (the 11 samples of one run through ``probe_store.record_samples``,
   the store's default durability: WAL, synchronous FULL), ``--writes`` times: median, p99, max;
   also with opening and closing the store around it, as each ``upkeep probe`` does;
3. retention with the defaults (raw 30 days, then hourly): the roll-up's time, then the size
   after ``VACUUM``;
4. reading: ``upkeep probe report``'s data (availability 24 h / 7 d / 30 d, percentiles,
   downtime) on the rolled-up store.

Targets (issue 12, item 5): a year under 200 MB, a probe result written in under 20 ms.
Results go to benchmarks/results/history_size.json and a Markdown table on stdout.

    .venv/bin/python benchmarks/history_size.py [--batch 100000] [--writes 200]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import random
import statistics
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from upkeep import probe_report, probe_store  # noqa: E402
from upkeep.history import History  # noqa: E402

DAY = 86400
ENDPOINTS = 10
CADENCES = {"daily": (1, 40), "weekly": (7, 60), "monthly": (30, 50), "quarterly": (91, 80)}  # every N days, checks
FAMILIES = ("http.health", "http.page", "pg.ping", "pg.connections", "pg.cache_hit", "smtp.service", "backup.fresh",
            "log.error_rate", "tls.certificate", "npm.audit")


def mb(path: pathlib.Path) -> float:
    total = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    return round(total / 1e6, 1)


def generate_probes(store: History, start: int, end: int, batch: int) -> dict:
    db = store.connection
    rng = random.Random(12)
    ids = probe_store.target_ids(db, [("platform", "http.health" if i == 0 else "http.page", "endpoint-%02d" % i)
                                      for i in range(ENDPOINTS)])
    db.commit()
    targets = list(ids.values())
    error = probe_store.error_id(db, "Connection refused (ECONNREFUSED) connecting to 127.0.0.1:8443")
    # a few outages: (start, minutes) on every target
    outages = [(start + day * DAY + 3 * 3600, minutes) for day, minutes in ((20, 12), (95, 3), (200, 45), (340, 7))]
    down = {(ts + 60 * m) for ts, minutes in outages for m in range(minutes)}
    rows, written, began = [], 0, time.perf_counter()
    for ts in range(start, end, 60):
        is_down = ts in down
        for target in targets:
            if is_down:
                rows.append((target, ts, 2, None, error))
            else:
                rows.append((target, ts, 0, int(rng.gauss(40000, 6000)), None))
        if len(rows) >= batch:
            with db:
                db.executemany("INSERT INTO probe_samples (target_id, ts, status, latency_us, error_id)"
                               " VALUES (?, ?, ?, ?, ?)", rows)
            written += len(rows)
            rows = []
    with db:
        if rows:
            db.executemany("INSERT INTO probe_samples (target_id, ts, status, latency_us, error_id)"
                           " VALUES (?, ?, ?, ?, ?)", rows)
            written += len(rows)
        db.executemany("INSERT INTO probe_downtimes (target_id, start_ts, end_ts, last_down_ts, samples,"
                       " first_error_id) VALUES (?, ?, ?, ?, ?, ?)",
                       [(t, ts, ts + 60 * minutes, ts + 60 * (minutes - 1), minutes, error)
                        for ts, minutes in outages for t in targets])
        db.executemany("INSERT INTO probe_runs (ts, duration_ms, ok, warning, critical, unknown) VALUES (?, ?, ?, ?, ?, ?)",
                       [(ts, 180.0, 0 if ts in down else ENDPOINTS, 0, ENDPOINTS if ts in down else 0, 0)
                        for ts in range(start, end, 60)])
    seconds = time.perf_counter() - began
    return {"samples": written, "seconds": round(seconds, 1), "rows_per_s": round(written / seconds)}


def report_for(cadence: str, ts: int, checks: int, rng: random.Random) -> dict:
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
    items = []
    for index in range(checks):
        check_id = FAMILIES[index % len(FAMILIES)]
        status = rng.choices(("ok", "warning", "critical"), (90, 8, 2))[0]
        findings = [{"severity": status, "title": "%s needs attention on item %d" % (check_id, index),
                     "resource": "resource-%d" % index, "detail": "observed value above the threshold",
                     "remediation": "see the runbook", "fingerprint": "%016x" % rng.getrandbits(64)}
                    for _ in range(1 if status != "ok" else 0)]
        items.append({"id": check_id, "host": "platform", "target": "target-%02d" % index, "status": status,
                      "summary": "%s: value %.1f within limits over %d samples" % (check_id, rng.random() * 100, 3),
                      "metrics": {"latency_p95_ms": round(rng.random() * 400, 1), "samples_count": 3,
                                  "value_pct": round(rng.random() * 100, 2), "size_bytes": rng.randrange(10 ** 9)},
                      "thresholds": {"latency_p95_ms": {"warning": 500, "critical": 3000}},
                      "findings": findings, "duration_ms": round(rng.random() * 300, 1)})
    counts = {s: sum(c["status"] == s for c in items) for s in ("ok", "warning", "critical", "unknown")}
    return {"run_id": "%s-%s" % (cadence, started.replace("-", "").replace(":", "")), "cadence": cadence,
            "started_at": started, "finished_at": started, "status": "ok", "counts": counts,
            "run": {"exit_code": 0}, "checks": items}


def generate_runs(store: History, start: int, end: int) -> dict:
    rng = random.Random(3)
    began, runs, checks = time.perf_counter(), 0, 0
    for cadence, (every_days, count) in CADENCES.items():
        for ts in range(start + 2 * 3600, end, every_days * DAY):
            store.append(report_for(cadence, ts, count, rng))
            runs += 1
            checks += count
    return {"runs": runs, "checks": checks, "seconds": round(time.perf_counter() - began, 1)}


def timings(values: list[float]) -> dict:
    ordered = sorted(values)
    return {"median_ms": round(statistics.median(ordered), 2),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2),
            "max_ms": round(ordered[-1], 2), "n": len(ordered)}


def write_cost(path: pathlib.Path, now: int, writes: int) -> dict:
    samples = [probe_store.Sample("platform", "http.health" if i == 0 else "http.page", "endpoint-%02d" % i, "ok", 41.5)
               for i in range(ENDPOINTS)] + [probe_store.Sample("platform", "pg.ping", "app-db", "ok", 3.2)]
    bare, opened = [], []
    with History(path) as store:
        for n in range(writes):
            began = time.perf_counter()
            probe_store.record_samples(store.connection, now + 60 * n, samples, 150.0)
            bare.append((time.perf_counter() - began) * 1000)
    for n in range(writes):
        began = time.perf_counter()
        with History(path) as store:
            probe_store.record_samples(store.connection, now + 60 * (writes + n), samples, 150.0)
        opened.append((time.perf_counter() - began) * 1000)
    return {"record_samples": timings(bare), "open_record_close": timings(opened)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--dir", help="work directory (default: a new temporary one)")
    args = parser.parse_args()
    work = pathlib.Path(args.dir or tempfile.mkdtemp(prefix="upkeep-bench-history-"))
    path = work / "history.sqlite"
    now = int(time.time()) // 60 * 60
    start = now - 365 * DAY
    result: dict = {"benchmark": "history_size", "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                "python": platform.python_version(), "load_average": os.getloadavg()},
                    "targets": {"size_mb": 200, "write_ms": 20}}
    with History(path) as store:
        result["generate_probes"] = generate_probes(store, start, now, args.batch)
        result["generate_runs"] = generate_runs(store, start, now)
        store.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    result["size_raw_year_mb"] = mb(path)
    result["write_full_store"] = write_cost(path, now, args.writes)
    with History(path) as store:
        db = store.connection
        began = time.perf_counter()
        result["rollup"] = probe_store.rollup(db, now + args.writes * 120, probe_store.Retention())
        result["rollup"]["seconds"] = round(time.perf_counter() - began, 1)
        began = time.perf_counter()
        db.execute("VACUUM")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        result["vacuum_seconds"] = round(time.perf_counter() - began, 1)
        result["rows_after_retention"] = {
            table: db.execute("SELECT count(*) FROM %s" % table).fetchone()[0]
            for table in ("probe_samples", "probe_hourly", "probe_downtimes", "probe_runs", "runs", "checks", "findings")}
    result["size_after_retention_mb"] = mb(path)
    result["write_after_retention"] = write_cost(path, now + args.writes * 240, args.writes)
    with History(path) as store:
        began = time.perf_counter()
        built = probe_report.build(store.connection, now=now + args.writes * 480)
        result["probe_report_seconds"] = round(time.perf_counter() - began, 2)
        result["probe_report_downtimes"] = len(built["downtimes"])
    out = REPO / "benchmarks" / "results" / "history_size.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    gen = result["generate_probes"]
    print("| measure | value |\n|---|---:|")
    print("| generate %d probe samples (executemany, %d per transaction) | %.1f s (%d rows/s) |"
          % (gen["samples"], args.batch, gen["seconds"], gen["rows_per_s"]))
    print("| generate %d cadence runs (%d checks) | %.1f s |" % (result["generate_runs"]["runs"],
                                                              result["generate_runs"]["checks"],
                                                              result["generate_runs"]["seconds"]))
    print("| size, a year with every raw sample kept | %.1f MB |" % result["size_raw_year_mb"])
    for label, key in (("full store", "write_full_store"), ("after retention", "write_after_retention")):
        for kind in ("record_samples", "open_record_close"):
            t = result[key][kind]
            print("| write one probe result (11 samples), %s, %s | median %.2f ms, p99 %.2f ms, max %.2f ms |"
                  % (label, kind, t["median_ms"], t["p99_ms"], t["max_ms"]))
    print("| retention (raw 30 d, hourly 365 d): roll-up of %d samples | %.1f s |"
          % (result["rollup"]["rolled_up_samples"], result["rollup"]["seconds"]))
    print("| size after retention + VACUUM | %.1f MB |" % result["size_after_retention_mb"])
    print("| probe report (24 h / 7 d / 30 d, percentiles, downtime) | %.2f s |" % result["probe_report_seconds"])
    print("\nwritten to %s" % out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
