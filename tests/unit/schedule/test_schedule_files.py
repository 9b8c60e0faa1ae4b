"""Schedules as files: the cron expression parsed the way a real cron parser (croniter) reads it,
the systemd units accepted by ``systemd-analyze verify`` and firing when ``systemd-analyze
calendar`` says, install then remove leaving nothing behind. Units are written into temporary
directories (``--dest``): nothing here touches the machine's systemd or crontab."""

from __future__ import annotations

import datetime
import os
import pathlib
import subprocess

import croniter
import pytest

from upkeep import schedule
from upkeep.schedule import ScheduleError, parse_cron, parse_schedule
from upkeep.schedule_install import install, load_state, remove

from tests.fixtures.wrapper import local_host, upkeep, write_inventory

SYSTEMD_ANALYZE = "/usr/bin/systemd-analyze"
CADENCES = ["daily", "weekly", "monthly", "quarterly"]
EXPRESSIONS = [default for default, _ in schedule.DEFAULTS.values()] + [
    "*/15 8-18 * * mon-fri", "5 0 */2 * *", "0 12 29 feb *", "30 6 * * 0,7", "0 0 1 1 *", "10/20 1,13 * * sat"]


def tree(path: pathlib.Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_next_times_agree_with_croniter(expression):
    times = parse_cron(expression, "upkeep_schedule.test")
    moment = datetime.datetime(2026, 11, 30, 23, 59, 30)
    reference = croniter.croniter(expression, moment)
    for _ in range(6):
        expected = reference.get_next(datetime.datetime)
        moment = times.next_after(moment)
        assert moment == expected


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_on_calendar_fires_when_cron_does(expression):
    """systemd-analyze calendar evaluates the OnCalendar= value exactly as the timer will."""
    times = parse_cron(expression, "upkeep_schedule.test")
    done = subprocess.run([SYSTEMD_ANALYZE, "calendar", "--iterations=5", "--base-time=2026-11-30 23:59:30 UTC",
                           times.on_calendar()], capture_output=True, text=True, env=dict(os.environ, TZ="UTC"))
    assert done.returncode == 0, done.stderr
    elapses = [line.split(":", 1)[1].strip() for line in done.stdout.splitlines()
               if line.strip().startswith(("Next elapse:", "Iter. #"))]
    reference = croniter.croniter(expression, datetime.datetime(2026, 11, 30, 23, 59, 30))
    expected = [reference.get_next(datetime.datetime).strftime("%a %Y-%m-%d %H:%M:%S UTC") for _ in range(5)]
    assert elapses == expected


@pytest.mark.parametrize("value, message", [
    ({"daily": "0 2 * *"}, "upkeep_schedule.daily.at: '0 2 * *' is not a cron expression: it needs 5 fields"),
    ({"weekly": "0 3 * * funday"}, "upkeep_schedule.weekly.at: '0 3 * * funday': day of week field 'funday'"),
    ({"monthly": {"at": "0 25 1 * *"}}, "hour field '25': '25' is outside 0-23"),
    ({"daily": "0 2 1 * mon"}, "restricts both day of month and day of week"),
    ({"daily": {"at": "0 2 * * *", "overdue_after": "a day"}}, "upkeep_schedule.daily.overdue_after: 'a day' is not a duration"),
    ({"dialy": "0 2 * * *"}, "upkeep_schedule: unknown key(s) dialy"),
    ({"daily": {"when": "0 2 * * *"}}, "upkeep_schedule.daily: unknown key(s) when"),
    ({"daily": {"enabled": "no"}}, "upkeep_schedule.daily.enabled: expected true or false"),
    ("daily at 2", "upkeep_schedule must be a mapping"),
])
def test_a_bad_schedule_names_the_key_and_the_value(value, message):
    with pytest.raises(ScheduleError) as caught:
        parse_schedule(value, CADENCES)
    assert message in str(caught.value)


def test_defaults_and_overrides():
    found = parse_schedule({"weekly": {"at": "30 3 * * mon", "overdue_after": "7d12h"}, "monthly": {"enabled": False},
                            "randomized_delay": "5m"}, CADENCES)
    assert [(c.cadence, c.times.expression, c.overdue_after_s) for c in found.cadences] == [
        ("daily", "0 2 * * *", 26 * 3600), ("weekly", "30 3 * * mon", (7 * 24 + 12) * 3600),
        ("quarterly", "0 5 1 jan,apr,jul,oct *", 93 * 86400)]
    assert found.randomized_delay_s == 300
    assert parse_schedule(None, CADENCES).get("monthly").times.on_calendar() == "*-*-01 04:00:00"


@pytest.mark.parametrize("user", [False, True], ids=["system", "user"])
def test_units_pass_systemd_analyze_verify_and_remove_leaves_nothing(tmp_path, user):
    dest, reports = tmp_path / "etc" / "systemd" / "system", tmp_path / "reports"
    reports.mkdir()
    state, notes = install(parse_schedule(None, CADENCES), kind="systemd", user=user, dest=str(dest), report_dir=reports,
                           inventory=str(tmp_path / "inventory.yml"), prometheus_textfile=str(tmp_path) + "/prom 100%/")
    units = sorted(p.name for p in dest.iterdir())
    assert units == sorted("upkeep-%s.%s" % (c, kind) for c in CADENCES for kind in ("service", "timer"))
    assert any("systemctl was not run" in note for note in notes) and state["enabled"] == []
    verify = [SYSTEMD_ANALYZE] + (["--user"] if user else []) + ["verify", "--man=no"]
    runtime = tmp_path / "runtime"  # a user manager needs its runtime directory, even to verify
    runtime.mkdir(mode=0o700)
    done = subprocess.run(verify + [str(dest / name) for name in units], capture_output=True, text=True,
                          env=dict(os.environ, XDG_RUNTIME_DIR=str(runtime)))
    assert done.returncode == 0 and done.stderr == "", done.stderr
    timer = (dest / "upkeep-weekly.timer").read_text()
    assert "OnCalendar=Mon *-*-* 03:00:00\n" in timer and "Persistent=true\n" in timer
    assert "RandomizedDelaySec=600\n" in timer and "local time (%s)" % schedule.local_timezone() in timer
    service = (dest / "upkeep-weekly.service").read_text()
    assert "Type=oneshot\n" in service and "SuccessExitStatus=75\n" in service  # a run skipped by the lock
    # systemd would expand a bare % (a specifier) and split at the space: quoted and doubled.
    assert ' --prometheus-textfile "%s/prom 100%%%%/"' % tmp_path in service

    removed, left = remove(reports)
    assert left == [] and load_state(reports) is None
    # the unit directories install made went too (runtime/ is systemd-analyze's)
    assert [p for p in tree(tmp_path) if not p.startswith("runtime")] == ["reports"]
    assert str(tmp_path / "etc") in removed


def test_cron_lines_parse_and_remove_restores_the_crontab_exactly(tmp_path):
    dest, reports = tmp_path / "cron", tmp_path / "reports"
    dest.mkdir()
    mine = "MAILTO=ops@example.test\n17 * * * * /usr/local/bin/backup --fast\n"
    (dest / "crontab").write_text(mine)
    state, _ = install(parse_schedule({"daily": "*/30 1-3 * * *"}, CADENCES), kind="cron", user=True, dest=str(dest),
                       report_dir=reports, inventory="/srv/inventory %s.yml" % "x")
    text = (dest / "crontab").read_text()
    assert text.startswith(mine) and "cron has no Persistent=" in text
    jobs = [line for line in text.splitlines()[2:] if line and not line.startswith("#")]
    assert len(jobs) == 4
    for line in jobs:
        fields = line.split()
        assert croniter.croniter.is_valid(" ".join(fields[:5])), line
        assert fields[5].endswith("/upkeep") and fields[6] == "run" and "'/srv/inventory x.yml'" in line
    assert [c for c in state["cadences"]] == CADENCES

    removed, left = remove(reports)
    assert left == [] and (dest / "crontab").read_text() == mine

    system = tmp_path / "cron.d"
    install(parse_schedule(None, CADENCES), kind="cron", user=False, dest=str(system), report_dir=reports,
            inventory="/srv/i.yml", prometheus_textfile="/var/lib/node_exporter/100%/")
    [line] = [line for line in (system / "upkeep").read_text().splitlines() if " daily " in line]
    assert croniter.croniter.is_valid(" ".join(line.split()[:5])) and line.split()[5] == _user()
    assert line.endswith("/var/lib/node_exporter/100\\%/")  # cron would turn a bare % into a newline
    remove(reports)
    assert tree(tmp_path) == ["cron", "cron/crontab", "reports"]


def test_remove_leaves_a_file_changed_since_install(tmp_path):
    dest, reports = tmp_path / "units", tmp_path / "reports"
    install(parse_schedule({"weekly": {"enabled": False}, "monthly": {"enabled": False},
                            "quarterly": {"enabled": False}}, CADENCES),
            kind="systemd", user=True, dest=str(dest), report_dir=reports, inventory="/srv/i.yml")
    (dest / "upkeep-daily.timer").write_text("[Timer]\nOnCalendar=hourly\n")
    removed, left = remove(reports)
    assert left == ["%s was changed since install: left in place" % (dest / "upkeep-daily.timer")]
    assert sorted(p.name for p in dest.iterdir()) == ["upkeep-daily.timer"]
    assert load_state(reports) is not None  # still recorded, so a second remove can finish the job


def test_cli_install_status_remove(tmp_path):
    reports, dest = tmp_path / "reports", tmp_path / "units"
    inventory = write_inventory(tmp_path, {"web1": local_host()})
    inventory.write_text(inventory.read_text() + "  vars:\n    upkeep_schedule:\n      daily: '15 1 * * *'\n")
    run = upkeep("schedule", "install", "--systemd", "--user", "--dest", dest, "-i", inventory, "--report-dir", reports)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "daily      15 1 * * *" in run.stdout and str(dest / "upkeep-daily.timer") in run.stdout
    again = upkeep("schedule", "install", "--cron", "--dest", dest, "-i", inventory, "--report-dir", reports)
    assert again.returncode == 64 and "already installed" in again.stderr
    status = upkeep("schedule", "status", "--report-dir", reports, UPKEEP_NOW="2026-12-02T12:00:00Z")
    assert status.returncode == 0, status.stderr
    assert "installed systemd (user, %s)" % dest in status.stdout
    assert [line.split()[0] for line in status.stdout.splitlines()[2:]] == CADENCES
    gone = upkeep("schedule", "remove", "--report-dir", reports)
    assert gone.returncode == 0 and tree(dest) == [] and not (reports / "schedule.json").exists()
    nothing = upkeep("schedule", "remove", "--report-dir", reports)
    assert nothing.returncode == 64 and "no schedule installed" in nothing.stderr


def test_cli_bad_schedule_is_a_usage_error_naming_it(tmp_path):
    inventory = write_inventory(tmp_path, {"web1": local_host(upkeep_schedule={"weekly": "0 3 * * funday"})})
    run = upkeep("schedule", "install", "--cron", "--dest", tmp_path / "cron", "-i", inventory,
                 "--report-dir", tmp_path / "reports")
    assert run.returncode == 64
    assert "upkeep_schedule.weekly.at: '0 3 * * funday': day of week field 'funday'" in run.stderr
    assert "Traceback" not in run.stderr and not (tmp_path / "cron").exists()
    disagree = write_inventory(tmp_path, {"web1": local_host(upkeep_schedule={"daily": "0 1 * * *"}),
                                          "web2": local_host(upkeep_schedule={"daily": "0 2 * * *"})})
    run = upkeep("schedule", "status", "-i", disagree, "--report-dir", tmp_path / "reports")
    assert run.returncode == 64 and "hosts disagree on upkeep_schedule (web1, web2)" in run.stderr


def _user() -> str:
    import pwd
    return pwd.getpwuid(os.getuid()).pw_name
