"""The per-cadence run lock: two real ``upkeep run`` processes of one cadence never overlap (the
second says so and exits 75), other cadences are not held up, and the lock goes with its holder."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from tests.fixtures.wrapper import REPO, UPKEEP, env, latest_report, two_hosts, upkeep

pytestmark = pytest.mark.slow


def test_a_second_run_of_a_running_cadence_exits_75(tmp_path):
    reports = tmp_path / "reports"
    inventory = two_hosts(tmp_path)
    first = subprocess.Popen([str(UPKEEP), "run", "daily", "-i", str(inventory), "--report-dir", str(reports), "-q",
                              "-e", "upkeep_fake_sleep_s=12"], cwd=REPO, env=env(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        lock = reports / ".lock-daily"
        deadline = time.monotonic() + 30
        while not (lock.is_file() and ("pid %d " % first.pid) in lock.read_text()):
            assert time.monotonic() < deadline and first.poll() is None, "the first run never took its lock"
            time.sleep(0.1)

        second = upkeep("run", "daily", "-i", inventory, "--report-dir", reports, "-q")
        assert second.returncode == 75, second.stdout + second.stderr
        assert "daily is already running (pid %d since " % first.pid in second.stderr
        assert "not starting a second run (exit 75)" in second.stderr and second.stdout == ""

        other = upkeep("run", "weekly", "-i", inventory, "--report-dir", reports, "-q", "--limit", "web1")
        assert other.returncode == 0, other.stdout + other.stderr  # one lock per cadence
        out, err = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, out + err
    assert latest_report(reports)["cadence"] == "daily" and not latest_report(reports)["partial"]
    again = upkeep("run", "daily", "-i", inventory, "--report-dir", reports, "-q", "--limit", "web1")
    assert again.returncode == 0, again.stdout + again.stderr  # released when its holder ended


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    reports = tmp_path / "reports"
    inventory = two_hosts(tmp_path)
    first = subprocess.Popen([str(UPKEEP), "run", "daily", "-i", str(inventory), "--report-dir", str(reports), "-q",
                              "-e", "upkeep_fake_sleep_s=60"], cwd=REPO, env=env(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    lock = reports / ".lock-daily"
    deadline = time.monotonic() + 30
    while not (lock.is_file() and ("pid %d " % first.pid) in lock.read_text()):
        assert time.monotonic() < deadline, "the first run never took its lock"
        time.sleep(0.1)
    os.killpg(first.pid, signal.SIGKILL)  # no clean-up at all: the kernel drops the flock
    first.wait(timeout=30)
    again = upkeep("run", "daily", "-i", inventory, "--report-dir", reports, "-q", "--limit", "web1")
    assert again.returncode == 0, again.stdout + again.stderr
