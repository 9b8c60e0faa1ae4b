"""Runs nobody watches: plain ansible-playbook and AWX fail when the platform does, the literal
`ansible-playbook playbooks/<cadence>.yml` from a checkout does something, the report home does
not follow the current directory, a full disk keeps the verdict, and an interrupted run leaves no
secret in any temp directory."""

from __future__ import annotations

import json
import os
import pathlib
import pwd
import secrets
import shutil
import signal
import subprocess
import time

import ansible_runner
import pytest
import yaml

from tests.fixtures.wrapper import BIN, PLAYBOOKS, REPO, env, latest_report, two_hosts, upkeep
from tests.support.tmpfs import fill, tmpfs

pytestmark = pytest.mark.slow


def checkout(tmp_path) -> pathlib.Path:
    """A checkout laid out like the repo (its ansible.cfg, library, roles ...) whose playbooks are
    the test cadences, so a run is quick and its verdict is chosen by the test."""
    root = tmp_path / "checkout"
    root.mkdir()
    shutil.copy(REPO / "ansible.cfg", root / "ansible.cfg")
    for name in ("library", "module_utils", "roles", "plugins", "src"):
        (root / name).symlink_to(REPO / name)
    shutil.copytree(PLAYBOOKS, root / "playbooks", symlinks=True)
    (root / "playbooks" / "callback_plugins").symlink_to(REPO / "playbooks" / "callback_plugins")
    return root


def plain(cwd, *args, unset=(), **env_extra):
    run_env = env(**env_extra)
    for key in ("UPKEEP_PLAYBOOK_DIR", "ANSIBLE_CONFIG", *unset):
        run_env.pop(key, None)
    return subprocess.run([str(BIN / "ansible-playbook"), *map(str, args)], cwd=cwd, env=run_env,
                          capture_output=True, text=True, timeout=120)


# -- 1. plain ansible-playbook and AWX fail when the platform does ----------------------------

@pytest.mark.parametrize("status, fail_on, code", [
    ("critical", None, 2), ("critical", "never", 0), ("warning", None, 0), ("warning", "warning", 2),
    ("critical", "unknown", 0),
])
def test_plain_run_fails_when_the_worst_status_reaches_upkeep_fail_on(tmp_path, status, fail_on, code):
    root = checkout(tmp_path)
    extra = ["-e", "upkeep_fake_status=%s" % status] + (["-e", "upkeep_fail_on=%s" % fail_on] if fail_on else [])
    run = plain(root, "-i", two_hosts(tmp_path), "playbooks/daily.yml", *extra, UPKEEP_REPORT_DIR=str(tmp_path / "r"))
    assert run.returncode == code, run.stdout + run.stderr
    report = latest_report(tmp_path / "r")
    assert report["status"] == status and report["run"]["error"] is None
    if code:
        assert "upkeep verdict: daily run is %s (upkeep_fail_on=%s)" % (status.upper(), fail_on or "critical") in run.stdout
        assert "%s web1 fake.health https://web1.test/api/health" % status.upper() in run.stdout
    tail = run.stdout[run.stdout.index("PLAY RECAP"):]
    assert "%s: upkeep daily" % status.upper() in tail and "2 %s" % status in tail


def test_a_bad_upkeep_fail_on_is_named(tmp_path):
    run = plain(checkout(tmp_path), "-i", two_hosts(tmp_path), "playbooks/daily.yml", "-e", "upkeep_fail_on=sometimes")
    assert run.returncode != 0
    assert "upkeep_fail_on" in run.stdout and "sometimes" in run.stdout and "Traceback" not in run.stdout + run.stderr


