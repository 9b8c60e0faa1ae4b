"""``upkeep probe [run|report|rollup]``: the minute probes and the uptime read from them.

- ``upkeep probe [-i INV]``: one probe run; samples appended to the history store. Exit 0/1/2/3
  by the worst target (Nagios meaning), 64 for a bad probe configuration or inventory, 75 when
  the previous probe run is still going.
- ``upkeep probe report [--json]``: availability over 24 h / 7 d / 30 d, latency percentiles,
  downtime intervals.
- ``upkeep probe rollup [--raw-days N] [--hourly-days N]``: apply retention now (a probe run does
  it once an hour, a day of samples at a time).
"""

from __future__ import annotations

import json
import pathlib
import sys

from . import cadences
from .runner import UsageError, resolve_inventory

EXIT_ALREADY_RUNNING = 75


def add_parser(sub, report_dir_option) -> None:
    probe = sub.add_parser("probe", help="minute probes between runs (health, pages, database, SMTP) and uptime")
    probe.add_argument("action", nargs="?", choices=("run", "report", "rollup"), default="run",
                       help="run (default): probe once and record the samples; report: uptime, latency, downtime; "
                            "rollup: apply retention now")
    probe.add_argument("-i", "--inventory", help="inventory file or directory (default: the sandbox's)")
    probe.add_argument("--history", metavar="FILE", help="history store (default: REPORT_DIR/history.sqlite)")
    probe.add_argument("--refresh", action="store_true", help="read the inventory again instead of the cached plan")
    probe.add_argument("--explain", action="store_true", help="with run: say where the plan came from and its targets")
    probe.add_argument("-q", "--quiet", action="store_true", help="with run: print nothing (the exit code tells)")
    probe.add_argument("--json", action="store_true", help="machine-readable output")
    probe.add_argument("--raw-days", type=int, metavar="N", help="with rollup: keep raw samples N days (default 30)")
    probe.add_argument("--hourly-days", type=int, metavar="N",
                       help="with rollup: keep hourly roll-ups N days (default 365)")
    report_dir_option(probe)


def run(args, report_dir: pathlib.Path, history_path: pathlib.Path) -> int:
    if args.action == "report":
        return _report(args, history_path)
    if args.action == "rollup":
        return _rollup(args, history_path)
    from .probe_targets import ProbeConfigError
    inventory = resolve_inventory(args.inventory, cadences.repo_root())
    from .lock import AlreadyRunning, cadence_lock
    try:
        with cadence_lock(report_dir, "probe"):
            from .probe import main_run
            try:
                if args.explain:
                    return _explain(report_dir, inventory, args.refresh)
                return main_run(inventory, report_dir, history_path, refresh=args.refresh, quiet=args.quiet,
                                as_json=args.json)
            except ProbeConfigError as exc:
                raise UsageError("inventory %s: %s" % (inventory, exc)) from None
    except AlreadyRunning as exc:
        print("upkeep: %s: not starting a second probe (exit %d)" % (exc, EXIT_ALREADY_RUNNING), file=sys.stderr)
        return EXIT_ALREADY_RUNNING


def _explain(report_dir, inventory, refresh) -> int:
    from .probe_targets import load_plan
    plan, source = load_plan(report_dir, inventory, refresh=refresh)
    print("plan from %s (%s)" % (source, "cached in %s" % (report_dir / "probe-plan.json") if plan.cacheable
                                 else "not cacheable: %s" % plan.not_cacheable_because))
    for kind, items in (("http", plan.http), ("postgres", plan.postgres), ("smtp", plan.smtp)):
        for item in items:
            print("  %-8s %-12s %s" % (kind, item.get("inventory_host"), item.get("name") or item.get("url")
                                       or "%s:%s" % (item.get("host"), item.get("port"))))
    print("options: %s" % json.dumps(plan.options, sort_keys=True))
    return 0


def _open(history_path: pathlib.Path):
    from .history import History
    if not history_path.is_file():
        raise UsageError("no history store at %s (it is created by the first `upkeep probe` or `upkeep run`)"
                         % history_path)
    return History(history_path)


def _report(args, history_path: pathlib.Path) -> int:
    from .probe_report import build, render
    with _open(history_path) as store:
        report = build(store.connection)
    print(json.dumps(report, indent=1) if args.json else render(report))
    return 0


def _rollup(args, history_path: pathlib.Path) -> int:
    import time

    from .probe_store import DEFAULT_HOURLY_DAYS, DEFAULT_RAW_DAYS, Retention, rollup
    from .probe_targets import ProbeConfigError, parse_options
    try:
        options = parse_options({"retention": {"raw_days": args.raw_days or DEFAULT_RAW_DAYS,
                                               "hourly_days": args.hourly_days or DEFAULT_HOURLY_DAYS}}, "--")
    except ProbeConfigError as exc:
        raise UsageError(str(exc).replace("--.retention.", "--").replace("_days", "-days")) from None
    with _open(history_path) as store:
        done = rollup(store.connection, time.time(), Retention(**options["retention"]))
    print(json.dumps(done) if args.json else
          "rolled up %(rolled_up_samples)d raw samples into hours; dropped %(dropped_hours)d hourly rows and "
          "%(dropped_downtimes)d downtime intervals past retention" % done)
    return 0
