"""Processes, ports and readiness for the sandbox's servers.

The web app and SMTP server run as detached children (own session, so a Ctrl-C at the terminal
does not reach them and ``killpg`` reaches all they spawn), recorded by pid. Because a pid can be
recycled after a reboot or a crash, a pid counts as ours only while its command line still names
the server's module.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import time

HOST = "127.0.0.1"
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
# Children this process spawned, kept so they are reaped through their Popen (no zombie, no
# "still running" ResourceWarning when the object would otherwise be collected).
_CHILDREN: dict[int, subprocess.Popen] = {}


class SandboxError(RuntimeError):
    """A component did not come up (the message names it and its log) or state is unusable."""

    def __init__(self, message: str, component: str | None = None, log_file: str | None = None):
        super().__init__(message)
        self.component = component
        self.log_file = log_file


def free_port() -> int:
    """A port nobody holds on loopback right now (the caller binds it soon after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def port_free(port: int | None) -> bool:
    if not port:
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the servers bind (SO_REUSEADDR): a port whose last connections still sit in TIME_WAIT
        # after a crash is free for them, and moving would break copies of the inventory.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def port_bound(port: int | None) -> bool:
    """Whether something holds ``port`` on loopback. Tested by binding, not connecting: a bare
    TCP connect would leave a TLS handshake error in the server's log on every status call."""
    return bool(port) and not port_free(port)


def log_tail(path: pathlib.Path, lines: int = 12) -> str:
    try:
        tail = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    return ("\n--- %s (last lines) ---\n%s" % (path, "\n".join(tail))) if tail else ""


def pid_alive(pid: int | None, marker: str | None = None) -> bool:
    """Whether ``pid`` runs (not a zombie) and, where /proc tells, its command line holds
    ``marker``: a recycled pid of some other program counts as not running."""
    if not pid:
        return False
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is not None:
            del _CHILDREN[pid]
            return False
        return True
    with contextlib.suppress(ChildProcessError, OSError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False  # a child of ours spawned by other code, just reaped
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    proc = pathlib.Path("/proc/%d" % pid)
    if proc.is_dir():
        try:
            if ") Z" in (proc / "stat").read_text():
                return False
            if marker and marker.encode() not in (proc / "cmdline").read_bytes():
                return False
        except OSError:
            return False
    return True


def spawn(module: str, args: list[str], log: pathlib.Path, cwd: pathlib.Path) -> int:
    """Start ``python -m module args`` detached, output appended to ``log``; its pid."""
    with open(log, "ab") as out:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        out.write(("\n=== %s starting %s ===\n" % (stamp, module)).encode())
        out.flush()
        process = subprocess.Popen([sys.executable, "-m", module, *args], stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True, cwd=cwd, close_fds=True)
    _CHILDREN[process.pid] = process
    return process.pid


def terminate(pid: int, marker: str, timeout_s: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM the process group we started (its session leader is ``pid``), wait, then SIGKILL."""
    if not pid_alive(pid, marker):
        return
    for sig, wait_s in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if not pid_alive(pid, marker):
                return
            time.sleep(0.05)
    raise SandboxError("process %d did not exit after SIGKILL" % pid)


def wait_ready(name: str, probe, log_file: pathlib.Path, pid: int | None = None, marker: str | None = None,
               timeout_s: float = READY_TIMEOUT_S) -> None:
    """Call ``probe`` until it returns (ready) or ``timeout_s`` passes, or the process exits."""
    deadline = time.monotonic() + timeout_s
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        if pid is not None and not pid_alive(pid, marker):
            raise SandboxError("sandbox %s exited during start-up; see %s%s"
                               % (name, log_file, log_tail(log_file)), name, str(log_file))
        try:
            probe()
            return
        except Exception as exc:  # any failure means "not ready yet" until the deadline
            last_error = "%s: %s" % (type(exc).__name__, exc)
        time.sleep(0.1)
    raise SandboxError("sandbox %s not ready after %.0f s (%s); see %s%s"
                       % (name, timeout_s, last_error, log_file, log_tail(log_file)), name, str(log_file))


def probe_https(url: str, ca_file: str) -> None:
    import httpx

    response = httpx.get(url + "/api/health", verify=ssl.create_default_context(cafile=ca_file), timeout=3.0)
    if response.status_code != 200 or response.json().get("status") != "healthy":
        raise RuntimeError("/api/health answered %d %s" % (response.status_code, response.text[:200]))


def probe_smtp(port: int, ca_file: str) -> None:
    with smtplib.SMTP(HOST, port, timeout=3.0) as client:
        code, _ = client.ehlo("upkeep-sandbox")
        if code != 250 or not client.has_extn("starttls"):
            raise RuntimeError("EHLO answered %d without STARTTLS" % code)
        client.starttls(context=ssl.create_default_context(cafile=ca_file))
        client.ehlo("upkeep-sandbox")


def probe_pg(dsn: str) -> None:
    import psycopg

    with psycopg.connect(dsn, connect_timeout=3) as conn:
        conn.execute("SELECT 1").fetchone()


