"""Put a :class:`~upkeep.schedule.Schedule` on the machine (systemd timers or cron) and take it
off again exactly.

``install`` records everything it wrote in a state file, ``REPORT_DIR/schedule.json``: the
files with their checksums, the crontab lines, the units it enabled. ``remove`` undoes exactly
that and nothing else (a file changed since is left in place and named), and the missed-run
check reads the same file to know which cadences are expected to run.

Destinations: systemd units go to ``~/.config/systemd/user`` (``--user``) or
``/etc/systemd/system``; cron lines go to the user's crontab (``--user``, through ``crontab``)
or ``/etc/cron.d/upkeep``. ``--dest DIR`` (or ``$UPKEEP_SCHEDULE_DEST``) writes into DIR
instead (the units, or a ``crontab``/``upkeep`` file) and leaves systemctl and crontab alone:
that is how the tests, and anyone who wants to look before enabling, use it.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import pathlib
import shlex
import shutil
import subprocess
import sys

from .schedule import Schedule, local_timezone

STATE_FILE = "schedule.json"
DEST_ENV = "UPKEEP_SCHEDULE_DEST"
CRON_BEGIN = "# BEGIN upkeep schedule"
CRON_END = "# END upkeep schedule"


class InstallError(RuntimeError):
    """Install or remove cannot go on; the message says what is in the way."""


def state_path(report_dir: pathlib.Path) -> pathlib.Path:
    return pathlib.Path(report_dir) / STATE_FILE


def load_state(report_dir: pathlib.Path) -> dict | None:
    """The installed schedule of ``report_dir``, or None when none is installed."""
    path = state_path(report_dir)
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def upkeep_command() -> list[str]:
    """How a timer starts upkeep: this installation's console script, by absolute path (a timer
    has no PATH of the user's shell), else this interpreter with the module."""
    script = pathlib.Path(sys.executable).parent / "upkeep"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "upkeep.cli"]


def run_argv(cadence: str, inventory: str, report_dir: pathlib.Path, prometheus_textfile: str | None) -> list[str]:
    argv = upkeep_command() + ["run", cadence, "-i", inventory, "--report-dir", str(report_dir), "--quiet"]
    return argv + (["--prometheus-textfile", prometheus_textfile] if prometheus_textfile else [])


# -- rendering ---------------------------------------------------------------------------------

def _systemd_quote(arg: str) -> str:
    # systemd expands % specifiers and $ variables in ExecStart: double them to keep them literal.
    arg = arg.replace("%", "%%").replace("$", "$$")
    return '"%s"' % arg.replace("\\", "\\\\").replace('"', '\\"') if any(c in arg for c in ' \t"\'\\;') else arg


def render_systemd(schedule: Schedule, argv_for, user: bool, timezone: str) -> dict[str, str]:
    """``{file name: text}``: one oneshot service and one timer per cadence."""
    files = {}
    for item in schedule.cadences:
        name = "upkeep-%s" % item.cadence
        # A user manager has no network-online.target to order after.
        network = [] if user else ["Wants=network-online.target", "After=network-online.target"]
        files[name + ".service"] = "\n".join([
            "# Written by `upkeep schedule install`; `upkeep schedule remove` deletes it.",
            "[Unit]",
            "Description=upkeep %s cadence" % item.cadence,
            *network,
            "",
            "[Service]",
            "Type=oneshot",
            # upkeep run holds a per-cadence lock itself; a second start exits 75 and says so.
            "ExecStart=%s" % " ".join(_systemd_quote(a) for a in argv_for(item.cadence)),
            # 75 is a run skipped because a manual one of the cadence was going on: not a failure.
            # 1-3 (warning, critical, unknown) do fail the unit, so OnFailure= and `systemctl
            # --failed` see a sick platform.
            "SuccessExitStatus=75",
            "Nice=10",
            "",
        ])
        files[name + ".timer"] = "\n".join([
            "# Written by `upkeep schedule install`; `upkeep schedule remove` deletes it.",
            "# Times are this machine's local time (%s); cron expression: %s" % (timezone, item.times.expression),
            "[Unit]",
            "Description=upkeep %s cadence (%s)" % (item.cadence, item.times.expression),
            "",
            "[Timer]",
            "OnCalendar=%s" % item.times.on_calendar(),
            # A run missed while the machine was off happens at the next boot.
            "Persistent=true",
            "RandomizedDelaySec=%d" % schedule.randomized_delay_s,
            "Unit=%s.service" % name,
            "",
            "[Install]",
            "WantedBy=timers.target",
            "",
        ])
    return files


def _cron_quote(arg: str) -> str:
    # cron turns an unescaped % into a newline (stdin of the command).
    return shlex.quote(arg).replace("%", "\\%")


