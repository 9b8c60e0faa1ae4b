"""Outputs for existing monitoring, end to end: real ``upkeep run`` and plain ansible-playbook
runs write a Prometheus textfile that ``promtool check metrics`` accepts, and ``upkeep report
--format nagios`` answers like a Nagios plugin."""

from __future__ import annotations

import subprocess

import pytest

from tests.fixtures.wrapper import BIN, PLAYBOOKS, REPO, env, two_hosts, upkeep

pytestmark = pytest.mark.slow


def promtool_ok(path) -> bool:
    done = subprocess.run(["promtool", "check", "metrics"], stdin=open(path), capture_output=True, text=True)
    return done.returncode == 0 and not done.stdout + done.stderr


def test_run_writes_the_textfile_and_nagios_reads_the_report(tmp_path):
    reports, collector = tmp_path / "reports", tmp_path / "collector"
    collector.mkdir()
    run = upkeep("run", "daily", "-i", two_hosts(tmp_path), "--report-dir", reports, "-q",
                 "--prometheus-textfile", str(collector) + "/", "-e", "upkeep_fake_status=warning")
    assert run.returncode == 1, run.stdout + run.stderr
    textfile = collector / "upkeep_daily.prom"
    assert promtool_ok(textfile)
    text = textfile.read_text()
    assert 'upkeep_check_status{cadence="daily",host="web2",check="fake.health",target="https://web2.test/api/health"} 1' in text
    assert 'upkeep_run_exit_code{cadence="daily"} 1' in text

    nagios = upkeep("report", "last", "--format", "nagios", "--report-dir", reports)
    assert nagios.returncode == 1, nagios.stderr
    assert nagios.stdout.startswith("UPKEEP DAILY WARNING - 0 unknown, 0 critical, 2 warning, 0 ok (run daily-")
    assert nagios.stdout.count("\n") == 1 and "'fake.health;web1;https://web1.test/api/health;latency_ms'=" in nagios.stdout
    same = upkeep("report", "--cadence", "daily", "--format", "nagios", "--report-dir", reports)
    assert same.stdout == nagios.stdout and same.returncode == 1
    none = upkeep("report", "--cadence", "weekly", "--format", "nagios", "--report-dir", reports)
    assert none.returncode == 3 and none.stdout.startswith("UPKEEP UNKNOWN - no report of cadence 'weekly'")


def test_unusable_textfile_path_is_a_usage_error_before_the_run(tmp_path):
    run = upkeep("run", "daily", "-i", two_hosts(tmp_path), "--report-dir", tmp_path / "reports",
                 "--prometheus-textfile", tmp_path / "nowhere" / "upkeep.prom")
    assert run.returncode == 64 and run.stdout == ""
    assert "directory %s does not exist" % (tmp_path / "nowhere") in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "reports").exists()


@pytest.mark.parametrize("how", ["extra var", "environment"])
def test_plain_ansible_playbook_writes_the_textfile_too(tmp_path, how):
    project = tmp_path / "playbooks"
    project.mkdir()
    (project / "daily.yml").write_text((PLAYBOOKS / "daily.yml").read_text())
    for name in ("library", "roles"):
        (project / name).symlink_to(PLAYBOOKS / name)
    (project / "callback_plugins").symlink_to(REPO / "playbooks" / "callback_plugins")
    textfile = tmp_path / "node.prom"
    run_env = env(UPKEEP_REPORT_DIR=str(tmp_path / "reports"), ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    run_env.pop("UPKEEP_PLAYBOOK_DIR")
    args = ["-e", "upkeep_fake_status=critical"]
    if how == "extra var":
        args += ["-e", "upkeep_prometheus_textfile=%s" % textfile]
    else:
        run_env["UPKEEP_PROMETHEUS_TEXTFILE"] = str(textfile)
    done = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(two_hosts(tmp_path)), str(project / "daily.yml"),
                           *args], cwd=REPO, env=run_env, capture_output=True, text=True, timeout=120)
    assert "upkeep report (critical)" in done.stdout, done.stdout + done.stderr
    assert promtool_ok(textfile)
    assert 'upkeep_run_status{cadence="daily"} 2' in textfile.read_text()
