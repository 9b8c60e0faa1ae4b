"""The ``probe`` cadence: every minute, the health endpoint, key pages, the database connection
and the SMTP banner, recorded as samples in the history store (upkeep.probe_store) instead of a
report directory per run.

The checks are the modules' own logic, called in-process through their module_utils functions
(``run_http_checks``, ``ping_databases``, ``check_servers``) with the contract they return, so a
probe and the daily run judge a target the same way; only the sampling is lighter (one sample,
a shorter time-out, SMTP without AUTH). The plan of targets comes from upkeep.probe_targets
(cached: no Ansible in a minute probe). HTTP runs in this thread (asyncio), the database and
the mail servers in worker threads at the same time, so the run takes as long as its slowest
target.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import pathlib
import sys
import time

from . import probe_store
from .probe_targets import Plan, reveal

# Which metric is a probe's latency, per check family: what a client waits for.
LATENCY_METRICS = {"http": "latency_p95_ms", "pg": "connect_ms", "smtp": "connect_ms"}
ROLLUP_MAX_HOURS = 24  # a probe run rolls up at most a day of raw samples (the rest waits)


@dataclasses.dataclass
class ProbeResult:
    ts: int
    checks: list[dict]
    samples: list[probe_store.Sample]
    duration_ms: float
    worst: str


def _module_utils():
    """Make ``ansible.module_utils.upkeep`` importable from the checkout, as Ansible does
    through ansible.cfg (importing ``ansible.module_utils`` alone loads none of Ansible)."""
    import ansible.module_utils

    from .cadences import repo_root
    path = str(repo_root() / "module_utils")
    if path not in ansible.module_utils.__path__:
        ansible.module_utils.__path__.append(path)


def run_checks(plan: Plan) -> list[dict]:
    """The checks of one probe run, in plan order (HTTP, PostgreSQL, SMTP)."""
    _module_utils()
    options = plan.options
    checks_unreadable: list[dict] = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="upkeep-probe") as pool:
        pg_future = smtp_future = None
        if plan.postgres:
            from ansible.module_utils.upkeep.pg_ping import ping_databases
            databases, unreadable = _revealed(plan.postgres, "pg.ping")
            databases = [dict(item, samples=options["samples"], connect_timeout_s=max(1, int(options["timeout_s"])))
                         for item in databases]
            checks_unreadable += unreadable
            if databases:
                pg_future = pool.submit(ping_databases, {
                    "databases": databases, "statement_timeout_ms": int(options["timeout_s"] * 1000)})
        if plan.smtp:
            from ansible.module_utils.upkeep.smtp import check_servers
            smtp_future = pool.submit(check_servers, {
                "servers": [dict(item, timeout_s=options["timeout_s"]) for item in plan.smtp]})
        checks: list[dict] = []
        if plan.http:
            from ansible.module_utils.upkeep.http import run_http_checks
            endpoints, unreadable = _revealed(plan.http, "http.endpoint")
            checks_unreadable += unreadable
            if endpoints:
                checks += run_http_checks(endpoints, samples=options["samples"], timeout_s=options["timeout_s"],
                                          concurrency=options["concurrency"])
        for future in (pg_future, smtp_future):
            if future is not None:
                checks += future.result()
    return checks + checks_unreadable


def _revealed(items: list[dict], default_id: str) -> tuple[list[dict], list[dict]]:
    """The items with their secrets looked up, and an unknown check for each item whose secret
    file cannot be read (that target is not evaluated; the others still are)."""
    from ansible.module_utils.upkeep.result import unknown_check
    ready, unreadable = [], []
    for item in items:
        try:
            ready.append(reveal(item))
        except OSError as exc:
            check_id = "http." + item["check"] if default_id.startswith("http.") and item.get("check") else default_id
            url = item.get("url")
            target = item.get("name") or (url if isinstance(url, str) and "?" not in url and "@" not in url
                                          else "%s:%s" % (item.get("host"), item.get("port") or 5432))
            unreadable.append(unknown_check(
                check_id, target,
                "a secret of this target cannot be read: %s: %s" % (exc.filename, exc.strerror),
                host=item.get("inventory_host"),
                remediation="Restore the file the inventory's lookup names, readable by the user upkeep runs as."))
    return ready, unreadable


def sample_of(check: dict) -> probe_store.Sample:
    """One check as a probe sample: status, the family's latency metric, the first error."""
    metrics = check.get("metrics") or {}
    latency = metrics.get(LATENCY_METRICS.get(check["id"].split(".")[0], ""))
    if not isinstance(latency, (int, float)) or isinstance(latency, bool):
        latency = None
    error = None
    if check["status"] in ("critical", "unknown"):
        critical = [f for f in check.get("findings") or [] if f.get("severity") == "critical"]
        error = critical[0]["title"] if critical else check.get("summary")
    return probe_store.Sample(check.get("host") or "", check["id"], check["target"], check["status"], latency, error)