def render_cron(schedule: Schedule, argv_for, user_field: str | None, timezone: str, report_dir) -> list[str]:
    """The crontab block (with ``user_field`` for /etc/cron.d), markers included."""
    lines = [
        "%s (report dir %s)" % (CRON_BEGIN, report_dir),
        "# Written by `upkeep schedule install`; `upkeep schedule remove` deletes this block.",
        "# Times are this machine's local time (%s). cron has no Persistent=: a run missed while the" % timezone,
        "# machine was off is not made up; `upkeep schedule check` and schedule.overdue report it.",
    ]
    for item in schedule.cadences:
        command = " ".join(_cron_quote(a) for a in argv_for(item.cadence))
        lines.append(" ".join([item.times.expression] + ([user_field] if user_field else []) + [command]))
    lines.append(CRON_END)
    return lines


# -- install / remove --------------------------------------------------------------------------

def destination(kind: str, user: bool, dest: str | None) -> tuple[pathlib.Path | None, bool]:
    """(where files go, whether the machine's own systemctl/crontab is driven). A None path with
    cron --user means the user's crontab through the ``crontab`` program."""
    given = dest or os.environ.get(DEST_ENV)
    if given:
        return pathlib.Path(given).expanduser().resolve(), False
    if kind == "systemd":
        if user:
            config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
            return pathlib.Path(config) / "systemd" / "user", True
        return pathlib.Path("/etc/systemd/system"), True
    return (None if user else pathlib.Path("/etc/cron.d")), True


def install(schedule: Schedule, *, kind: str, user: bool, dest: str | None, report_dir: pathlib.Path,
            inventory: str, prometheus_textfile: str | None = None) -> tuple[dict, list[str]]:
    """Write the schedule; returns the recorded state and notes for the user (commands to run,
    systemctl's complaints). InstallError when something is already there."""
    existing = load_state(report_dir)
    if existing is not None:
        raise InstallError("a schedule is already installed for %s (%s, %s): run `upkeep schedule remove` first"
                           % (report_dir, existing["kind"], existing["installed_at"]))
    if not schedule.cadences:
        raise InstallError("upkeep_schedule enables no cadence: nothing to install")
    where, drive = destination(kind, user, dest)
    timezone = local_timezone()
    argv_for = lambda cadence: run_argv(cadence, inventory, report_dir, prometheus_textfile)  # noqa: E731
    state = {"version": 1, "kind": kind, "scope": "user" if user else "system", "dest": str(where) if where else None,
             "managed": drive, "installed_at": _utc_now_text(), "inventory": inventory, "report_dir": str(report_dir),
             "timezone": timezone, "randomized_delay_s": schedule.randomized_delay_s,
             "cadences": {c.cadence: {"at": c.times.expression, "on_calendar": c.times.on_calendar(),
                                      "overdue_after_s": c.overdue_after_s} for c in schedule.cadences},
             "files": [], "crontab": None, "enabled": [], "created_dirs": []}
    notes: list[str] = []
    if kind == "systemd":
        files = render_systemd(schedule, argv_for, user, timezone)
        clashes = [str(where / name) for name in files if (where / name).exists()]
        if clashes:
            raise InstallError("not overwriting files upkeep did not record: %s" % ", ".join(clashes))
        _make_dirs(where, state)
        for name, text in files.items():
            (where / name).write_text(text, encoding="utf-8")
            os.chmod(where / name, 0o644)
            state["files"].append({"path": str(where / name), "sha256": _sha256(text)})
        timers = [name for name in files if name.endswith(".timer")]
        systemctl = ["systemctl"] + (["--user"] if user else [])
        commands = [systemctl + ["daemon-reload"], systemctl + ["enable", "--now"] + timers]
        if drive and _run_all(commands, notes):
            state["enabled"] = timers
        elif not drive:
            notes.append("units written to %s; systemctl was not run (--dest): to enable them, copy them to the "
                         "unit directory and run: %s" % (where, " && ".join(shlex.join(c) for c in commands)))
    else:
        block = render_cron(schedule, argv_for, None if user else _user_name(), timezone, report_dir)
        crontab = (where / ("crontab" if user else "upkeep")) if where else None
        current = _read_crontab(crontab)
        if crontab is not None:
            _make_dirs(crontab.parent, state)
        if CRON_BEGIN in current:
            raise InstallError("%s already holds an upkeep block that upkeep did not record: remove it by hand"
                               % (crontab or "the user's crontab"))
        _write_crontab(crontab, current.rstrip("\n") + ("\n" if current.strip() else "") + "\n".join(block) + "\n")
        state["crontab"] = {"path": str(crontab) if crontab else None, "lines": block}
    _write_state(report_dir, state)
    return state, notes


