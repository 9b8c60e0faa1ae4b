"""pytest fixtures: http (real servers on loopback).

- ``https_app``: the sandbox web app over HTTPS with ``server_cert`` (signed by ``test_ca``) and a
  bearer token the test knows; ``/api/slow`` sleeps 300 ms so latency tests stay quick.
- ``http_app``: the same app over plain HTTP, for tests that want no TLS in the way.
- ``hanging_server``: accepts TCP connections and never answers.
- ``trickling_server``: answers one byte at a time, forever; only an overall deadline stops it.
- ``echo_server``: answers 500 with the raw request as the body, as debug error pages do.
- ``closed_port``: a loopback port nothing listens on.
"""

from __future__ import annotations

import dataclasses
import io
import pathlib
import secrets
import socket
import threading

import pytest

from upkeep.sandbox import webapp

SLOW_MS = 300


@dataclasses.dataclass
class RunningApp:
    url: str
    port: int
    token: str
    ca_file: str
    handle: webapp.WebAppHandle
    access_log: io.StringIO

    @property
    def state(self) -> webapp.AppState:
        return self.handle.state


@pytest.fixture(scope="session")
def https_app(server_cert, test_ca):
    token = "tok-" + secrets.token_hex(16)
    log = io.StringIO()
    handle = webapp.start_in_thread("127.0.0.1", 0, server_cert.cert, server_cert.key, token=token,
                                    slow_ms=SLOW_MS, access_log=log, error_log=log)
    yield RunningApp(handle.url, handle.port, token, str(test_ca.cert), handle, log)
    handle.stop()


@pytest.fixture(scope="session")
def http_app(test_ca):
    token = "tok-" + secrets.token_hex(16)
    log = io.StringIO()
    handle = webapp.start_in_thread("127.0.0.1", 0, token=token, slow_ms=SLOW_MS, access_log=log, error_log=log)
    yield RunningApp(handle.url, handle.port, token, str(test_ca.cert), handle, log)
    handle.stop()


class _RawServer:
    """A loopback TCP server whose per-connection behaviour is ``serve(conn, stop_event)``."""

    def __init__(self, serve):
        self._serve = serve
        self._stop = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self._connections = []
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            self._connections.append(conn)
            threading.Thread(target=self._serve, args=(conn, self._stop), daemon=True).start()

    def close(self):
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()
        for conn in self._connections:
            conn.close()


def _hold(conn, stop):
    stop.wait()


def _trickle(conn, stop):
    try:
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n")
        while not stop.wait(0.2):
            conn.sendall(b"X-Trickle: 1\r\n")  # each header resets a read timeout; the end never comes
    except OSError:
        pass


def _echo(conn, stop):
    try:
        # Last line first: the caller's own headers (sent after httpx's defaults) lead the body.
        request = b"\n".join(reversed(conn.recv(65536).strip().split(b"\r\n")))
        conn.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n"
                     b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(request), request))
        conn.close()
    except OSError:
        pass


@pytest.fixture
def echo_server():
    """URL of a server whose 500 error body repeats the request it got (last line first)."""
    server = _RawServer(_echo)
    yield "http://127.0.0.1:%d/debug" % server.port
    server.close()


@pytest.fixture
def hanging_server():
    """URL of a server that accepts connections and never sends a byte."""
    server = _RawServer(_hold)
    yield "http://127.0.0.1:%d/api/health" % server.port
    server.close()


@pytest.fixture
def trickling_server():
    """URL of a server that sends a header line every 200 ms and never finishes the response."""
    server = _RawServer(_trickle)
    yield "http://127.0.0.1:%d/api/health" % server.port
    server.close()


@pytest.fixture
def closed_port():
    """A loopback port with nothing listening (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return port


def write_secret(tmp_path: pathlib.Path, name: str, value: str) -> str:
    path = tmp_path / name
    path.write_text(value)
    path.chmod(0o600)
    return str(path)
