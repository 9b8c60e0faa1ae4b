"""``upkeep doctor`` against a small inventory: real ansible-inventory, real tools on PATH."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import yaml

from tests.support.tmpfs import fill, tmpfs

REPO = pathlib.Path(__file__).resolve().parents[3]
UPKEEP = pathlib.Path(sys.executable).parent / "upkeep"


def doctor(*args, path=None):
    env = {k: v for k, v in os.environ.items() if k not in ("UPKEEP_REPORT_DIR", "UPKEEP_HOME")}
    if path is not None:
        env["PATH"] = path
    return subprocess.run([str(UPKEEP), "doctor", *map(str, args)], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)


def inventory(tmp_path, hosts):
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    return path


def lines(run):
    return {(line["topic"]): line for section in json.loads(run.stdout).values() for line in section}


def test_healthy_setup_names_each_hosts_interpreter_and_exits_0(tmp_path):
    inv = inventory(tmp_path, {
        "ctl": {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"},
        "pinned": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
        "app1": {"ansible_host": "app1.example.invalid"},  # discovery: a warning, not a failure
    })
    run = doctor("-i", inv, "--report-dir", tmp_path / "reports", "--json")
    assert run.returncode == 0, run.stdout + run.stderr
    found = lines(run)
    # The venv's python or python3: the same interpreter under either name.
    assert found["ctl"]["status"] == "ok" and str(pathlib.Path(sys.executable).parent) in found["ctl"]["text"]
    assert found["pinned"]["status"] == "ok" and "Python %d.%d" % sys.version_info[:2] in found["pinned"]["text"]
    assert found["app1"]["status"] == "warn" and "discovery" in found["app1"]["text"]
    assert found["localhost"]["status"] == "ok" and "implicit" in found["localhost"]["text"]
    for name in ("httpx", "psycopg", "jinja2"):
        assert found[name]["status"] == "ok"
    assert found["git"]["status"] == "ok" and "git version" in found["git"]["text"]
    assert found["report dir"]["status"] == "ok" and not (tmp_path / "reports").exists()  # nothing created
    assert [p.name for p in tmp_path.iterdir()] == ["inventory.yml"]  # no probe file left behind
    text = doctor("-i", inv, "--report-dir", tmp_path / "reports")
    assert "Interpreters" in text.stdout and "OK    pinned" in text.stdout


def test_broken_interpreter_missing_tools_and_unwritable_report_dir_exit_1(tmp_path):
    inv = inventory(tmp_path, {"shim": {"ansible_connection": "local",
                                        "ansible_python_interpreter": str(tmp_path / "pyenv" / "shims" / "python")}})
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    run = doctor("-i", inv, "--report-dir", blocker / "reports", "--json", path=str(tmp_path))  # PATH without tools
    assert run.returncode == 1, run.stdout + run.stderr
    found = lines(run)
    assert found["shim"]["status"] == "fail" and "does not run" in found["shim"]["text"]
    assert found["pg_dump"]["status"] == "fail" and "not on PATH" in found["pg_dump"]["text"]
    assert found["report dir"]["status"] == "fail" and "not a directory" in found["report dir"]["text"]
    assert "Traceback" not in run.stderr


def test_unreadable_inventory_is_a_failure_not_a_traceback(tmp_path):
    bad = tmp_path / "inventory.ini"
    bad.write_text("[web\nhost1 ansible_connection=local\n")
    run = doctor("-i", bad, "--report-dir", tmp_path)
    assert run.returncode == 1 and "FAIL  inventory" in run.stdout and "cannot be parsed" in run.stdout
    assert "Traceback" not in run.stdout + run.stderr
    missing = doctor("-i", tmp_path / "nope.yml", "--report-dir", tmp_path)
    assert missing.returncode == 1 and "nope.yml does not exist" in missing.stdout


def test_a_full_report_dir_is_a_failure_even_though_a_file_can_be_created(tmp_path):
    hosts = inventory(tmp_path, {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}})
    with tmpfs(pages=64) as mount:
        fill(mount)
        run = doctor("-i", hosts, "--report-dir", mount / "reports")
    assert run.returncode == 1, run.stdout
    line = next(text for text in run.stdout.splitlines() if "report dir" in text and "FAIL" in text)
    assert "nearly full" in line and "0 B free" in line


def test_the_report_dir_line_says_how_much_room_there_is(tmp_path):
    hosts = inventory(tmp_path, {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}})
    run = doctor("-i", hosts, "--report-dir", tmp_path / "reports")
    line = next(text for text in run.stdout.splitlines() if "report dir" in text and "OK" in text)
    assert "free" in line and "will be created under %s" % tmp_path in line
