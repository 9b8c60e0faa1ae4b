"""The sandbox manager's bookkeeping without servers: status and down on an empty or stale
sandbox, pid ownership, secret file modes, printable lines. (The full lifecycle against real
servers is tests/e2e/test_sandbox.py.)"""

from __future__ import annotations

import json
import pathlib
import stat
import subprocess
import sys
import time

import pytest

from upkeep.sandbox import manager


def test_status_and_down_of_a_root_without_sandbox(tmp_path):
    result = manager.status(tmp_path)
    assert result["running"] is False
    assert set(result["components"]) == {"postgres", "smtp", "webapp"}
    assert not any(c["running"] for c in result["components"].values())
    assert manager.down(tmp_path)["stopped"] == []
    assert not (tmp_path / ".sandbox").exists()  # looking changes nothing


@pytest.fixture
def exited_pid():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.fixture
def foreign_process():
    """A live process that is not a sandbox server, as a recycled pid would be."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    yield process
    process.kill()
    process.wait()


def _write_state(root, webapp_pid, smtp_pid=None):
    sandbox = root / ".sandbox"
    sandbox.mkdir()
    state = {"components": {"webapp": {"pid": webapp_pid, "port": 1, "host": "127.0.0.1"},
                            "smtp": {"pid": smtp_pid, "port": 2, "host": "127.0.0.1"}, "postgres": {}}}
    (sandbox / "state.json").write_text(json.dumps(state))


def test_a_stale_pid_is_reported_as_stopped(tmp_path, exited_pid):
    _write_state(tmp_path, exited_pid)
    webapp = manager.status(tmp_path)["components"]["webapp"]
    assert webapp["running"] is False and webapp["pid"] is None
    assert webapp["stale_pid"] == exited_pid
    assert any("stale pid %d" % exited_pid in line for line in manager.status_lines(manager.status(tmp_path)))


def test_down_never_signals_a_process_that_is_not_ours(tmp_path, foreign_process):
    _write_state(tmp_path, foreign_process.pid, smtp_pid=foreign_process.pid)
    assert manager.status(tmp_path)["components"]["webapp"]["running"] is False
    result = manager.down(tmp_path)
    assert result["stopped"] == []
    assert foreign_process.poll() is None  # still alive


def test_pid_alive_reaps_and_rejects_a_zombie_child():
    # An exited child nobody waited for is a zombie: kill(pid, 0) still succeeds on it.
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while ") Z" not in pathlib.Path("/proc/%d/stat" % process.pid).read_text():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert manager.pid_alive(process.pid) is False
    assert not pathlib.Path("/proc/%d" % process.pid).exists()  # reaped
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        # Until the child has exec'd, /proc shows the parent's command line.
        cmdline = pathlib.Path("/proc/%d/cmdline" % child.pid)
        while b"time.sleep(60)" not in cmdline.read_bytes():
            assert time.monotonic() < deadline + 10
            time.sleep(0.01)
        assert manager.pid_alive(child.pid, marker="time.sleep(60)")
        assert not manager.pid_alive(child.pid, marker="upkeep.sandbox.webapp")
    finally:
        child.kill()
        child.wait()


def test_secrets_are_private_random_and_stable(tmp_path):
    layout = manager.Layout(tmp_path)
    first = manager._ensure_secrets(layout)
    assert stat.S_IMODE(layout.secrets.stat().st_mode) == 0o700
    for name in first:
        assert stat.S_IMODE(layout.secret(name).stat().st_mode) == 0o600
    assert len(set(first.values())) == len(first) and all(len(v) >= 32 for v in first.values())
    assert manager._ensure_secrets(layout) == first  # a restart keeps working credentials


def test_a_wrong_postgresql_bin_directory_says_what_to_install_or_set(monkeypatch, tmp_path):
    from upkeep.sandbox.pgcluster import PgClusterError, find_bindir
    monkeypatch.setenv("UPKEEP_PG_BINDIR", str(tmp_path))
    with pytest.raises(PgClusterError, match="UPKEEP_PG_BINDIR=%s holds no initdb or pg_ctl.*package postgresql" % tmp_path):
        find_bindir()


def test_status_lines_say_when_a_component_had_to_move():
    lines = manager.status_lines({"action": "started", "sandbox_dir": "/x/.sandbox", "duration_s": 1.0,
                                  "started": ["postgres"], "inventory": "/x/.sandbox/inventory.yml",
                                  "moved": [{"component": "postgres", "from": 5433, "to": 5544}], "components": {}})
    assert "postgres moved from port 5433 to 5544 (the old port was taken); /x/.sandbox/inventory.yml was rewritten" in lines[1]
