"""``upkeep sandbox up|down|status``: the embedded sandbox's lifecycle.

Everything lives in ``<root>/.sandbox/``::

    state.json      what runs: per component its port, pid, log (read by status and down)
    secrets/        0700; db, SMTP, WhatsApp and PostgreSQL superuser secrets, 0600 each
    pki/            the throwaway CA (ca.pem) and the servers' certificate
    pg/             the PostgreSQL cluster (see pgcluster.py)
    logs/           the servers' output and the web app's access log
    inventory.yml   what ``upkeep run`` uses when no -i is given (inventory.py)

The web app and SMTP server are detached processes (own session, output to logs/) recorded by
pid; PostgreSQL is managed through PgCluster, which reattaches from its directory. ``up`` is
idempotent and repairs: it starts only what is not running, keeps ports, secrets, certificates
and the seeded database across restarts, and waits until each component really answers before
it returns. If one fails, ``up`` stops what it started and raises SandboxError naming the
component and its log.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime
import fcntl
import json
import os
import pathlib
import secrets as secrets_lib
import shutil
import time
from typing import Callable

from upkeep.sandbox import inventory, pki, procs, seed
from upkeep.sandbox.pgcluster import PgCluster
from upkeep.sandbox.procs import HOST, READY_TIMEOUT_S, SandboxError, pid_alive

SANDBOX_DIRNAME = ".sandbox"
STATE_VERSION = 1
SLOW_MS = 1200
SMTP_USER = "mailer@almazahir.com"
SECRET_NAMES = ("pg_superuser_password", "db_password", "smtp_password", "whatsapp_token", "db_dsn")
# The order components start in; down stops them in reverse.
COMPONENTS = ("postgres", "smtp", "webapp")
PROCESS_MODULES = {"webapp": "upkeep.sandbox.webapp", "smtp": "upkeep.sandbox.smtpd"}


class Layout:
    """Paths of one sandbox under ``root``."""

    def __init__(self, root: pathlib.Path):
        self.root = pathlib.Path(root).resolve()
        self.dir = self.root / SANDBOX_DIRNAME
        self.state_file = self.dir / "state.json"
        self.lock_file = self.dir / "lock"
        self.secrets = self.dir / "secrets"
        self.pki = self.dir / "pki"
        self.pg = self.dir / "pg"
        self.logs = self.dir / "logs"
        self.inventory = self.dir / "inventory.yml"

    def secret(self, name: str) -> pathlib.Path:
        return self.secrets / name

    def log(self, component: str) -> pathlib.Path:
        return self.logs / ("%s.log" % component)


# The platform's static parts that later issues add (log files, an npm project, backups): name ->
# function(layout, state), run on every ``up`` once the servers answer and before the inventory is
# written. Each must be idempotent and record what it made under state["artifacts"][name], where
# the inventory writer finds it.
PROVISIONERS: dict[str, Callable[[Layout, dict], None]] = {}


# -- small helpers ------------------------------------------------------------------------------

def _now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _read_state(layout: Layout) -> dict:
    try:
        return json.loads(layout.state_file.read_text())
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise SandboxError("%s is not valid JSON (%s); remove %s to start afresh"
                           % (layout.state_file, exc, layout.dir))


def _write_state(layout: Layout, state: dict) -> None:
    tmp = layout.state_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, layout.state_file)


@contextlib.contextmanager
def _locked(layout: Layout):
    """One up/down at a time per sandbox (a second CLI call waits for the first)."""
    layout.dir.mkdir(parents=True, exist_ok=True)
    with open(layout.lock_file, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


# -- preparing secrets, certificates, the database ----------------------------------------------

def _write_secret(layout: Layout, name: str, value: str) -> None:
    path = layout.secret(name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    path.chmod(0o600)  # O_CREAT's mode does not apply to a file that already existed


def _ensure_secrets(layout: Layout) -> dict[str, str]:
    """Generated once per sandbox and kept, so a restart keeps working credentials."""
    layout.secrets.mkdir(mode=0o700, parents=True, exist_ok=True)
    layout.secrets.chmod(0o700)
    values = {}
    for name in SECRET_NAMES:
        path = layout.secret(name)
        if name == "db_dsn":
            continue  # written once PostgreSQL's port is known
        if not path.is_file() or not path.read_text().strip():
            _write_secret(layout, name, secrets_lib.token_urlsafe(24))
        values[name] = path.read_text().strip()
    return values


def _ensure_pki(layout: Layout) -> tuple[pki.CertFiles, pki.CertFiles]:
    """The sandbox CA and a loopback server certificate, reissued when missing or near expiry."""
    from cryptography import x509

    ca = pki.make_ca(layout.pki)
    server = pki.CertFiles(layout.pki / "server.pem", layout.pki / "server.key")
    with contextlib.suppress(OSError, ValueError):  # missing or unreadable: issue a new one
        cert = x509.load_pem_x509_certificate(server.cert.read_bytes())
        remaining = cert.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc)
        if server.key.is_file() and remaining > datetime.timedelta(days=14):
            return ca, server
    return ca, pki.issue_cert(ca, layout.pki, "server", days=90)


def _start_postgres(layout: Layout, state: dict, secret_values: dict, timeout_s: float) -> bool:
    """Init (first time), start, create the app role and database, seed; True if we started it."""
    import psycopg

    comp = state["components"]["postgres"]
    cluster = PgCluster(layout.pg)
    pending_data = None
    if not comp.get("seeded"):
        # Generating the rows is pure Python and initdb a subprocess: overlap them.
        executor = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        pending_data = executor.submit(seed.generate)
        executor.shutdown(wait=False)  # the submitted generation still runs to completion
    if not cluster.initialized:
        cluster.init(secret_values["pg_superuser_password"])
    started = not cluster.running
    if started:
        cluster.start(timeout_s=int(timeout_s))
    comp.update(host=cluster.host, port=cluster.port, database=seed.APP_DATABASE, user=seed.APP_ROLE,
                log=str(cluster.log_file))
    _write_state(layout, state)
    password = secret_values["db_password"]
    cluster.create_role_and_db(seed.APP_ROLE, password, seed.APP_DATABASE)
    dsn = cluster.dsn(seed.APP_DATABASE, seed.APP_ROLE, password)
    _write_secret(layout, "db_dsn", dsn)
    procs.wait_ready("postgres", lambda: procs.probe_pg(dsn), cluster.log_file, timeout_s=timeout_s)
    if pending_data is not None:
        with psycopg.connect(dsn) as app_conn:
            comp["row_counts"] = seed.seed_database(app_conn, data=pending_data.result())
        with cluster.connect(seed.APP_DATABASE) as admin_conn, psycopg.connect(dsn, autocommit=True) as app_conn:
            comp["planted"] = seed.plant_problems(admin_conn, app_conn)
        comp["seeded"] = True
    return started


def _process_args(layout: Layout, state: dict, name: str, port: int) -> list[str]:
    tls = ["--cert", state["server_cert"], "--key", state["server_key"]]
    if name == "webapp":
        return ["--bind", HOST, "--port", str(port), *tls, "--token-file", str(layout.secret("whatsapp_token")),
                "--db-dsn-file", str(layout.secret("db_dsn")), "--slow-ms", str(SLOW_MS),
                "--access-log", str(layout.logs / "access.log")]
    return ["--bind", HOST, "--port", str(port), *tls, "--user", SMTP_USER,
            "--password-file", str(layout.secret("smtp_password")), "--require-starttls"]


def _start_process(layout: Layout, state: dict, name: str, timeout_s: float) -> bool:
    """Start ``name`` unless it already runs and listens against the current database; True if started."""
    comp = state["components"][name]
    marker = PROCESS_MODULES[name]
    pg_port = state["components"]["postgres"].get("port")
    if pid_alive(comp.get("pid"), marker):
        if procs.port_bound(comp.get("port")) and comp.get("db_port") == pg_port:
            return False
        procs.terminate(comp["pid"], marker)  # alive but deaf, or wired to a database that moved
    port = comp.get("port") if procs.port_free(comp.get("port")) else procs.free_port()
    pid = procs.spawn(marker, _process_args(layout, state, name, port), layout.log(name), layout.dir)
    comp.update(pid=pid, port=port, host=HOST, log=str(layout.log(name)), db_port=pg_port, started_at=_now_iso())
    if name == "webapp":
        comp.update(url="https://%s:%d" % (HOST, port), slow_ms=SLOW_MS, access_log=str(layout.logs / "access.log"))
        probe = lambda: procs.probe_https(comp["url"], state["ca_file"])  # noqa: E731
    else:
        comp.update(username=SMTP_USER)
        probe = lambda: procs.probe_smtp(port, state["ca_file"])  # noqa: E731
    _write_state(layout, state)  # recorded before waiting, so down can stop it whatever happens
    procs.wait_ready(name, probe, layout.log(name), pid=pid, marker=marker, timeout_s=timeout_s)
    return True


# -- the public API -----------------------------------------------------------------------------

def up(root: pathlib.Path, timeout_s: float = READY_TIMEOUT_S) -> dict:
    """Bring the sandbox up under ``root`` (or report it when it already runs); see status()."""
    from upkeep.sandbox import extensions  # noqa: PLC0415 (they import this module)

    extensions.load()
    began = time.monotonic()
    layout = Layout(root)
    with _locked(layout):
        state = _read_state(layout)
        if state and _status(layout, state)["running"]:
            return dict(_status(layout, state), action="already_running", started=[])
        for directory in (layout.pki, layout.pg, layout.logs):
            directory.mkdir(parents=True, exist_ok=True)
        state.update(version=STATE_VERSION, root=str(layout.root), sandbox_dir=str(layout.dir))
        state.setdefault("components", {})
        for name in COMPONENTS:
            state["components"].setdefault(name, {})
        # On failure, stop exactly what this call started: whatever was not running before it.
        already = {name for name, comp in _status(layout, state)["components"].items() if comp["running"]}
        ports_before = {name: comp.get("port") for name, comp in state["components"].items() if comp.get("port")}
        started: list[str] = []
        current = "secrets"
        try:
            secret_values = _ensure_secrets(layout)
            state["secrets"] = {name: str(layout.secret(name)) for name in SECRET_NAMES}
            current = "pki"
            ca, server = _ensure_pki(layout)
            state.update(ca_file=str(ca.cert), server_cert=str(server.cert), server_key=str(server.key))
            for current in COMPONENTS:
                if current == "postgres":
                    was_started = _start_postgres(layout, state, secret_values, timeout_s)
                else:
                    was_started = _start_process(layout, state, current, timeout_s)
                if was_started:
                    started.append(current)
                _write_state(layout, state)
            for current, provision in PROVISIONERS.items():
                provision(layout, state)
                _write_state(layout, state)
            current = "inventory"
            state["inventory"] = str(inventory.write_inventory(layout.inventory, state))
            state["up_at"] = _now_iso()
            _write_state(layout, state)
        except BaseException as exc:
            _stop(layout, state, only=[name for name in COMPONENTS if name not in already])
            _write_state(layout, state)
            if isinstance(exc, SandboxError) or not isinstance(exc, Exception):
                raise
            log = state["components"].get(current, {}).get("log")
            raise SandboxError("sandbox %s failed to start: %s%s" % (current, exc, "; see %s" % log if log else ""),
                               current, log) from exc
        result = _status(layout, state)
    # A component keeps its port across restarts; one that had to move (something else took the
    # port meanwhile) is said, since copies of the inventory still name the old port.
    moved = [{"component": name, "from": port, "to": state["components"][name].get("port")}
             for name, port in ports_before.items() if state["components"][name].get("port") not in (None, port)]
    return dict(result, action="started", started=started, moved=moved,
                duration_s=round(time.monotonic() - began, 2))


def down(root: pathlib.Path, purge: bool = False) -> dict:
    """Stop everything the sandbox under ``root`` runs (safe when nothing runs); ``purge`` also
    deletes ``.sandbox/`` (database, secrets, certificates, logs)."""
    layout = Layout(root)
    if not layout.dir.is_dir():
        return {"root": str(layout.root), "sandbox_dir": str(layout.dir), "action": "down", "stopped": [],
                "running": False, "components": {}, "purged": False}
    with _locked(layout):
        state = _read_state(layout)
        stopped = _stop(layout, state)
        if state:
            _write_state(layout, state)
        result = dict(_status(layout, state), action="down", stopped=stopped, purged=False)
        if purge:
            if (layout.pg / "data" / "PG_VERSION").is_file():
                PgCluster(layout.pg).destroy()  # also removes a socket dir kept outside .sandbox
            shutil.rmtree(layout.dir)
            result["purged"] = True
    return result


def status(root: pathlib.Path) -> dict:
    """Each component's state: ``{running, components: {name: {running, pid, port, ...}}, ...}``."""
    layout = Layout(root)
    return _status(layout, _read_state(layout))


