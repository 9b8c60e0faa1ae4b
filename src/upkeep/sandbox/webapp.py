"""The sandbox's HTTPS app: a small imitation of the platform (a Next.js trading site).

It serves what the maintenance checks look at: ``/api/health`` (backed by a real PostgreSQL
connection when given a DSN file), a slow and an erroring endpoint, a few HTML pages with links
and images (some deliberately broken), an imitation of the WhatsApp Business API that wants a
bearer token, and an email provider's status page. Access lines go out in the combined log
format, which later log-analysis checks read.

The standard library's ThreadingHTTPServer with ``ssl`` is enough: this is a test fixture with a
dozen fixed routes, and a framework would add a dependency and hide the TLS and socket details
the checks exercise. It binds loopback addresses only.

    python -m upkeep.sandbox.webapp --bind 127.0.0.1 --port 8443 --cert C --key K \\
        [--token-file F] [--db-dsn-file F] [--slow-ms N] [--health-status auto|healthy|degraded] \\
        [--access-log FILE]

Tests use ``start_in_thread(...)``, which returns a handle with ``.port``, ``.url``, ``.state``
(the knobs, changeable while it runs) and ``.stop()``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hmac
import ipaddress
import json
import pathlib
import signal
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO, Optional

from upkeep.sandbox import webapp_content as content

APP_VERSION = "2.4.1"
HEALTH_STATUSES = ("auto", "healthy", "degraded")


@dataclasses.dataclass
class AppState:
    """Knobs the sandbox and tests turn to plant situations; read on every request."""

    token: Optional[str] = None
    db_dsn: Optional[str] = None
    slow_ms: int = 1200
    health_status: str = "auto"  # auto: from the database check; otherwise forced
    email_status: str = "operational"
    app_version: str = APP_VERSION
    started: float = dataclasses.field(default_factory=time.monotonic)
    database: DatabaseProbe = dataclasses.field(default_factory=lambda: DatabaseProbe())


class AccessLog:
    """Combined log format lines, one writer at a time."""

    def __init__(self, stream: IO[str]):
        self._stream = stream
        self._lock = threading.Lock()

    def write(self, client: str, request_line: str, status: int, size: int, referer: str, agent: str) -> None:
        stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())
        line = '%s - - [%s] "%s" %d %s "%s" "%s"\n' % (
            client, stamp, _quote(request_line), status, size if size else "-", _quote(referer or "-"),
            _quote(agent or "-"))
        with self._lock:
            self._stream.write(line)
            self._stream.flush()


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


class DatabaseProbe:
    """The app's database check over one kept connection, as a real app's pool would hold it.

    A fresh connection per request would cost a SCRAM handshake each time and make the health
    endpoint slow under load for reasons no production app has. A broken connection is dropped
    and the next request connects again, so a database that went down and came back is seen."""

    def __init__(self):
        self._lock = threading.Lock()
        self._connection = None
        self._dsn = None

    def status(self, dsn: Optional[str]) -> str:
        """"ok" when ``SELECT 1`` succeeds (connecting within 2 s if needed), else "error"."""
        if not dsn:
            return "ok"  # no database wired in: the app stands alone
        import psycopg  # the sandbox's own dependency; imported late so pages work without it

        with self._lock:
            try:
                if self._connection is None or self._connection.closed or self._dsn != dsn:
                    self._close()
                    self._connection = psycopg.connect(dsn, connect_timeout=2, autocommit=True)
                    self._dsn = dsn
                self._connection.execute("SELECT 1").fetchone()
                return "ok"
            except psycopg.Error:
                self._close()
                return "error"

    def _close(self):
        if self._connection is not None:
            try:
                self._connection.close()
            except Exception:  # closing a broken connection must not fail the request
                pass
        self._connection = None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real app behind a proxy would
    server_version = "upkeep-sandbox"
    sys_version = ""
    timeout = 30  # an idle or stuck client releases its thread
    # Headers and body go out in two writes; with Nagle on, the second waits for a delayed ACK
    # and every response takes ~40 ms more than it should.
    disable_nagle_algorithm = True

    server: "WebAppServer"

    def setup(self) -> None:
        super().setup()
        # The TLS handshake runs here, in the request's own thread, so a client that connects
        # and sends nothing cannot stall the accept loop.
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()

    def log_request(self, code="-", size="-") -> None:
        pass  # replaced by the combined-format line written after each response

    def log_message(self, format, *args) -> None:  # noqa: A002 (the base class's name)
        self.server.error_log.write("webapp: %s\n" % (format % args))

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch(head=True)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(min(length, 1 << 20))
        self._dispatch()

    def _dispatch(self, head: bool = False) -> None:
        state = self.server.state
        path = self.path.split("?", 1)[0]
        status, ctype, body, extra = route(state, self.command, path, self.headers.get("Authorization", ""))
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)
        self.server.access_log.write(self.client_address[0], self.requestline, status, 0 if head else len(body),
                                     self.headers.get("Referer", ""), self.headers.get("User-Agent", ""))


def _json(status: int, document: dict, extra: Optional[dict] = None):
    return status, "application/json", json.dumps(document).encode(), extra or {}


def route(state: AppState, method: str, path: str, authorization: str):
    """(status, content type, body bytes, extra headers) for one request."""
    if path == "/api/health":
        return _health(state)
    if path == "/api/slow":
        time.sleep(state.slow_ms / 1000.0)
        return _json(200, {"status": "ok", "slept_ms": state.slow_ms})
    if path == "/api/error":
        return _json(500, {"error": "Internal Server Error", "message": "relation \"orders\" does not exist"})
    if path == "/api/products":
        return _json(200, {"items": content.product_list(), "count": len(content.PRODUCTS)})
    if path == "/api/leads" and method == "POST":
        return _json(201, {"status": "received"})
    if path.startswith("/whatsapp/v17.0/"):
        return _whatsapp(state, path.rsplit("/", 1)[-1], authorization)
    if path == "/email/status":
        return _json(200, {"status": state.email_status, "components": {"smtp": state.email_status, "api": "operational"}})
    if path in content.REDIRECTS:
        return 301, "text/plain", b"Moved\n", {"Location": content.REDIRECTS[path]}
    if path == "/loop":
        return 302, "text/plain", b"Found\n", {"Location": "/loop"}
    if path in content.IMAGES:
        ctype, data = content.IMAGES[path]
        return 200, ctype, data, {"Cache-Control": "public, max-age=86400"}
    page = content.page(path)
    if page is not None:
        return 200, "text/html; charset=utf-8", page.encode(), {}
    return 404, "text/html; charset=utf-8", content.not_found(path).encode(), {}


def _health(state: AppState):
    database = state.database.status(state.db_dsn)
    if state.health_status == "auto":
        status = "healthy" if database == "ok" else "degraded"
    else:
        status = state.health_status
    document = {
        "status": status,
        "version": state.app_version,
        "uptime_s": round(time.monotonic() - state.started, 3),
        "checks": {"database": database},
    }
    return _json(200 if status == "healthy" else 503, document)


def _whatsapp(state: AppState, phone_number_id: str, authorization: str):
    scheme, _, token = authorization.partition(" ")
    if not state.token or scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), state.token.encode()):
        return _json(401, {"error": {"message": "Invalid OAuth access token.", "type": "OAuthException",
                                     "code": 190, "fbtrace_id": "AsandboxTrace"}},
                     {"WWW-Authenticate": 'Bearer realm="graph"'})
    return _json(200, {
        "verified_name": "Al Mazahir Trading",
        "display_phone_number": "+971 4 555 0100",
        "id": phone_number_id,
        "quality_rating": "GREEN",
        "code_verification_status": "VERIFIED",
        "platform_type": "CLOUD_API",
    })


class WebAppServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    # socketserver's default backlog of 5 drops the SYNs of a burst of concurrent clients, which
    # then retry after a second: a fleet-wide check would measure the kernel's SYN retry timer.
    request_queue_size = 256

    def __init__(self, address, state: AppState, access_log: AccessLog, tls: Optional[ssl.SSLContext],
                 error_log: Optional[IO[str]] = None):
        super().__init__(address, Handler)
        self.state = state
        self.access_log = access_log
        self.error_log = error_log or sys.stderr
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def handle_error(self, request, client_address) -> None:
        # A client that rejects our certificate or hangs up is routine here: one line, no traceback.
        error = sys.exc_info()[1]
        self.error_log.write("webapp: %s: %s: %s\n" % (client_address[0], type(error).__name__, error))


def _check_loopback(bind: str) -> None:
    if bind == "localhost":
        return
    if not ipaddress.ip_address(bind).is_loopback:
        raise ValueError("the sandbox web app binds loopback addresses only, got %r" % bind)


def _tls_context(cert, key) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert), str(key))
    return context


def make_server(bind: str, port: int, cert=None, key=None, state: Optional[AppState] = None,
                access_log: Optional[IO[str]] = None, error_log: Optional[IO[str]] = None) -> WebAppServer:
    """A bound server (HTTPS when ``cert`` and ``key`` are given, plain HTTP otherwise)."""
    _check_loopback(bind)
    tls = _tls_context(cert, key) if cert else None
    family_bind = "127.0.0.1" if bind == "localhost" else bind
    server_class = WebAppServer
    if ":" in family_bind:
        import socket

        server_class = type("WebAppServer6", (WebAppServer,), {"address_family": socket.AF_INET6})
    return server_class((family_bind, port), state or AppState(), AccessLog(access_log or sys.stderr), tls, error_log)


@dataclasses.dataclass
class WebAppHandle:
    server: WebAppServer
    thread: threading.Thread
    scheme: str
    bind: str

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        host = "[%s]" % self.bind if ":" in self.bind else self.bind
        return "%s://%s:%d" % (self.scheme, host, self.port)

    @property
    def state(self) -> AppState:
        return self.server.state

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def start_in_thread(bind: str = "127.0.0.1", port: int = 0, cert=None, key=None, *, token: Optional[str] = None,
                    db_dsn: Optional[str] = None, slow_ms: int = 1200, health_status: str = "auto",
                    access_log: Optional[IO[str]] = None, error_log: Optional[IO[str]] = None) -> WebAppHandle:
    """Serve in a daemon thread (port 0 picks a free port); ``.stop()`` ends it.

    Access lines go to ``access_log``, errors (TLS handshakes clients refused and the like) to
    ``error_log``; both default to stderr."""
    if health_status not in HEALTH_STATUSES:
        raise ValueError("health_status must be one of %s" % ", ".join(HEALTH_STATUSES))
    state = AppState(token=token, db_dsn=db_dsn, slow_ms=slow_ms, health_status=health_status)
    server = make_server(bind, port, cert, key, state, access_log, error_log)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              name="upkeep-webapp", daemon=True)
    thread.start()
    return WebAppHandle(server, thread, "https" if cert else "http", bind)


def _read_secret(path: Optional[str]) -> Optional[str]:
    return pathlib.Path(path).read_text().strip() if path else None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m upkeep.sandbox.webapp", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bind", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8443, help="port; 0 picks a free one (printed on stdout)")
    parser.add_argument("--cert", help="server certificate (PEM); without it the app speaks plain HTTP")
    parser.add_argument("--key", help="the certificate's private key (PEM)")
    parser.add_argument("--token-file", help="file holding the bearer token the WhatsApp imitation accepts")
    parser.add_argument("--db-dsn-file", help="file holding a PostgreSQL DSN /api/health connects to")
    parser.add_argument("--slow-ms", type=int, default=1200, help="how long /api/slow sleeps (default 1200)")
    parser.add_argument("--health-status", choices=HEALTH_STATUSES, default="auto",
                        help="force /api/health's status (default auto: from the database)")
    parser.add_argument("--access-log", help="append combined-format access lines here (default stderr)")
    args = parser.parse_args(argv)
    if bool(args.cert) != bool(args.key):
        parser.error("--cert and --key go together")
    log_stream = open(args.access_log, "a", encoding="utf-8") if args.access_log else sys.stderr
    try:
        handle = start_in_thread(args.bind, args.port, args.cert, args.key, token=_read_secret(args.token_file),
                                 db_dsn=_read_secret(args.db_dsn_file), slow_ms=args.slow_ms,
                                 health_status=args.health_status, access_log=log_stream)
    except (OSError, ValueError, ssl.SSLError) as exc:
        sys.stderr.write("webapp: cannot start: %s\n" % exc)
        return 1
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    sys.stdout.write("webapp listening on %s\n" % handle.url)
    sys.stdout.flush()
    while not stop.wait(0.5):
        pass
    handle.stop()
    if log_stream is not sys.stderr:
        log_stream.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