def test_awx_marks_the_job_failed_and_keeps_the_summary_artifact(tmp_path):
    """As AWX runs a job: ansible-runner with the project checkout, its own callback dir (so
    ansible.cfg's callback settings are not what loads ours), the job's artifacts from set_stats."""
    root = checkout(tmp_path)
    (tmp_path / "awx").mkdir()
    events = []
    runner = ansible_runner.run(
        private_data_dir=str(tmp_path / "awx"), project_dir=str(root), playbook="playbooks/daily.yml",
        inventory=str(two_hosts(tmp_path)), extravars={"upkeep_fake_status": "critical", "awx_job_id": 42,
                                                       "upkeep_report_dir": str(tmp_path / "r")},
        envvars={"ANSIBLE_CONFIG": str(root / "ansible.cfg"), "ANSIBLE_CALLBACK_PLUGINS": str(tmp_path / "awx-cb"),
                 # An execution environment has ansible-playbook on its PATH.
                 "PATH": "%s:%s" % (BIN, os.environ.get("PATH", ""))},
        event_handler=lambda event: events.append(event) or True, quiet=True)
    assert runner.status == "failed" and runner.rc == 2
    stats = next(e for e in events if e["event"] == "playbook_on_stats")["event_data"]
    summary = stats["artifact_data"]["upkeep"]
    assert summary["status"] == "critical" and summary["exit_code"] == 2 and summary["counts"]["critical"] == 2
    assert {p["host"] for p in summary["problems"]} == {"web1", "web2"}
    report = latest_report(tmp_path / "r")
    assert report["status"] == "critical" and report["run"]["awx_job_id"] == 42


# -- 2. the design card's own command ----------------------------------------------------------

def test_the_literal_command_runs_against_the_checkouts_inventory_and_writes_its_reports(tmp_path):
    root = checkout(tmp_path)
    # The real cadence (its first play is the no-host guard) under the checkout's ansible.cfg.
    before = plain(root, REPO / "playbooks" / "monthly.yml", UPKEEP_REPORT_DIR=str(tmp_path / "r"))
    assert before.returncode != 0 and "holds no host" in before.stdout and ".sandbox/inventory.yml" in before.stdout
    (root / ".sandbox").mkdir()
    shutil.copy(two_hosts(tmp_path), root / ".sandbox" / "inventory.yml")
    run = plain(root, "playbooks/daily.yml", "-e", "upkeep_fake_status=warning", unset=["UPKEEP_REPORT_DIR"])
    assert run.returncode == 0, run.stdout + run.stderr
    report = latest_report(root / "reports")
    assert report["status"] == "warning" and sorted(report["hosts"]) == ["web1", "web2"]
    assert "upkeep report (warning): %s" % (root / "reports" / report["run_id"] / "report.html") in run.stdout


@pytest.mark.parametrize("cadence", ["daily", "weekly", "monthly", "quarterly"])
def test_an_inventory_without_hosts_fails_instead_of_checking_nothing(tmp_path, cadence):
    empty = tmp_path / "empty.yml"
    empty.write_text("all: {}\n")
    run = plain(REPO, "-i", empty, "playbooks/%s.yml" % cadence, UPKEEP_REPORT_DIR=str(tmp_path / "r"))
    assert run.returncode != 0
    assert "holds no host, so nothing" in run.stdout
    assert latest_report(tmp_path / "r")["status"] == "unknown"


# -- 5. the report home ----------------------------------------------------------------------