def _stop(layout: Layout, state: dict, only: list[str] | None = None) -> list[str]:
    stopped = []
    components = state.get("components", {})
    for name in reversed(COMPONENTS):
        if only is not None and name not in only:
            continue
        if name == "postgres":
            if (layout.pg / "data" / "PG_VERSION").is_file():
                cluster = PgCluster(layout.pg)
                if cluster.running:
                    cluster.stop()
                    stopped.append(name)
            continue
        comp = components.get(name, {})
        if pid_alive(comp.get("pid"), PROCESS_MODULES[name]):
            procs.terminate(comp["pid"], PROCESS_MODULES[name])
            stopped.append(name)
        comp.pop("pid", None)
    return stopped


def _postmaster_pid(cluster: PgCluster) -> int | None:
    try:
        return int((cluster.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None


def _status(layout: Layout, state: dict) -> dict:
    recorded = state.get("components", {})
    components = {}
    for name in COMPONENTS:
        comp = recorded.get(name, {})
        info = {"running": False, "pid": None, "host": comp.get("host", HOST), "port": comp.get("port"),
                "log": comp.get("log")}
        if name == "postgres":
            if (layout.pg / "data" / "PG_VERSION").is_file():
                cluster = PgCluster(layout.pg)
                info.update(running=cluster.running, port=cluster.port, log=str(cluster.log_file))
                info["pid"] = _postmaster_pid(cluster) if info["running"] else None
            info.update(database=comp.get("database"), user=comp.get("user"))
        else:
            pid = comp.get("pid")
            alive = pid_alive(pid, PROCESS_MODULES[name])
            info.update(running=alive and procs.port_bound(comp.get("port")), pid=pid if alive else None)
            if pid and not alive:
                info["stale_pid"] = pid
            elif alive and not info["running"]:
                info["note"] = "process %d runs but does not accept connections" % pid
            if comp.get("url"):
                info["url"] = comp["url"]
        components[name] = info
    return {"root": str(layout.root), "sandbox_dir": str(layout.dir),
            "running": bool(state) and all(c["running"] for c in components.values()),
            "components": components,
            "inventory": str(layout.inventory) if layout.inventory.is_file() else None,
            "ca_file": state.get("ca_file")}


def status_lines(result: dict) -> list[str]:
    """Printable lines for any of up()/down()/status()'s results."""
    components = result.get("components", {})
    running = sum(1 for c in components.values() if c["running"])
    action = result.get("action")
    if action == "already_running":
        head = "sandbox already running in %s" % result["sandbox_dir"]
    elif action == "started":
        head = "sandbox up in %s (%.1f s; started: %s)" % (
            result["sandbox_dir"], result.get("duration_s", 0.0), ", ".join(result.get("started")) or "nothing")
    elif action == "down":
        head = "sandbox down in %s (stopped: %s)%s" % (
            result["sandbox_dir"], ", ".join(result.get("stopped")) or "nothing was running",
            "; .sandbox deleted" if result.get("purged") else "")
    else:
        head = "sandbox in %s: %s (%d of %d components running)" % (
            result["sandbox_dir"], "running" if result.get("running") else "not running", running, len(components))
    lines = [head]
    for move in result.get("moved") or []:
        lines.append("  note: %s moved from port %s to %s (the old port was taken); %s was rewritten, update any copy "
                     "of it" % (move["component"], move["from"], move["to"], result.get("inventory") or "the inventory"))
    if result.get("purged"):
        return lines
    for name, comp in components.items():
        where = "%s:%s" % (comp.get("host") or HOST, comp["port"]) if comp.get("port") else "-"
        detail = comp.get("url") or ("database %s as %s" % (comp["database"], comp["user"])
                                     if comp.get("database") else "")
        if comp.get("stale_pid"):
            detail = "stale pid %d (process gone)" % comp["stale_pid"]
        if comp.get("note"):
            detail = comp["note"]
        pid = "pid %d" % comp["pid"] if comp.get("pid") else "-"
        lines.append("  %-9s %-8s %-16s %-10s %s" % (name, "running" if comp["running"] else "stopped", where, pid,
                                                     detail))
    if result.get("inventory") and result.get("running"):
        lines.append("inventory: %s" % result["inventory"])
        lines.append("CA certificate: %s" % result["ca_file"])
    for name, comp in components.items():
        if not comp["running"] and comp.get("log") and action == "started":
            lines.append("%s log: %s" % (name, comp["log"]))
    return lines
