"""The ``upkeep`` command: run a cadence, list cadences and checks, show reports and history,
check the set-up (doctor), manage the sandbox.

Exit codes (DESIGN.md): 0 ok, 1 warning, 2 critical, 3 unknown or the run failed, 64 usage
error, 75 (EX_TEMPFAIL) when ``upkeep run`` finds its cadence already running (lock.py). Nothing reaches the user as a traceback: usage problems are one line naming what is
wrong, anything unexpected is a short message and exit 3.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import pathlib
import sqlite3
import sys

from . import cadences, probe_cli, schedule_cli
from .runner import UsageError, check_inventory_parses, parse_extra_vars, resolve_inventory

EXIT_UNKNOWN = 3
EXIT_USAGE = 64
EXIT_ALREADY_RUNNING = 75  # lock.py: EX_TEMPFAIL, "try again later"


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on bad usage; upkeep promises 64 (2 means critical)."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, "%s: error: %s\n" % (self.prog, message))


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="upkeep", description="Run the platform's maintenance cadences and report on them.")
    parser.add_argument("--version", action="version", version="upkeep %s (ansible-core %s, Python %s)" % _versions())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run a cadence playbook and write its report")
    run.add_argument("cadence", help="daily, weekly, monthly, quarterly (see `upkeep list`)")
    run.add_argument("-i", "--inventory", help="inventory file or directory (default: the sandbox's)")
    run.add_argument("-l", "--limit", help="only these hosts (an Ansible host pattern)")
    run.add_argument("-C", "--check", action="store_true", help="check mode: change nothing anywhere")
    run.add_argument("-t", "--tags", help="only tasks with these tags (comma separated)")
    run.add_argument("--skip-tags", help="skip tasks with these tags (comma separated)")
    run.add_argument("-e", "--extra-vars", action="append", default=[], metavar="KEY=VALUE|@FILE",
                     help="extra variable (value parsed as YAML) or @file.yml; put secrets in a file, never on argv")
    _report_dir_option(run)
    run.add_argument("--history", metavar="FILE", help="history store (default: REPORT_DIR/history.sqlite)")
    run.add_argument("--timeout", type=int, default=3600, metavar="S", help="stop the run after S seconds (default 3600)")
    run.add_argument("--keep-artifacts", metavar="DIR", help="keep ansible-runner's artifacts (events, stdout) under DIR")
    run.add_argument("-q", "--quiet", action="store_true", help="no live progress; only the verdict and report paths")
    run.add_argument("--prometheus-textfile", metavar="PATH",
                     help="also write a Prometheus textfile (a directory: upkeep_<cadence>.prom in it) for "
                          "node_exporter (default: $UPKEEP_PROMETHEUS_TEXTFILE)")

    listing = sub.add_parser("list", help="list cadences, their roles and the checks each can emit")
    listing.add_argument("--json", action="store_true", help="machine-readable output")

    report = sub.add_parser("report", help="print a stored report")
    report.add_argument("run_id", nargs="?", default="last", help="`last` (default) or a run id")
    report.add_argument("--format", choices=("summary", "json", "md", "html", "junit", "nagios"), default="summary",
                        help="nagios: one plugin status line with perfdata, exit 0/1/2/3")
    report.add_argument("--cadence", help="with `last`: the newest run of this cadence")
    _report_dir_option(report)

    history = sub.add_parser("history", help="list recent runs from the history store")
    history.add_argument("--cadence", help="only this cadence")
    history.add_argument("-n", "--last", type=int, default=20, help="how many runs (default 20)")
    history.add_argument("--history", metavar="FILE", help="history store (default: REPORT_DIR/history.sqlite)")
    _report_dir_option(history)

    doctor = sub.add_parser("doctor", help="check interpreters, libraries, tools and the report dir before a run")
    doctor.add_argument("-i", "--inventory", help="inventory file or directory (default: the sandbox's)")
    doctor.add_argument("--json", action="store_true", help="machine-readable output")
    _report_dir_option(doctor)

    schedule_cli.add_parser(sub, _report_dir_option)
    probe_cli.add_parser(sub, _report_dir_option)

    sandbox = sub.add_parser("sandbox", help="the embedded sandbox platform on loopback")
    sandbox.add_argument("action", choices=("up", "down", "status"))
    sandbox.add_argument("--purge", action="store_true", help="with down: also delete .sandbox/ (data, secrets, certs)")
    return parser


def _versions() -> tuple[str, str, str]:
    from .report.collector import run_versions
    found = run_versions()
    return found["upkeep_version"], found["ansible_version"], sys.version.split()[0]


def _report_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--report-dir", metavar="DIR",
                        help="where reports and history live (default: $UPKEEP_REPORT_DIR, else %s)"
                             % cadences.default_report_dir())


def _report_dir(args) -> pathlib.Path:
    """--report-dir, $UPKEEP_REPORT_DIR, else one place whatever the current directory (cron runs
    from /): the checkout's reports/, or the user's state directory for an installed package."""
    given = args.report_dir or os.environ.get("UPKEEP_REPORT_DIR")
    return pathlib.Path(given).expanduser().resolve() if given else cadences.default_report_dir()


def _history_path(args) -> pathlib.Path:
    from .history import default_path
    return pathlib.Path(args.history) if getattr(args, "history", None) else default_path(_report_dir(args))


# -- commands ----------------------------------------------------------------------------------

def cmd_run(args) -> int:
    try:
        playbook = cadences.playbook_for(args.cadence)
    except cadences.CadenceError as exc:
        raise UsageError(str(exc)) from None
    inventory = resolve_inventory(args.inventory, cadences.repo_root())
    check_inventory_parses(inventory, args.limit)
    extravars, extravar_files = parse_extra_vars(args.extra_vars)
    if args.timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds, got %d" % args.timeout)

    report_dir = _report_dir(args)
    textfile = args.prometheus_textfile or os.environ.get("UPKEEP_PROMETHEUS_TEXTFILE")
    if textfile:
        from .report.prometheus import TextfileError, check_usable
        try:
            check_usable(textfile, args.cadence)  # said now, not after an hour-long run
        except TextfileError as exc:
            raise UsageError(str(exc)) from None

    from .lock import AlreadyRunning, cadence_lock
    held = contextlib.ExitStack()
    try:
        held.enter_context(cadence_lock(report_dir, args.cadence))
    except AlreadyRunning as exc:
        print("upkeep: %s: not starting a second run (exit %d)" % (exc, EXIT_ALREADY_RUNNING), file=sys.stderr)
        return EXIT_ALREADY_RUNNING
    except OSError as exc:
        # The report dir is unusable; publish will name what could not be written. Running
        # without a lock beats not running at all.
        print("upkeep: warning: no run lock in %s (%s); running without one" % (report_dir, exc.strerror or exc),
              file=sys.stderr)
    with held:
        return _run_locked(args, playbook, inventory, extravars, extravar_files, report_dir, textfile)


def _run_locked(args, playbook, inventory, extravars, extravar_files, report_dir, textfile) -> int:
    from .progress import Progress
    from .report.collector import Collector, run_versions
    from .report.publish import default_publishers, publish
    from .runner import RunRequest, interrupt_guard, run_playbook

    progress = Progress(quiet=args.quiet)
    collector = Collector(args.cadence, on_check=progress.check)
    request = RunRequest(playbook=playbook, inventory=str(inventory), limit=args.limit, check=args.check,
                         tags=args.tags, skip_tags=args.skip_tags, extravars=extravars,
                         extravar_files=extravar_files, timeout_s=args.timeout,
                         keep_artifacts=pathlib.Path(args.keep_artifacts) if args.keep_artifacts else None)
    progress.start(args.cadence, str(playbook), str(inventory), str(report_dir))
    with interrupt_guard() as interrupted:
        outcome = run_playbook(request, collector.feed_event, cancel=interrupted)
        report = collector.report(
            ansible_rc=outcome.rc, timed_out=outcome.timed_out, interrupted=outcome.interrupted,
            timeout_s=args.timeout,
            run={"playbook": str(playbook), "inventory": str(inventory), "limit": args.limit,
                 "tags": args.tags, "skip_tags": args.skip_tags, "check_mode": bool(args.check),
                 "timeout_s": args.timeout, "source": "upkeep run", "report_dir": str(report_dir),
                 **run_versions()})
        published = publish(report, report_dir, _history_path(args), default_publishers(textfile))
    for warning in published.warnings:
        print("upkeep: warning: %s" % warning, file=sys.stderr)
    # The verdict is the checks' whatever the disk did: a problem writing is said, not turned into exit 3.
    for problem in published.problems:
        print("upkeep: error: %s" % problem, file=sys.stderr)
    progress.finish(report, published.run_dir.resolve() if published.run_dir else None, published.written)
    if outcome.artifacts:
        print("Artifacts: %s" % outcome.artifacts)
    return report["run"]["exit_code"]


def cmd_list(args) -> int:
    infos = cadences.describe()
    if args.json:
        print(json.dumps([{"cadence": i.name, "playbook": str(i.playbook), "exists": i.exists, "error": i.error,
                           "roles": [{"role": r.name, "checks": r.checks} for r in i.roles]} for i in infos], indent=2))
        return 0
    for info in infos:
        state = "" if info.exists else "  (playbook missing: %s)" % info.playbook
        print("%s%s" % (info.name, state))
        if info.error:
            print("  cannot read playbook: %s" % info.error)
        for role in info.roles:
            print("  %s" % role.name)
            for item in role.checks:
                print("    %-28s %s" % (item["id"], item.get("description", "")))
    return 0


def cmd_report(args) -> int:
    from .report.render import find_run, load_report
    try:
        run_dir = _newest_of(_report_dir(args), args.cadence) if args.cadence else find_run(_report_dir(args), args.run_id)
    except FileNotFoundError as exc:
        if args.format == "nagios":  # a plugin answers 0-3 whatever happens: no report is UNKNOWN
            print("UPKEEP UNKNOWN - %s" % exc)
            return EXIT_UNKNOWN
        raise UsageError("%s (run `upkeep history` to see the stored runs)" % exc) from None
    if args.format == "nagios":
        from .report.nagios import render
        line, code = render(load_report(run_dir))
        print(line)
        return code
    if args.format == "summary":
        from .progress import Console, print_summary, summary_text
        report = load_report(run_dir)
        if sys.stdout.isatty():
            print_summary(report, Console())
        else:
            print(summary_text(report))
        print("Report: %s/report.html" % run_dir)
        return 0
    name = {"json": "report.json", "md": "report.md", "html": "report.html", "junit": "junit.xml"}[args.format]
    sys.stdout.write((run_dir / name).read_text(encoding="utf-8"))
    return 0


def _newest_of(report_dir: pathlib.Path, cadence: str) -> pathlib.Path:
    """The newest run directory of ``cadence`` (run ids sort by their UTC start)."""
    runs = sorted((p for p in report_dir.glob(cadence + "-*") if (p / "report.json").is_file()),
                  key=lambda p: (p.name.split("Z")[0], len(p.name), p.name))
    if not runs:
        raise FileNotFoundError("no report of cadence %r in %s" % (cadence, report_dir))
    return runs[-1].resolve()


def cmd_schedule(args) -> int:
    return schedule_cli.run(args, _report_dir(args), _history_path(args))


def cmd_probe(args) -> int:
    return probe_cli.run(args, _report_dir(args), _history_path(args))


def cmd_history(args) -> int:
    from .history import History
    path = _history_path(args)
    if not path.is_file():
        raise UsageError("no history store at %s (it is created by the first `upkeep run`)" % path)
    with History(path) as store:
        runs = store.runs(cadence=args.cadence, limit=args.last)
    print("%-34s %-9s %4s %5s %5s %5s %5s  %s" % ("RUN", "STATUS", "EXIT", "OK", "WARN", "CRIT", "UNKN", "NOTE"))
    for run in runs:
        c = run["counts"]
        print("%-34s %-9s %4d %5d %5d %5d %5d  %s" % (run["run_id"], run["status"], run["exit_code"], c.get("ok", 0),
                                                     c.get("warning", 0), c.get("critical", 0), c.get("unknown", 0),
                                                     ("partial: " + (run["partial_reason"] or "")) if run["partial"] else ""))
    return 0


def cmd_doctor(args) -> int:
    from . import doctor
    root = cadences.repo_root()
    try:
        resolved = resolve_inventory(args.inventory, root)
        check_inventory_parses(resolved, None)  # Ansible's own complaint, not "no inventory was parsed"
        inventory, problem = str(resolved), None
    except UsageError as exc:  # the doctor reports a bad inventory as a failed line, like any other
        inventory, problem = None, str(exc)
    sections = doctor.diagnose(inventory, _report_dir(args), root, inventory_problem=problem)
    if args.json:
        print(json.dumps({title: [vars(line) for line in lines] for title, lines in sections.items()}, indent=2))
    else:
        print(doctor.render(sections))
    return doctor.exit_code(sections)


def cmd_sandbox(args) -> int:
    """Delegate to upkeep.sandbox.manager (imported here: it is optional and slow to import)."""
    try:
        manager = importlib.import_module("upkeep.sandbox.manager")
    except ModuleNotFoundError as exc:
        if exc.name != "upkeep.sandbox.manager":
            raise
        print("upkeep: the sandbox is not available in this installation (upkeep.sandbox.manager is missing)",
              file=sys.stderr)
        return EXIT_UNKNOWN
    root = cadences.repo_root()
    if args.action == "down":
        result = manager.down(root, purge=args.purge)
    else:
        result = getattr(manager, args.action)(root)
    lines = getattr(manager, "status_lines", None)
    print("\n".join(lines(result)) if lines and isinstance(result, dict) else json.dumps(result, indent=2, default=str))
    if args.action == "status" and isinstance(result, dict):
        return 0 if result.get("running") else EXIT_UNKNOWN  # like an init script: 3 = not running
    return 0


COMMANDS = {"run": cmd_run, "list": cmd_list, "report": cmd_report, "history": cmd_history, "doctor": cmd_doctor,
            "sandbox": cmd_sandbox, "schedule": cmd_schedule, "probe": cmd_probe}


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except UsageError as exc:
        print("upkeep: error: %s" % exc, file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("upkeep: interrupted", file=sys.stderr)
        return EXIT_UNKNOWN
    except BrokenPipeError:
        return 0
    except Exception as exc:  # the promise: never a traceback, always a reason
        print("upkeep: %s failed: %s: %s (exit %d)" % (args.command, type(exc).__name__, exc, EXIT_UNKNOWN),
              file=sys.stderr)
        if os.environ.get("UPKEEP_DEBUG"):
            raise
        return EXIT_UNKNOWN


if __name__ == "__main__":
    sys.exit(main())
