"""A loopback SMTP server for the sandbox and the tests (aiosmtpd).

It offers STARTTLS (or implicit TLS), accepts AUTH PLAIN/LOGIN for one user, advertises AUTH only
once the session is encrypted unless told otherwise, and counts the messages it is given without
delivering them anywhere.

    python -m upkeep.sandbox.smtpd --bind 127.0.0.1 --port P --cert C --key K \
        --user U --password-file F [--require-starttls]

runs until SIGTERM or SIGINT and exits 0. In-process: ``start_in_thread(...)`` returns a handle
with ``.port``, ``.host``, ``.stats`` and ``.stop()``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hmac
import logging
import pathlib
import signal
import socket
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

AUTH_MECHANISMS = ("PLAIN", "LOGIN")


class _DropLoginDataNotice(logging.Filter):
    """aiosmtpd 1.4 logs its own deprecation notice on every successful AUTH."""

    def filter(self, record):
        return "login_data is deprecated" not in record.getMessage()


logging.getLogger("mail.log").addFilter(_DropLoginDataNotice())
_READY_TIMEOUT_S = 10.0


@dataclasses.dataclass
class Stats:
    """What the server saw; tests read it to prove what a client did or did not send."""

    auth_attempts: int = 0
    auth_failures: int = 0
    auth_successes: int = 0
    messages: int = 0
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False, compare=False)

    def bump(self, name: str) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)


class _Handler:
    """Accepts every message and drops it: the sandbox must never relay mail."""

    def __init__(self, stats: Stats):
        self.stats = stats

    async def handle_DATA(self, server, session, envelope):
        self.stats.bump("messages")
        return "250 Message accepted (discarded by the upkeep sandbox)"


class _Authenticator:
    def __init__(self, user: str, password: str, stats: Stats):
        self._user = user.encode()
        self._password = password.encode()
        self.stats = stats

    def __call__(self, server, session, envelope, mechanism, auth_data):
        self.stats.bump("auth_attempts")
        ok = (isinstance(auth_data, LoginPassword) and mechanism in AUTH_MECHANISMS
              and hmac.compare_digest(auth_data.login, self._user)
              and hmac.compare_digest(auth_data.password, self._password))
        self.stats.bump("auth_successes" if ok else "auth_failures")
        return AuthResult(success=ok, handled=False)


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _tls_context(cert, key) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    return context


@dataclasses.dataclass
class SmtpServerHandle:
    host: str
    port: int
    stats: Stats
    _controller: Controller

    def stop(self) -> None:
        """Stop listening and end the server thread (idempotent)."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


def start_in_thread(host: str = "127.0.0.1", port: int = 0, cert: pathlib.Path | None = None,
                    key: pathlib.Path | None = None, user: str | None = None, password: str | None = None,
                    require_starttls: bool = False, implicit_tls: bool = False,
                    allow_plaintext_auth: bool = False, banner_hostname: str = "smtp.upkeep.test") -> SmtpServerHandle:
    """Start a server on a background thread and return once it answers.

    - ``cert``/``key``: STARTTLS is offered (or, with ``implicit_tls``, TLS from the first byte).
      Without them the server speaks plain SMTP only.
    - ``user``/``password``: AUTH PLAIN and LOGIN for that account; AUTH is advertised only after
      STARTTLS unless ``allow_plaintext_auth`` (a deliberately unsafe server, for tests of clients).
    - ``require_starttls``: every command but EHLO/HELO/NOOP/QUIT/STARTTLS is refused before TLS.
    - ``port`` 0 picks a free port (``handle.port``).
    """
    if (cert is None) != (key is None):
        raise ValueError("give both cert and key, or neither")
    if (user is None) != (password is None):
        raise ValueError("give both user and password, or neither")
    if (require_starttls or implicit_tls) and cert is None:
        raise ValueError("require_starttls and implicit_tls need cert and key")
    stats = Stats()
    context = _tls_context(cert, key) if cert is not None else None
    kwargs = {
        "hostname": host,
        "port": port or _free_port(host),
        "server_hostname": banner_hostname,
        "ident": "upkeep sandbox ESMTP",
        "require_starttls": bool(require_starttls and not implicit_tls),
        # Implicit TLS is invisible to aiosmtpd's STARTTLS bookkeeping: AUTH must not wait for STARTTLS there.
        "auth_require_tls": not (allow_plaintext_auth or implicit_tls),
        "ready_timeout": _READY_TIMEOUT_S,
        "data_size_limit": 10 * 1024 * 1024,
        "timeout": 60,
    }
    if implicit_tls:
        kwargs["ssl_context"] = context
    elif context is not None:
        kwargs["tls_context"] = context
    # Without an account every AUTH fails (aiosmtpd's default), as on a server that has no such user.
    if user is not None:
        kwargs["authenticator"] = _Authenticator(user, password, stats)
    controller = Controller(_Handler(stats), **kwargs)
    controller.start()
    return SmtpServerHandle(host, controller.port, stats, controller)


def _parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m upkeep.sandbox.smtpd", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bind", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (0 picks a free one, printed at start)")
    parser.add_argument("--cert", type=pathlib.Path, help="server certificate (PEM) for STARTTLS")
    parser.add_argument("--key", type=pathlib.Path, help="private key (PEM) of --cert")
    parser.add_argument("--user", help="the account AUTH accepts")
    parser.add_argument("--password-file", type=pathlib.Path,
                        help="file holding the account's password (first line); never on the command line")
    parser.add_argument("--require-starttls", action="store_true", help="refuse mail commands before STARTTLS")
    parser.add_argument("--implicit-tls", action="store_true", help="TLS from the first byte (SMTPS) instead of STARTTLS")
    args = parser.parse_args(argv)
    if (args.user is None) != (args.password_file is None):
        parser.error("--user and --password-file go together")
    if (args.cert is None) != (args.key is None):
        parser.error("--cert and --key go together")
    if (args.require_starttls or args.implicit_tls) and args.cert is None:
        parser.error("--require-starttls and --implicit-tls need --cert and --key")
    return args


def main(argv=None) -> int:
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s smtpd %(levelname)s %(message)s")
    password = None
    if args.password_file is not None:
        try:
            password = args.password_file.read_text().splitlines()[0]
        except (OSError, IndexError) as exc:
            print("cannot read --password-file %s: %s" % (args.password_file, exc), file=sys.stderr)
            return 2
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    handle = start_in_thread(args.bind, args.port, args.cert, args.key, args.user, password,
                             require_starttls=args.require_starttls, implicit_tls=args.implicit_tls)
    print("upkeep smtpd listening on %s:%d" % (handle.host, handle.port), flush=True)
    try:
        stopping.wait()
    finally:
        handle.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