def probe_once(plan: Plan, store, now: float | None = None) -> ProbeResult:
    """Run the plan's checks and append their samples to ``store`` (a History); roll up old
    samples when an hour has passed since the last roll-up."""
    started = time.time() if now is None else now
    clock = time.perf_counter()
    checks = run_checks(plan)
    duration_ms = (time.perf_counter() - clock) * 1000.0
    samples = [sample_of(check) for check in checks]
    db = store.connection
    ts = int(started)
    # A sample is keyed by (target, second): a run starting in the same second as the one before
    # it (the lock keeps them in sequence) takes the next second rather than replacing its samples.
    last = db.execute("SELECT max(ts) FROM probe_runs").fetchone()[0]
    if last is not None and ts <= last < ts + 5:
        ts = last + 1
    probe_store.record_samples(db, ts, samples, duration_ms)
    if probe_store.rollup_due(db, ts):
        retention = probe_store.Retention(**plan.options["retention"])
        probe_store.rollup(db, ts, retention, max_hours=ROLLUP_MAX_HOURS)
    rank = {"ok": 0, "warning": 1, "critical": 2, "unknown": 3}
    worst = max((c["status"] for c in checks), key=rank.get, default="unknown")
    return ProbeResult(ts, checks, samples, duration_ms, worst)


def summary_line(result: ProbeResult) -> str:
    counts: dict[str, int] = {}
    for check in result.checks:
        counts[check["status"]] = counts.get(check["status"], 0) + 1
    text = ", ".join("%d %s" % (counts[s], s) for s in ("ok", "warning", "critical", "unknown") if counts.get(s))
    problems = ["%s %s: %s" % (s.check_id, s.target, s.error) for s in result.samples if s.error]
    line = "probe %s: %d targets: %s in %.0f ms" % (
        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(result.ts)), len(result.checks), text or "none",
        result.duration_ms)
    return line + "".join("\n  %s" % problem for problem in problems)


def exit_code(result: ProbeResult) -> int:
    return {"ok": 0, "warning": 1, "critical": 2}.get(result.worst, 3)


def main_run(inventory: pathlib.Path, report_dir: pathlib.Path, history_path: pathlib.Path, refresh: bool = False,
             quiet: bool = False, as_json: bool = False) -> int:
    """``upkeep probe``: one probe run (the wrapper's fast path)."""
    from .history import History
    from .probe_targets import load_plan
    plan, source = load_plan(report_dir, inventory, refresh=refresh)
    with History(history_path) as store:
        result = probe_once(plan, store)
    if as_json:
        import json
        print(json.dumps({"ts": result.ts, "duration_ms": round(result.duration_ms, 1), "plan": source,
                          "status": result.worst, "checks": result.checks}, indent=1))
    elif not quiet:
        print(summary_line(result))
    if not quiet and not plan.cacheable:
        print("upkeep: note: the probe plan is not cached (%s): each run reads the inventory with Ansible"
              % plan.not_cacheable_because, file=sys.stderr)
    return exit_code(result)
