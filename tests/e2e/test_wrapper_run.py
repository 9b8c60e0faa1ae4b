"""``upkeep run`` end to end: real ansible-runner runs of the test-only playbooks
(tests/fixtures/playbooks, a fake check module whose statuses the test chooses), each outcome
produced by a real situation: a check's status, an unreachable host, a failed task, a timeout,
an interrupt."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time

import pytest

from tests.fixtures.wrapper import (PLAYBOOKS, REPO, UPKEEP, env, latest_report, local_host, processes_mentioning,
                                    two_hosts, unreachable_host, upkeep, write_inventory)

pytestmark = pytest.mark.slow


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("status, code", [("ok", 0), ("warning", 1), ("critical", 2)])
def test_exit_code_follows_the_worst_check(tmp_path, status, code):
    reports = tmp_path / "reports"
    run = upkeep("run", "daily", "-i", two_hosts(tmp_path), "--report-dir", reports, "-e", "upkeep_fake_status=" + status)
    assert run.returncode == code, run.stdout + run.stderr
    report = latest_report(reports)
    assert report["status"] == status and report["run"]["exit_code"] == code and report["partial"] is False
    assert sorted(report["hosts"]) == ["web1", "web2"]
    assert {(c["host"], c["id"], c["status"]) for c in report["checks"]} == {("web1", "fake.health", status),
                                                                            ("web2", "fake.health", status)}
    run_dir = reports / report["run_id"]
    assert os.readlink(reports / "latest") == report["run_id"]
    assert sorted(os.listdir(run_dir)) == ["junit.xml", "report.html", "report.json", "report.md"]
    # live lines, then where the report is
    assert re.search(r"^%s +web1 fake.health https://web1.test/api/health" % status.upper(), run.stdout, re.M)
    assert str(run_dir.resolve() / "report.html") in run.stdout
    assert str(run_dir.resolve() / "report.json") in run.stdout


def test_unreachable_host_is_unknown_while_the_others_complete(tmp_path):
    reports = tmp_path / "reports"
    inventory = write_inventory(tmp_path, {
        "web1": local_host(upkeep_fake_targets=[{"target": "https://web1.test/"}]),
        "down1": unreachable_host(closed_port()),
    })
    run = upkeep("run", "daily", "-i", inventory, "--report-dir", reports, "-e", "upkeep_fake_host_side=true")
    assert run.returncode == 3, run.stdout + run.stderr
    report = latest_report(reports)
    assert report["hosts"]["down1"]["status"] == "unknown"
    assert report["hosts"]["web1"] == {"status": "ok", "counts": {"ok": 2, "warning": 0, "critical": 0, "unknown": 0}}
    [reach] = [c for c in report["checks"] if c["host"] == "down1"]
    assert reach["id"] == "host.reachable" and "refused" in reach["summary"].lower()
    assert report["run"]["ansible_rc"] == 4


def test_failed_task_is_unknown_and_exit_3(tmp_path):
    reports = tmp_path / "reports"
    run = upkeep("run", "daily", "-i", two_hosts(tmp_path), "--report-dir", reports,
                 "-e", "upkeep_fake_fail=endpoints[0].url: must be an http(s) URL")
    assert run.returncode == 3, run.stdout + run.stderr
    report = latest_report(reports)
    assert [(c["id"], c["status"]) for c in report["checks"]] == [("task.upkeep_fake", "unknown")]
    assert "must be an http(s) URL" in report["checks"][0]["summary"]
    assert "Traceback" not in run.stdout + run.stderr


@pytest.mark.parametrize("cadence", ["daily", "weekly", "monthly", "quarterly"])
def test_each_cadence_runs_its_own_playbook(tmp_path, cadence):
    reports = tmp_path / "reports"
    run = upkeep("run", cadence, "-i", two_hosts(tmp_path), "--report-dir", reports, "-e", "upkeep_fake_host_side=yes",
                 "--limit", "web1", "--quiet")
    assert run.returncode == 0, run.stdout + run.stderr
    report = latest_report(reports)
    assert report["cadence"] == cadence and report["run_id"].startswith(cadence + "-")
    assert report["run"]["playbook"] == str(PLAYBOOKS / (cadence + ".yml"))
    assert [c["summary"] for c in report["checks"] if c["id"] == "fake.local"] == ["%s on web1" % cadence]
    assert report["run"]["limit"] == "web1" and list(report["hosts"]) == ["web1"]
    # --quiet: no live lines, only the verdict and where the report is
    assert "fake.health" not in run.stdout and "report.html" in run.stdout


def test_timeout_writes_a_partial_report_and_leaves_nothing_running(tmp_path):
    reports = tmp_path / "reports"
    # The cut must come after the first checks, which take about 2 s here and 6 s on a loaded
    # 2-core machine: 20 s leaves room for a slower one. 60 s, half the task's sleep, tells a
    # run that was cut from one that waited for the task.
    started = time.monotonic()
    run = upkeep("run", "daily", "-i", two_hosts(tmp_path), "--report-dir", reports, "--timeout", "20",
                 "-e", "upkeep_fake_sleep_s=120", "-e", "upkeep_fake_status=warning",
                 ANSIBLE_REMOTE_TMP=str(tmp_path / "ansible-tmp"))
    assert run.returncode == 3, run.stdout + run.stderr
    assert time.monotonic() - started < 60
    report = latest_report(reports)
    assert report["partial"] is True and "timed out after 20s" in report["partial_reason"]
    assert report["status"] == "unknown" and report["counts"]["warning"] == 2  # the checks seen before the cut
    assert "Partial report" in (reports / "latest" / "report.html").read_text()
    assert processes_mentioning(str(tmp_path)) == []


def test_interrupt_writes_a_partial_report(tmp_path):
    reports = tmp_path / "reports"
    proc = subprocess.Popen([str(UPKEEP), "run", "daily", "-i", str(two_hosts(tmp_path)), "--report-dir", str(reports),
                             "-e", "upkeep_fake_sleep_s=120"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env(ANSIBLE_REMOTE_TMP=str(tmp_path / "ansible-tmp")))
    try:
        seen = []
        for line in proc.stdout:  # wait for the first check, so the partial report has something in it
            seen.append(line)
            if "fake.health" in line:
                break
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3, "".join(seen) + out + err
    report = latest_report(reports)
    assert report["partial"] is True and "interrupted" in report["partial_reason"]
    assert report["counts"]["ok"] == 2
    assert processes_mentioning(str(tmp_path)) == []


def test_history_report_and_artifacts_across_runs(tmp_path):
    reports, kept = tmp_path / "reports", tmp_path / "kept"
    secrets = tmp_path / "secrets.yml"
    secrets.write_text("upkeep_fake_secret_token: tok-5ecret-value\n")
    first = upkeep("run", "daily", "-i", two_hosts(tmp_path), "--report-dir", reports, "--check",
                   "-e", "@" + str(secrets), "--keep-artifacts", kept)
    assert first.returncode == 0, first.stdout + first.stderr
    first_report = latest_report(reports)
    assert first_report["run"]["check_mode"] is True
    second = upkeep("run", "daily", "-i", two_hosts(tmp_path), "--report-dir", reports, "-e", "upkeep_fake_status=critical")
    assert second.returncode == 2
    second_report = latest_report(reports)
    assert second_report["run_id"] != first_report["run_id"]

    history = upkeep("history", "--report-dir", reports)
    assert history.returncode == 0
    lines = history.stdout.splitlines()
    assert lines[1].startswith(second_report["run_id"]) and lines[2].startswith(first_report["run_id"])

    shown = upkeep("report", "last", "--format", "json", "--report-dir", reports)
    assert json.loads(shown.stdout) == second_report
    summary = upkeep("report", first_report["run_id"], "--report-dir", reports)
    assert summary.returncode == 0 and summary.stdout.startswith("OK: upkeep daily " + first_report["run_id"])
    junit = upkeep("report", "--format", "junit", "--report-dir", reports)
    assert junit.stdout.startswith("<?xml") and 'failures="2"' in junit.stdout

    [artifacts] = list(kept.iterdir())
    files = [p for p in artifacts.rglob("*") if p.is_file()]
    assert any(p.parent.name == "job_events" for p in files)
    assert not any("extravars" in p.name for p in files)
    for path in files + [p for p in reports.rglob("*") if p.is_file()]:
        assert b"tok-5ecret-value" not in path.read_bytes(), path


def test_playbook_error_is_a_failed_run_with_ansibles_message(tmp_path):
    """A playbook Ansible rejects (unknown module) runs nothing: exit 3 and the report says why."""
    (tmp_path / "pb").mkdir()
    (tmp_path / "pb" / "daily.yml").write_text(
        "- name: Broken\n  hosts: all\n  gather_facts: false\n  tasks:\n    - name: Typo\n      no_such_module_zz: {}\n")
    reports = tmp_path / "reports"
    run = upkeep("run", "daily", "-i", two_hosts(tmp_path), "--report-dir", reports, UPKEEP_PLAYBOOK_DIR=str(tmp_path / "pb"))
    assert run.returncode == 3, run.stdout + run.stderr
    report = latest_report(reports)
    assert report["status"] == "unknown" and report["partial"] is False
    assert "no_such_module_zz" in report["run"]["error"] and "daily.yml:5" in report["run"]["error"]
    assert "The run failed" in (reports / "latest" / "report.html").read_text()