def test_the_wrapper_from_another_directory_writes_to_the_checkouts_reports(tmp_path):
    root = checkout(tmp_path)
    had_root_reports = os.path.exists("/reports")
    run_env = env(UPKEEP_HOME=str(root))
    for key in ("UPKEEP_REPORT_DIR", "UPKEEP_PLAYBOOK_DIR"):
        run_env.pop(key)
    run = subprocess.run([str(BIN / "upkeep"), "run", "daily", "-i", str(two_hosts(tmp_path))], cwd="/", env=run_env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert latest_report(root / "reports")["status"] == "ok"
    assert (root / "reports" / "history.sqlite").is_file()
    assert "(reports: %s)" % (root / "reports") in run.stdout
    assert had_root_reports or not os.path.exists("/reports")


# -- 4. a full disk ------------------------------------------------------------------------------

def test_a_full_report_disk_keeps_the_verdict_and_the_exit_code(tmp_path):
    with tmpfs(pages=64) as mount:
        fill(mount)
        run = upkeep("run", "daily", "-i", two_hosts(tmp_path), "--report-dir", mount / "reports",
                     "-e", "upkeep_fake_status=critical")
        left = sorted(p.name for p in mount.rglob("*") if p.name != "ballast")
    assert run.returncode == 2, run.stdout + run.stderr
    assert "CRITICAL: upkeep daily" in run.stdout and "fake.health" in run.stdout
    assert "report.json not written" in run.stderr and "No space left on device" in run.stderr
    assert "not recorded in history" in run.stderr
    assert "Report: not written" in run.stdout
    assert not [name for name in left if name.startswith("daily-")], left


# -- 3. secrets in temp files after an interrupted run -------------------------------------------

@pytest.mark.parametrize("how", ["sigterm", "timeout"])
def test_an_interrupted_run_leaves_no_secret_in_any_temp_directory(tmp_path, how):
    secret = "pw-" + secrets.token_hex(12)
    secret_file = tmp_path / "secret.yml"
    secret_file.write_text(yaml.safe_dump({"upkeep_fake_password": secret}))
    home, tmpdir = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    tmpdir.mkdir()
    started = time.time()
    argv = [str(BIN / "upkeep"), "run", "daily", "-i", str(two_hosts(tmp_path)), "--report-dir", str(tmp_path / "r"),
            "-e", "@%s" % secret_file, "-e", "upkeep_fake_sleep_s=60"]
    if how == "timeout":
        # The cut must come while the task given the secret runs: it starts after about 2 s here
        # and 6 s on a loaded 2-core machine, and a cut before it would find nothing to leak.
        argv += ["--timeout", "20"]
    proc = subprocess.Popen(argv, cwd=REPO, env=env(HOME=str(home), TMPDIR=str(tmpdir)), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        if how == "sigterm":
            # Stop the run while the module holding the secret runs: a module process (Ansible
            # starts it as `sh -c 'python && sleep 0'`) still alive two seconds later is the long
            # one, not the quick probe before it.
            deadline, seen = time.monotonic() + 60, set()
            while True:
                assert time.monotonic() < deadline and proc.poll() is None, "the long task never started"
                running = {pid for pid, line in _commands() if "&& sleep 0" in line}
                if running & seen:
                    break
                seen = running
                time.sleep(2)
            proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3 and "PARTIAL" in out, out
    # Every place a temp file of the run could be: the run's HOME and TMPDIR, the account's real
    # home (Ansible expands ~ in remote_tmp from the password database, not $HOME), /tmp.
    places = [home, tmpdir, pathlib.Path(pwd.getpwuid(os.getuid()).pw_dir) / ".ansible", pathlib.Path("/tmp")]
    leaks = []
    for place in places:
        for path in _files_since(place, started):
            try:
                if secret.encode() in path.read_bytes():
                    leaks.append(str(path))
            except OSError:
                continue
    assert leaks == []
    assert not list(tmpdir.glob("upkeep-run-*")), "the run's private directory is removed"


def _commands() -> list[tuple[int, str]]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                found.append((int(entry), pathlib.Path("/proc", entry, "cmdline").read_bytes().replace(b"\0", b" ").decode()))
            except OSError:
                continue
    return found


def _files_since(place: pathlib.Path, since: float):
    for dirpath, dirnames, filenames in os.walk(place, onerror=lambda error: None):
        if dirpath.startswith(("/tmp/pytest-of-", "/tmp/upkeep-test-reports")):
            dirnames[:] = []  # the tests' own files (the secret file itself is under tmp_path)
            continue
        for name in filenames:
            path = pathlib.Path(dirpath, name)
            try:
                if path.is_file() and not path.is_symlink() and path.stat().st_mtime >= since - 1:
                    yield path
            except OSError:
                continue