def remove(report_dir: pathlib.Path) -> tuple[list[str], list[str]]:
    """Undo the recorded install: (what was removed, what was left and why)."""
    state = load_state(report_dir)
    if state is None:
        raise InstallError("no schedule installed for %s (no %s)" % (report_dir, state_path(report_dir)))
    removed, left = [], []
    user = state.get("scope") == "user"
    systemctl = ["systemctl"] + (["--user"] if user else [])
    if state.get("enabled"):
        problems: list[str] = []
        if not _run_all([systemctl + ["disable", "--now"] + state["enabled"]], problems):
            # Deleting the units of timers still enabled would leave dangling symlinks behind:
            # change nothing, so that a second remove (once systemctl works) finishes the job.
            return removed, problems
        removed.append("disabled %s" % ", ".join(state["enabled"]))
    for entry in state.get("files") or []:
        path = pathlib.Path(entry["path"])
        if not path.exists():
            continue
        if _sha256(path.read_text(encoding="utf-8")) != entry["sha256"]:
            left.append("%s was changed since install: left in place" % path)
            continue
        path.unlink()
        removed.append(str(path))
    if state.get("enabled"):
        _run_all([systemctl + ["daemon-reload"]], left)
    if state.get("crontab"):
        crontab = pathlib.Path(state["crontab"]["path"]) if state["crontab"]["path"] else None
        lines = state["crontab"]["lines"]
        current = _read_crontab(crontab).splitlines()
        kept = _without_block(current, lines)
        if kept is None:
            left.append("%s no longer holds the upkeep block as installed: left in place"
                        % (crontab or "the user's crontab"))
        else:
            if crontab is not None and not any(line.strip() for line in kept):
                crontab.unlink()  # install created it (an /etc/cron.d file or the --dest stand-in)
            else:
                _write_crontab(crontab, "\n".join(kept) + ("\n" if kept else ""))
            removed.append("%d cron lines from %s" % (len(lines), crontab or "the user's crontab"))
    for directory in reversed(state.get("created_dirs") or []):
        try:
            os.rmdir(directory)  # only when empty: what else lives there is not ours
            removed.append(directory)
        except OSError:
            pass
    if not left:
        state_path(report_dir).unlink()
        removed.append(str(state_path(report_dir)))
    return removed, left


def _make_dirs(path: pathlib.Path, state: dict) -> None:
    """mkdir -p, recording each directory made so that remove takes it away again."""
    missing = []
    for parent in [path, *path.parents]:
        if parent.exists():
            break
        missing.append(parent)
    path.mkdir(parents=True, exist_ok=True)
    state["created_dirs"] += [str(p) for p in reversed(missing)]


def _without_block(current: list[str], block: list[str]) -> list[str] | None:
    for start in range(len(current) - len(block) + 1):
        if current[start:start + len(block)] == block:
            return current[:start] + current[start + len(block):]
    return None


def _read_crontab(path: pathlib.Path | None) -> str:
    if path is not None:
        return path.read_text(encoding="utf-8") if path.is_file() else ""
    crontab = _crontab_binary()
    done = subprocess.run([crontab, "-l"], capture_output=True, text=True)
    if done.returncode != 0 and "no crontab" not in done.stderr.lower():
        raise InstallError("crontab -l failed: %s" % done.stderr.strip())
    return done.stdout if done.returncode == 0 else ""


def _write_crontab(path: pathlib.Path | None, text: str) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name("." + path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        return
    done = subprocess.run([_crontab_binary(), "-"], input=text, capture_output=True, text=True)
    if done.returncode != 0:
        raise InstallError("crontab - failed: %s" % done.stderr.strip())


def _crontab_binary() -> str:
    found = shutil.which("crontab")
    if not found:
        raise InstallError("no crontab program on this machine: install cron, use --systemd, or --dest DIR")
    return found


def _run_all(commands: list[list[str]], notes: list[str]) -> bool:
    for argv in commands:
        if not shutil.which(argv[0]):
            notes.append("%s not found: run `%s` yourself" % (argv[0], shlex.join(argv)))
            return False
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode != 0:
            notes.append("`%s` failed (%d): %s" % (shlex.join(argv), done.returncode,
                                                   " ".join((done.stderr or done.stdout).strip().splitlines()[-1:])))
            return False
    return True


def _write_state(report_dir: pathlib.Path, state: dict) -> None:
    path = state_path(report_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _user_name() -> str:
    import pwd
    return pwd.getpwuid(os.getuid()).pw_name


def _utc_now_text() -> str:
    from .report.overdue import now
    return now().strftime("%Y-%m-%dT%H:%M:%SZ")
