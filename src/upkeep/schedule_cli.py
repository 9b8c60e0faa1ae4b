"""``upkeep schedule install|status|check|remove``: the cadences running on their own.

Exit codes: install and remove 0 when done (remove 1 when something was left in place, named);
status 0; check 0 when every cadence completed within its allowance, 1 when one is overdue
(warning), 2 when one missed two periods (critical), 3 when one never ran and no schedule is
installed to measure from; 64 for a bad schedule, option or inventory.
"""

from __future__ import annotations

import os
import pathlib

from . import cadences
from .report.overdue import evaluate, now, parse_time
from .runner import UsageError, check_inventory_parses, resolve_inventory
from .schedule import Schedule, ScheduleError, parse_schedule
from .schedule_install import DEST_ENV, InstallError, install, load_state, remove

VARIABLE = "upkeep_schedule"


def add_parser(sub, report_dir_option) -> None:
    schedule = sub.add_parser("schedule", help="run the cadences on their own (systemd timers or cron) and watch them")
    actions = schedule.add_subparsers(dest="action", required=True, metavar="ACTION")
    inst = actions.add_parser("install", help="write a timer (or crontab line) per cadence from upkeep_schedule")
    kind = inst.add_mutually_exclusive_group()
    kind.add_argument("--systemd", dest="kind", action="store_const", const="systemd",
                      help="systemd timers (default where systemd runs)")
    kind.add_argument("--cron", dest="kind", action="store_const", const="cron", help="crontab lines")
    inst.add_argument("--user", action="store_true",
                      help="the user's timers (~/.config/systemd/user) or crontab instead of the system's")
    inst.add_argument("--dest", metavar="DIR", help="write the units (or crontab file) into DIR and run neither "
                                                    "systemctl nor crontab (default: $%s, else the system's place)" % DEST_ENV)
    inst.add_argument("-i", "--inventory", help="inventory holding upkeep_schedule, used by the runs (default: the sandbox's)")
    inst.add_argument("--prometheus-textfile", metavar="PATH", help="each scheduled run also writes this textfile")
    for name, text in (("status", "each cadence's schedule, last run, result, next due time and lateness"),
                       ("check", "exit non-zero when a cadence is overdue (for an outside monitor)"),
                       ("remove", "undo `schedule install` exactly")):
        action = actions.add_parser(name, help=text)
        if name != "remove":
            action.add_argument("-i", "--inventory",
                                help="inventory holding upkeep_schedule when none is installed (default: the sandbox's)")
    for action in actions.choices.values():
        report_dir_option(action)


def run(args, report_dir: pathlib.Path, history_path: pathlib.Path) -> int:
    if args.action == "install":
        return _install(args, report_dir)
    if args.action == "remove":
        return _remove(report_dir)
    return _status(args, report_dir, history_path, check_only=args.action == "check")


def inventory_schedule(inventory: pathlib.Path) -> Schedule:
    """``upkeep_schedule`` as the inventory's hosts see it (group_vars included); UsageError when
    it does not parse or when hosts disagree (one controller runs one schedule)."""
    check_inventory_parses(inventory, None)
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.manager import VariableManager

    loader = DataLoader()
    manager = InventoryManager(loader=loader, sources=[str(inventory)])
    variables = VariableManager(loader=loader, inventory=manager)
    found: dict[str, object] = {}
    for host in manager.get_hosts("all"):
        value = variables.get_vars(host=host, include_hostvars=False).get(VARIABLE)
        if value is not None:
            found[host.name] = _plain(value)
    values = list(found.values())
    if any(value != values[0] for value in values[1:]):
        raise UsageError("inventory %s: hosts disagree on %s (%s): set it once, in group_vars/all"
                         % (inventory, VARIABLE, ", ".join(sorted(found))))
    try:
        return parse_schedule(values[0] if values else None, cadences.known_cadences(), VARIABLE)
    except ScheduleError as exc:
        raise UsageError("inventory %s: %s" % (inventory, exc)) from None


def _plain(value):
    # Ansible 2.19 hands back tagged str/dict/list subclasses: compare and parse plain values.
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    return str(value)


