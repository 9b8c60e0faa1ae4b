"""A throwaway PostgreSQL cluster for the sandbox and the tests, made from the machine's binaries.

``PgCluster(base_dir)`` owns one directory::

    base_dir/cluster.json   port, binaries, socket dir (no password: reattach needs none)
    base_dir/data/          the data directory (initdb)
    base_dir/run/           the unix socket directory (mode 0700, so only the cluster user and root
                            reach the socket that trusts local connections)
    base_dir/server.log     the server log

TCP on 127.0.0.1 asks for a SCRAM password; the superuser's socket connection is trusted, so a
process that reattaches later (``upkeep sandbox down`` after ``up``) can manage the cluster
without anyone writing the password to disk.

PostgreSQL refuses to run as root: when this process is root every PostgreSQL binary runs as the
unprivileged ``postgres`` user, which is given the base directory.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pathlib
import pwd
import re
import shutil
import socket
import stat
import subprocess
import tempfile

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

SUPERUSER = "postgres"
RUN_AS_WHEN_ROOT = "postgres"
STATE_FILE = "cluster.json"
HOST = "127.0.0.1"
# A unix socket path is limited to 107 bytes; ".s.PGSQL.65535" needs 15 of them.
_MAX_SOCKET_DIR = 90
_COMMAND_TIMEOUT_S = 120

# Throwaway cluster: durability buys nothing and costs test time. Later issues (pg health, review)
# rely on pg_stat_statements being preloaded.
DEFAULT_SETTINGS = {
    "listen_addresses": HOST,
    "shared_preload_libraries": "pg_stat_statements",
    "password_encryption": "scram-sha-256",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": 200,
    "log_min_messages": "warning",
    "log_line_prefix": "%m [%p] %q%u@%d ",
}


class PgClusterError(RuntimeError):
    """A PostgreSQL command failed; the message carries its output and the log's tail."""


