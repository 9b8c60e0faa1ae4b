"""The report callback plugin (playbooks/callback_plugins/upkeep_report.py) under plain
ansible-playbook: it loads because it sits next to the playbook, writes the same report the
wrapper writes, and stands down without a report dir or under the wrapper."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from tests.fixtures.wrapper import BIN, PLAYBOOKS, REPO, env, latest_report, two_hosts, upkeep

pytestmark = pytest.mark.slow


@pytest.fixture
def project(tmp_path):
    """A playbook dir laid out like the repo's: the cadence playbook with callback_plugins/ beside it."""
    pb = tmp_path / "playbooks"
    pb.mkdir()
    (pb / "daily.yml").write_text((PLAYBOOKS / "daily.yml").read_text())
    for name in ("library", "roles"):
        (pb / name).symlink_to(PLAYBOOKS / name)
    (pb / "callback_plugins").symlink_to(REPO / "playbooks" / "callback_plugins")
    return pb


def ansible_playbook(playbook, inventory, *args, **env_extra):
    run_env = env(**env_extra)
    run_env.pop("UPKEEP_PLAYBOOK_DIR")
    run_env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    return subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory), str(playbook), *args], cwd=REPO,
                          env=run_env, capture_output=True, text=True, timeout=90)


def comparable(report):
    return sorted((c["host"], c["id"], c["target"], c["status"], c["summary"]) for c in report["checks"])


def test_plain_ansible_playbook_writes_the_same_report_as_the_wrapper(tmp_path, project):
    inventory = two_hosts(tmp_path)
    plain_dir, wrapped_dir = tmp_path / "plain", tmp_path / "wrapped"
    plain = ansible_playbook(project / "daily.yml", inventory, "-e", "upkeep_fake_status=warning",
                             UPKEEP_REPORT_DIR=str(plain_dir))
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert "PLAY RECAP" in plain.stdout  # the stdout callback is untouched
    plain_report = latest_report(plain_dir)
    assert "upkeep report (warning): %s" % (plain_dir / plain_report["run_id"] / "report.html") in plain.stdout
    assert sorted(os.listdir(plain_dir / "latest")) == ["junit.xml", "report.html", "report.json", "report.md"]
    assert (plain_dir / "history.sqlite").is_file()

    wrapped = upkeep("run", "daily", "-i", inventory, "--report-dir", wrapped_dir, "-e", "upkeep_fake_status=warning",
                     UPKEEP_PLAYBOOK_DIR=str(project))
    assert wrapped.returncode == 1
    wrapped_report = latest_report(wrapped_dir)
    assert comparable(plain_report) == comparable(wrapped_report)
    for key in ("schema", "cadence", "status", "counts", "hosts", "partial"):
        assert plain_report[key] == wrapped_report[key], key
    assert plain_report["run"]["exit_code"] == 1 and plain_report["run"]["source"] == "ansible-playbook callback"
    # under the wrapper the plugin stood down: one run dir, written by the wrapper
    assert [p.name for p in wrapped_dir.iterdir() if p.name.startswith("daily-")] == [wrapped_report["run_id"]]


def test_extra_var_report_dir_as_an_awx_survey_would_set_it(tmp_path, project):
    survey_dir = tmp_path / "survey"
    run = ansible_playbook(project / "daily.yml", two_hosts(tmp_path), "--check", "-e",
                           json.dumps({"upkeep_report_dir": str(survey_dir), "upkeep_fake_status": "critical"}))
    assert run.returncode == 2, run.stdout + run.stderr  # upkeep_fail_on (critical) failed the play
    report = latest_report(survey_dir)
    assert report["status"] == "critical" and report["run"]["check_mode"] is True
    assert report["run"]["exit_code"] == 2 and report["run"]["error"] is None, "the verdict is not a broken run"


def config_without_report_dir(tmp_path):
    """The repo's ansible.cfg with absolute paths and no report dir, as a user's own config might be."""
    text = (REPO / "ansible.cfg").read_text().replace("= ./", "= %s/" % REPO)
    path = tmp_path / "ansible.cfg"
    path.write_text("\n".join(line for line in text.splitlines() if not line.startswith("report_dir")))
    return path


def test_without_a_report_dir_the_closing_lines_still_give_the_verdict(tmp_path, project):
    run_env = env(HOME=str(tmp_path), ANSIBLE_CONFIG=str(config_without_report_dir(tmp_path)))
    run_env.pop("UPKEEP_REPORT_DIR")
    run_env.pop("UPKEEP_PLAYBOOK_DIR")
    run = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(two_hosts(tmp_path)), str(project / "daily.yml"),
                          "-e", "upkeep_fake_status=warning"], cwd=REPO, env=run_env, capture_output=True, text=True,
                         timeout=90)
    assert run.returncode == 0, run.stdout + run.stderr  # a warning is below the default upkeep_fail_on
    tail = run.stdout[run.stdout.index("PLAY RECAP"):]
    assert "WARNING: upkeep daily" in tail and "2 warning" in tail and "web1" in tail and "web2" in tail
    assert "no report written" in tail and "upkeep report (" not in tail


def test_interrupted_plain_run_still_writes_a_partial_report(tmp_path, project):
    run_env = env(UPKEEP_REPORT_DIR=str(tmp_path / "r"), ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    proc = subprocess.Popen([str(BIN / "ansible-playbook"), "-i", str(two_hosts(tmp_path)), str(project / "daily.yml"),
                             "-e", "upkeep_fake_sleep_s=120"], cwd=REPO, env=run_env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        for line in proc.stdout:
            if "Take a long time" in line:
                break
        # A SIGINT that lands while ansible-playbook is still forking its workers can be lost
        # on a loaded machine (and one landing in a fork handler kills it without its atexit
        # hooks): let the task's worker start first. A person would press Ctrl-C again, and so
        # does the test.
        time.sleep(1.5)
        out = ""
        for _ in range(6):
            proc.send_signal(signal.SIGINT)
            try:
                out, _ = proc.communicate(timeout=5)
                break
            except subprocess.TimeoutExpired:
                continue
    finally:
        if proc.poll() is None:
            proc.kill()
    report = latest_report(tmp_path / "r")
    assert report["partial"] is True and report["counts"]["ok"] == 2, out
    assert report["status"] == "unknown"