def _install(args, report_dir: pathlib.Path) -> int:
    inventory = resolve_inventory(args.inventory, cadences.repo_root())
    schedule = inventory_schedule(inventory)
    kind = args.kind or ("systemd" if os.path.isdir("/run/systemd/system") else "cron")
    if not args.dest and not os.environ.get(DEST_ENV) and not args.user and os.geteuid() != 0:
        raise UsageError("a system-wide schedule needs root: use --user, or run as root")
    if args.prometheus_textfile:
        from .report.prometheus import TextfileError, check_usable
        try:
            for item in schedule.cadences:
                check_usable(args.prometheus_textfile, item.cadence)
        except TextfileError as exc:
            raise UsageError(str(exc)) from None
        args.prometheus_textfile = str(pathlib.Path(args.prometheus_textfile).expanduser().resolve()) + (
            os.sep if str(args.prometheus_textfile).endswith(os.sep) else "")
    try:
        state, notes = install(schedule, kind=kind, user=args.user, dest=args.dest, report_dir=report_dir,
                               inventory=str(inventory), prometheus_textfile=args.prometheus_textfile)
    except InstallError as exc:
        raise UsageError(str(exc)) from None
    print("Installed %s schedule (%s) for report dir %s, times in %s:" % (kind, state["scope"], report_dir,
                                                                        state["timezone"]))
    for name, info in state["cadences"].items():
        print("  %-10s %-24s (systemd: %s)  overdue after %s" % (name, info["at"], info["on_calendar"],
                                                                _duration(info["overdue_after_s"])))
    for entry in state["files"]:
        print("  wrote %s" % entry["path"])
    if state["crontab"]:
        print("  added %d lines to %s" % (len(state["crontab"]["lines"]), state["crontab"]["path"] or "your crontab"))
        print("  note: cron has no Persistent=: a run missed while the machine is off is not made up "
              "(`upkeep schedule check` reports it)")
    if state["enabled"]:
        print("  enabled %s" % ", ".join(state["enabled"]))
    if args.user and kind == "systemd":
        print("  note: user timers run only while you are logged in unless lingering is on (`loginctl enable-linger`)")
    for note in notes:
        print("  note: %s" % note)
    print("Recorded in %s (`upkeep schedule remove` undoes exactly this)." % (report_dir / "schedule.json"))
    return 0


def _remove(report_dir: pathlib.Path) -> int:
    try:
        removed, left = remove(report_dir)
    except InstallError as exc:
        raise UsageError(str(exc)) from None
    for item in removed:
        print("removed %s" % item)
    for item in left:
        print("left: %s" % item)
    return 1 if left else 0


def _status(args, report_dir: pathlib.Path, history_path: pathlib.Path, check_only: bool) -> int:
    state = load_state(report_dir)
    if state is not None:
        watched = {name: (info["at"], int(info["overdue_after_s"])) for name, info in state["cadences"].items()}
        installed = parse_time(state["installed_at"])
        origin = "installed %s (%s, %s) at %s" % (state["kind"], state["scope"], state["dest"] or "user crontab",
                                                   state["installed_at"])
    else:
        schedule = inventory_schedule(resolve_inventory(args.inventory, cadences.repo_root()))
        watched = {c.cadence: (c.times.expression, c.overdue_after_s) for c in schedule.cadences}
        installed, origin = None, "not installed (upkeep_schedule of the inventory shown)"
    from .history import History
    at = now()
    store = History(history_path) if history_path.is_file() else None
    try:
        lateness = evaluate(store, {name: limit for name, (_, limit) in watched.items()}, at, installed)
    finally:
        if store is not None:
            store.close()
    worst = max((_CODES[late.status] for late in lateness), default=0)
    if check_only:
        for late in lateness:
            print("%-8s %s" % (late.status.upper(), late.text))
        return worst
    from .schedule import parse_cron
    local_now = at.astimezone().replace(tzinfo=None)
    print("Schedule: %s; report dir %s" % (origin, report_dir))
    print("%-10s %-24s %-20s %-22s %-9s %-20s %s" % ("CADENCE", "AT (LOCAL)", "LAST COMPLETED", "RUN", "RESULT",
                                                     "NEXT DUE (LOCAL)", "STATE"))
    for late in lateness:
        expression = watched[late.cadence][0]
        following = parse_cron(expression, late.cadence).next_after(local_now)
        run = late.last_run or {}
        if late.status in ("ok", "unknown"):
            state_text = "never ran" if late.last_run is None else "on time"
        else:
            state_text = "%s: overdue by %s" % (late.status.upper(), _duration(late.late_by_s))
        print("%-10s %-24s %-20s %-22s %-9s %-20s %s" % (
            late.cadence, expression, run.get("finished_at") or "never", run.get("run_id", "-"),
            run.get("status", "-"), following.strftime("%Y-%m-%d %H:%M"), state_text))
    return 0


_CODES = {"ok": 0, "warning": 1, "critical": 2, "unknown": 3}


def _duration(seconds: float) -> str:
    from .schedule import format_duration
    return format_duration(seconds)