def find_bindir() -> pathlib.Path:
    """The newest PostgreSQL server binaries: $UPKEEP_PG_BINDIR, ``pg_config --bindir`` when it
    holds initdb, else the newest /usr/lib/postgresql/*/bin."""
    override = os.environ.get("UPKEEP_PG_BINDIR")
    if override:
        missing = [name for name in ("initdb", "pg_ctl") if not (pathlib.Path(override) / name).is_file()]
        if missing:
            raise PgClusterError("UPKEEP_PG_BINDIR=%s holds no %s: point it at a PostgreSQL server's bin directory "
                                 "(Debian/Ubuntu: /usr/lib/postgresql/<version>/bin, from the package "
                                 "postgresql)" % (override, " or ".join(missing)))
        return pathlib.Path(override)
    candidates = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True)
            candidates.append(pathlib.Path(out.stdout.strip()))

    def version(path):
        match = re.search(r"/postgresql/(\d+)(?:\.(\d+))?/bin$", path)
        return (int(match.group(1)), int(match.group(2) or 0)) if match else (0, 0)

    candidates += [pathlib.Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)]
    for path in candidates:
        if (path / "initdb").is_file() and (path / "pg_ctl").is_file():
            return path
    raise PgClusterError("no PostgreSQL server binaries (initdb, pg_ctl) found: tried pg_config --bindir and "
                         "/usr/lib/postgresql/*/bin. Install them (Debian/Ubuntu: apt-get install postgresql; "
                         "Fedora/RHEL: dnf install postgresql-server) or set UPKEEP_PG_BINDIR to their directory")


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _port_in_use(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the servers bind (SO_REUSEADDR): a port whose last connections still sit in TIME_WAIT
        # after a crash is free for them, and moving would break copies of the inventory.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def _conf_value(value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (int, float)):
        return str(value)
    return "'%s'" % str(value).replace("'", "''")


class PgCluster:
    """One throwaway cluster in ``base_dir``; ``PgCluster(base_dir)`` reattaches to an existing one."""

    def __init__(self, base_dir: pathlib.Path, port: int | None = None, bindir: pathlib.Path | None = None):
        self.base_dir = pathlib.Path(base_dir).resolve()
        self.data_dir = self.base_dir / "data"
        self.log_file = self.base_dir / "server.log"
        self.host = HOST
        self.superuser = SUPERUSER
        self._superuser_password: str | None = None
        state = self._read_state()
        self._port = port or state.get("port")
        self.bindir = pathlib.Path(bindir or state.get("bindir") or find_bindir())
        self.socket_dir = pathlib.Path(state.get("socket_dir") or self._choose_socket_dir())
        self._os_user = self._run_as_user()

    # -- state --------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            self._port = free_port()
        return self._port

    @property
    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").is_file()

    @property
    def running(self) -> bool:
        if not self.initialized:
            return False
        result = self._pg(["pg_ctl", "status", "-D", str(self.data_dir)], check=False)
        return result.returncode == 0

    def _read_state(self) -> dict:
        try:
            return json.loads((self.base_dir / STATE_FILE).read_text())
        except (OSError, ValueError):
            return {}

    def _write_state(self) -> None:
        state = {"port": self.port, "host": self.host, "bindir": str(self.bindir), "socket_dir": str(self.socket_dir),
                 "superuser": self.superuser, "data_dir": str(self.data_dir), "log_file": str(self.log_file)}
        (self.base_dir / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")

    def _choose_socket_dir(self) -> pathlib.Path:
        preferred = self.base_dir / "run"
        if len(str(preferred)) <= _MAX_SOCKET_DIR:
            return preferred
        # A deep base dir (CI clones) would overflow the socket path: use a short private dir.
        return pathlib.Path(tempfile.mkdtemp(prefix="upkeep-pg-"))

    # -- running binaries as the right user ---------------------------------------------------

    @staticmethod
    def _run_as_user():
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam(RUN_AS_WHEN_ROOT)
        except KeyError:
            raise PgClusterError("running as root but there is no %r user to run PostgreSQL as; create one "
                                 "(useradd --system %s) or run upkeep as an unprivileged user"
                                 % (RUN_AS_WHEN_ROOT, RUN_AS_WHEN_ROOT)) from None

    def _pg(self, argv, check=True, timeout=_COMMAND_TIMEOUT_S, new_session=False) -> subprocess.CompletedProcess:
        argv = [str(self.bindir / argv[0])] + [str(a) for a in argv[1:]]
        kwargs = {}
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C.UTF-8"
        if self._os_user is not None:
            kwargs.update(user=self._os_user.pw_uid, group=self._os_user.pw_gid, extra_groups=[])
            env.update(HOME=self._os_user.pw_dir, USER=self._os_user.pw_name, LOGNAME=self._os_user.pw_name)
        # The cluster user may not be able to enter the caller's working directory.
        cwd = self.base_dir if self.base_dir.is_dir() else "/"
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd,
                                stdin=subprocess.DEVNULL, start_new_session=new_session, **kwargs)
        if check and result.returncode != 0:
            raise PgClusterError("%s failed (exit %d): %s%s" % (
                " ".join(argv[:2]), result.returncode, (result.stderr or result.stdout).strip(), self._log_tail()))
        return result

    def _log_tail(self, lines: int = 15) -> str:
        try:
            tail = self.log_file.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return "\n--- %s (tail) ---\n%s" % (self.log_file, "\n".join(tail)) if tail else ""

    def _give_to_cluster_user(self, path: pathlib.Path, mode: int) -> None:
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(mode)
        if self._os_user is not None:
            os.chown(path, self._os_user.pw_uid, self._os_user.pw_gid)

    def _make_ancestors_traversable(self, path: pathlib.Path) -> None:
        """Let the cluster user walk down to ``path`` (pytest's tmp dirs are 0700 root):
        add only the search bit for others, never read or write."""
        if self._os_user is None:
            return
        for parent in reversed(path.parents):
            mode = parent.stat().st_mode
            if not mode & stat.S_IXOTH:
                parent.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)

    # -- lifecycle ----------------------------------------------------------------------------

    def init(self, superuser_password: str, settings: dict | None = None) -> "PgCluster":
        """Create the cluster (initdb) with ``superuser_password`` for TCP logins. ``settings`` are
        extra postgresql.conf values over DEFAULT_SETTINGS. Initialising twice is an error."""
        if self.initialized:
            raise PgClusterError("%s already holds a cluster; reattach with PgCluster(base_dir)" % self.data_dir)
        self._superuser_password = superuser_password
        self._give_to_cluster_user(self.base_dir, 0o755)
        self._make_ancestors_traversable(self.base_dir)
        self._give_to_cluster_user(self.socket_dir, 0o700)
        self._make_ancestors_traversable(self.socket_dir)
        # The password reaches initdb through a file only the cluster user can read, removed at once.
        pwfile = self.base_dir / ".initdb-pw"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(superuser_password + "\n")
        if self._os_user is not None:
            os.chown(pwfile, self._os_user.pw_uid, self._os_user.pw_gid)
        try:
            self._pg(["initdb", "-D", self.data_dir, "-U", self.superuser, "--pwfile", pwfile,
                      "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8",
                      "--no-instructions", "--no-sync"])
        finally:
            pwfile.unlink(missing_ok=True)
        # Log file created now so the root caller can read it even though the server writes it.
        self.log_file.touch()
        if self._os_user is not None:
            os.chown(self.log_file, self._os_user.pw_uid, self._os_user.pw_gid)
        self._write_conf(dict(DEFAULT_SETTINGS, **(settings or {})))
        self._write_state()
        return self

    def _write_conf(self, settings: dict) -> None:
        values = dict(settings, port=self.port, unix_socket_directories=str(self.socket_dir))
        lines = ["", "# upkeep throwaway cluster (appended by upkeep.sandbox.pgcluster)"]
        lines += ["%s = %s" % (key, _conf_value(value)) for key, value in values.items()]
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write("\n".join(lines) + "\n")

    def start(self, timeout_s: int = 60) -> "PgCluster":
        """Start the server (waits until it accepts connections). Starting a running cluster is a no-op.
        If the recorded port was taken meanwhile, the cluster moves to a free one (see ``port``)."""
        if not self.initialized:
            raise PgClusterError("%s holds no cluster: call init() first" % self.data_dir)
        if self.running:
            return self
        if _port_in_use(self.port):
            self._port = free_port()
            self._write_conf({})
            self._write_state()
        if not self.socket_dir.is_dir():
            self._give_to_cluster_user(self.socket_dir, 0o700)
        # Own session: a Ctrl-C aimed at the caller's terminal must not reach the postmaster.
        self._pg(["pg_ctl", "start", "-w", "-t", timeout_s, "-D", self.data_dir, "-l", self.log_file],
                 timeout=timeout_s + 30, new_session=True)
        return self

    def stop(self, timeout_s: int = 60) -> None:
        """Fast shutdown (waits); immediate if that does not finish. A stopped cluster is left alone."""
        if not self.running:
            return
        result = self._pg(["pg_ctl", "stop", "-w", "-t", timeout_s, "-m", "fast", "-D", self.data_dir],
                          check=False, timeout=timeout_s + 30)
        if result.returncode != 0 and self.running:
            self._pg(["pg_ctl", "stop", "-w", "-t", timeout_s, "-m", "immediate", "-D", self.data_dir],
                     timeout=timeout_s + 30)

    def destroy(self) -> None:
        """Stop the server and delete everything it owned."""
        self.stop()
        if self.socket_dir != self.base_dir / "run":
            shutil.rmtree(self.socket_dir, ignore_errors=True)
        shutil.rmtree(self.base_dir, ignore_errors=True)

    # -- connecting ---------------------------------------------------------------------------

    def dsn(self, dbname: str = "postgres", user: str | None = None, password: str | None = None) -> str:
        """A libpq keyword/value connection string for TCP on 127.0.0.1. Without ``user`` it is the
        superuser, with the superuser password this process passed to init() (if any)."""
        if user is None:
            user = self.superuser
            password = password if password is not None else self._superuser_password
        params = {"host": self.host, "port": self.port, "dbname": dbname, "user": user}
        if password is not None:
            params["password"] = password
        return make_conninfo(**params)

    def connect(self, dbname: str = "postgres", autocommit: bool = True, **kwargs) -> psycopg.Connection:
        """A superuser connection over the trusted unix socket (works after reattaching too)."""
        return psycopg.connect(host=str(self.socket_dir), port=self.port, dbname=dbname, user=self.superuser,
                               autocommit=autocommit, connect_timeout=10, application_name="upkeep-sandbox",
                               **kwargs)

    def create_role_and_db(self, role: str, password: str, dbname: str, superuser: bool = False) -> None:
        """Create (or update) a login role with ``password`` and a database it owns. Idempotent."""
        with self.connect() as conn:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone()
            verb = sql.SQL("ALTER ROLE" if exists else "CREATE ROLE")
            # Utility statements take no bind parameters, and the cluster preloads pg_stat_statements,
            # which keeps statement texts: send the SCRAM verifier (as psql's \password does), never
            # the password itself.
            verifier = conn.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256").decode()
            conn.execute(sql.SQL("{} {} WITH LOGIN {} PASSWORD {}").format(
                verb, sql.Identifier(role), sql.SQL("SUPERUSER" if superuser else "NOSUPERUSER"), sql.Literal(verifier)))
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname]).fetchone():
                conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(dbname), sql.Identifier(role)))

    def __repr__(self) -> str:
        return "PgCluster(%r, port=%r)" % (str(self.base_dir), self._port)
