"""Usage errors of the ``upkeep`` CLI: exit 64 with one line naming what is wrong, never a
traceback, and Ansible never started."""

from __future__ import annotations

import pytest

from tests.fixtures.wrapper import two_hosts, upkeep


def assert_usage_error(run, *fragments):
    assert run.returncode == 64, run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    message = run.stderr.strip().splitlines()[-1]
    for fragment in fragments:
        assert fragment in message, message


def test_unknown_cadence_names_the_known_ones(tmp_path):
    run = upkeep("run", "dialy", "-i", two_hosts(tmp_path), "--report-dir", tmp_path / "r")
    assert_usage_error(run, "unknown cadence 'dialy'", "known: daily, weekly, monthly, quarterly")
    assert not (tmp_path / "r").exists()


def test_missing_playbook_of_a_standard_cadence(tmp_path):
    (tmp_path / "pb").mkdir()
    (tmp_path / "pb" / "daily.yml").write_text("- hosts: all\n  tasks: []\n")
    run = upkeep("run", "weekly", "-i", two_hosts(tmp_path), UPKEEP_PLAYBOOK_DIR=str(tmp_path / "pb"))
    assert_usage_error(run, "missing playbook for cadence 'weekly'")


@pytest.mark.parametrize("text, fragment", [
    ("all:\n  hosts: [\n", "is not valid YAML at line"),
    ("- web1\n", "must be a YAML mapping of groups"),
    ("all:\n  hosts: [web1, web2]\n", "all.hosts must be a mapping"),
])
def test_malformed_inventory(tmp_path, text, fragment):
    inventory = tmp_path / "bad.yml"
    inventory.write_text(text)
    assert_usage_error(upkeep("run", "daily", "-i", inventory), "inventory %s" % inventory, fragment)


@pytest.mark.parametrize("name, text, fragment", [
    # Ansible itself only warns about these and then runs against no hosts.
    ("bad.ini", "[web\nweb1\n", "cannot be parsed: Failed to parse inventory"),
    ("bad.yml", "all:\n  children:\n    web:\n      children:\n        x: [1]\n", "cannot be parsed"),
    ("empty.yml", "all:\n  vars:\n    a: 1\n", "has no hosts"),
])
def test_inventory_ansible_cannot_parse(tmp_path, name, text, fragment):
    inventory = tmp_path / name
    inventory.write_text(text)
    assert_usage_error(upkeep("run", "daily", "-i", inventory, "--report-dir", tmp_path / "r"),
                       "inventory %s" % inventory, fragment)
    assert not (tmp_path / "r").exists(), "no report for a run that never started"


def test_limit_that_matches_no_host(tmp_path):
    run = upkeep("run", "daily", "-i", two_hosts(tmp_path), "--limit", "nosuchhost", "--report-dir", tmp_path / "r")
    assert_usage_error(run, "--limit nosuchhost matches no host")


def test_missing_inventory_and_no_default(tmp_path):
    assert_usage_error(upkeep("run", "daily", "-i", tmp_path / "nope.yml"), "nope.yml does not exist")
    # no -i and no sandbox inventory under the (empty) project root
    assert_usage_error(upkeep("run", "daily", UPKEEP_HOME=str(tmp_path)), "no inventory: pass -i or run `upkeep sandbox up`")


@pytest.mark.parametrize("args, fragment", [
    (["-e", "novalue"], "-e 'novalue': expected KEY=VALUE"),
    (["-e", "@/nonexistent/secrets.yml"], "cannot read"),
    (["--timeout", "0"], "--timeout must be a positive number of seconds"),
    (["--timeout", "soon"], "invalid int value"),
    (["--format", "pdf"], "unrecognized arguments"),
])
def test_bad_options(tmp_path, args, fragment):
    assert_usage_error(upkeep("run", "daily", "-i", two_hosts(tmp_path), *args), fragment)


def test_report_without_runs_and_history_without_store(tmp_path):
    assert_usage_error(upkeep("report", "--report-dir", tmp_path), "no report 'last' in %s" % tmp_path)
    assert_usage_error(upkeep("history", "--report-dir", tmp_path), "no history store at")


def test_list_shows_cadences_roles_and_checks():
    run = upkeep("list")
    assert run.returncode == 0
    lines = run.stdout.splitlines()
    assert lines[0] == "daily" and lines[1] == "  upkeep_fake" and lines[2].split()[0] == "fake.health"
    assert [line for line in lines if not line.startswith(" ")] == ["daily", "weekly", "monthly", "quarterly"]


def test_version_names_upkeep_ansible_and_python():
    run = upkeep("--version")
    assert run.returncode == 0
    assert run.stdout.startswith("upkeep 0.") and "ansible-core 2.19" in run.stdout and "Python 3." in run.stdout
