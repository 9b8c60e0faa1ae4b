# -*- coding: utf-8 -*-
"""The PostgreSQL connection layer every upkeep pg module shares.

- ``pg_connection_spec()``: the connection options of one database, for an argument spec (top
  level and as the suboptions of a ``databases`` list); ``password`` and ``dsn`` are no_log.
- ``fleet_targets()``: the databases of a module call, top-level options filled in as defaults.
- ``connection_kwargs()`` / ``libpq_env()``: validated psycopg keyword arguments, or PG* variables
  for pg_dump and friends (secrets through the environment, never argv).
- ``connect()``: a psycopg connection with a statement_timeout (and optionally read-only), whose
  failures become ``PgConnectError`` with a reason a person understands and a remediation.
- ``connect_failure_check()``: the critical check a failed connection turns into.
- ``client_deadline()``: a client-side deadline for a query, for servers that stop answering
  after login (statement_timeout and connect_timeout do not cover that).

libpq keeps its own defaults: whatever is not given comes from PGHOST, PGUSER, PGPASSFILE,
~/.pgpass and the rest, exactly as for psql.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import socket
import stat
import threading

from .result import CRITICAL, ParameterError, check, finding

try:
    import psycopg
    from psycopg import conninfo as _conninfo

    HAS_PSYCOPG = True
    PSYCOPG_IMPORT_ERROR = None
except ImportError as exc:  # the module reports it with missing_required_lib
    psycopg = None
    _conninfo = None
    HAS_PSYCOPG = False
    PSYCOPG_IMPORT_ERROR = exc

SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
DEFAULT_APPLICATION_NAME = "upkeep"
DEFAULT_CONNECT_TIMEOUT_S = 5
DEFAULT_STATEMENT_TIMEOUT_MS = 5000
DEFAULT_MAX_WORKERS = 16
MASK = "********"

# Option name -> libpq keyword. Only options that were given reach libpq, so its environment
# defaults (PGHOST, PGPASSFILE, ~/.pgpass ...) keep working.
_LIBPQ_KEYWORDS = {
    "host": "host",
    "port": "port",
    "user": "user",
    "password": "password",
    "database": "dbname",
    "sslmode": "sslmode",
    "sslrootcert": "sslrootcert",
    "connect_timeout_s": "connect_timeout",
    "passfile": "passfile",
    "application_name": "application_name",
}
_LIBPQ_ENV = {
    "host": "PGHOST", "port": "PGPORT", "user": "PGUSER", "password": "PGPASSWORD", "dbname": "PGDATABASE",
    "sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT", "connect_timeout": "PGCONNECT_TIMEOUT",
    "passfile": "PGPASSFILE", "application_name": "PGAPPNAME", "options": "PGOPTIONS",
}


def pg_connection_spec():
    """Connection options of one database (argument-spec form). No defaults here on purpose: an
    item's unset option falls back to the module's top-level value, then to libpq's own default."""
    return dict(
        name=dict(type="str"),
        dsn=dict(type="str", no_log=True),
        host=dict(type="str"),
        port=dict(type="int"),
        user=dict(type="str"),
        password=dict(type="str", no_log=True),
        database=dict(type="str"),
        sslmode=dict(type="str", choices=list(SSLMODES)),
        sslrootcert=dict(type="path"),
        connect_timeout_s=dict(type="int"),
        passfile=dict(type="path", no_log=False),
        application_name=dict(type="str"),
    )


CONNECTION_OPTIONS = tuple(pg_connection_spec())


def fleet_targets(params, list_key="databases", item_keys=()):
    """The databases one module call looks at, each a dict of connection options plus
    ``item_keys`` (per-item thresholds and the like) plus ``inventory_host`` and ``where`` (the
    parameter path used in error messages).

    With ``params[list_key]`` absent the top-level connection options describe one database;
    otherwise every item inherits each top-level value it does not set itself.
    """
    keys = tuple(CONNECTION_OPTIONS) + tuple(item_keys)
    defaults = {key: params.get(key) for key in keys}
    items = params.get(list_key)
    if items is None:
        target = dict(defaults, inventory_host=None, where="")
        return [target]
    targets = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise ParameterError("%s[%d]: must be a dict of connection options, got %r" % (list_key, index, type(item).__name__))
        merged = {key: item.get(key) if item.get(key) is not None else defaults.get(key) for key in keys}
        merged["name"] = item.get("name")  # a label names one database: never inherited
        merged["inventory_host"] = item.get("inventory_host")
        merged["where"] = "%s[%d]." % (list_key, index)
        targets.append(merged)
    return targets


def _parse_dsn(dsn, where):
    try:
        return _conninfo.conninfo_to_dict(dsn)
    except Exception as exc:
        # libpq's message quotes the piece it choked on, which may be the password: keep its words only.
        reason = re.sub(r'"[^"]*"', '"..."', " ".join(str(exc).split()))
        raise ParameterError("%sdsn: not a valid connection string or URI (%s)" % (where, redact(reason, [dsn])))


def _validate_port(value, name):
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise ParameterError("%s: must be a port number 1-65535, got %r" % (name, value))
    if not 1 <= port <= 65535:
        raise ParameterError("%s: must be a port number 1-65535, got %d" % (name, port))
    return port


def _validate_passfile(path, name):
    try:
        info = os.stat(path)
    except OSError as exc:
        raise ParameterError("%s: cannot read password file %s (%s)" % (name, path, exc.strerror))
    # libpq silently ignores a passfile others can read; say so instead of a puzzling auth failure.
    if stat.S_ISREG(info.st_mode) and info.st_mode & 0o077:
        raise ParameterError("%s: %s is readable by group or others (mode %04o), so libpq ignores it; "
                             "chmod 0600 it" % (name, path, stat.S_IMODE(info.st_mode)))


def libpq_params(target):
    """The libpq keywords of ``target`` (dsn parsed, discrete options over it), validated.

    Raises ParameterError naming the option. The result holds the password: never log or return it."""
    where = target.get("where", "")
    params = {}
    if target.get("dsn"):
        params.update(_parse_dsn(target["dsn"], where))
    for option, keyword in _LIBPQ_KEYWORDS.items():
        value = target.get(option)
        if value is not None and value != "":
            params[keyword] = value
    params.setdefault("application_name", DEFAULT_APPLICATION_NAME)
    params.setdefault("connect_timeout", DEFAULT_CONNECT_TIMEOUT_S)
    if "port" in params:
        # A dsn may list several ports ("5432,5433") for several hosts.
        ports = str(params["port"]).split(",")
        checked = [_validate_port(p, where + "port") for p in ports]
        params["port"] = checked[0] if len(checked) == 1 else ",".join(str(p) for p in checked)
    if params.get("sslmode") is not None and params["sslmode"] not in SSLMODES:
        raise ParameterError("%ssslmode: must be one of %s, got %r" % (where, ", ".join(SSLMODES), params["sslmode"]))
    try:
        timeout = int(params["connect_timeout"])
    except (TypeError, ValueError):
        raise ParameterError("%sconnect_timeout_s: must be a whole number of seconds, got %r" % (where, params["connect_timeout"]))
    if not 1 <= timeout <= 600:
        raise ParameterError("%sconnect_timeout_s: must be 1-600 seconds, got %d" % (where, timeout))
    params["connect_timeout"] = timeout
    rootcert = params.get("sslrootcert")
    if rootcert and rootcert != "system" and not os.path.isfile(rootcert):
        raise ParameterError("%ssslrootcert: no such file: %s" % (where, rootcert))
    if params.get("passfile"):
        _validate_passfile(params["passfile"], where + "passfile")
    return params


def connection_kwargs(target, statement_timeout_ms=DEFAULT_STATEMENT_TIMEOUT_MS, read_only=False):
    """psycopg.connect() keyword arguments for ``target``, with a statement_timeout (and
    default_transaction_read_only) sent in the startup packet: no extra round trip, and no
    statement can outlive the timeout even if the caller forgets."""
    params = libpq_params(target)
    options = [params.pop("options")] if params.get("options") else []
    if statement_timeout_ms is not None:
        if int(statement_timeout_ms) < 0:
            raise ParameterError("%sstatement_timeout_ms: must be 0 (none) or more, got %r"
                                 % (target.get("where", ""), statement_timeout_ms))
        options.append("-c statement_timeout=%d" % int(statement_timeout_ms))
    if read_only:
        options.append("-c default_transaction_read_only=on")
    if options:
        params["options"] = " ".join(options)
    return params


def libpq_env(target, statement_timeout_ms=None):
    """PG* environment variables for libpq programs (pg_dump, pg_restore, psql) reaching
    ``target``: the password travels in the environment, never on the command line."""
    params = connection_kwargs(target, statement_timeout_ms=statement_timeout_ms)
    return {_LIBPQ_ENV[key]: str(value) for key, value in params.items() if key in _LIBPQ_ENV}


def target_label(target):
    """What a check names as its target: ``name``, else user@host:port/database (never a password)."""
    if target.get("name"):
        return target["name"]
    params = {}
    if target.get("dsn"):
        try:
            params.update(_conninfo.conninfo_to_dict(target["dsn"]))
        except Exception:
            params = {}
    for option, keyword in _LIBPQ_KEYWORDS.items():
        if target.get(option) is not None:
            params[keyword] = target[option]
    host = params.get("host") or os.environ.get("PGHOST") or "local socket"
    port = params.get("port") or os.environ.get("PGPORT") or 5432
    user = params.get("user") or os.environ.get("PGUSER")
    dbname = params.get("dbname") or os.environ.get("PGDATABASE") or user or ""
    return "%s%s:%s/%s" % (user + "@" if user else "", host, port, dbname)


def secrets_of(target):
    """The secret strings of ``target``, for redacting messages."""
    found = [target.get("password"), target.get("dsn")]
    if target.get("dsn"):
        try:
            found.append(_conninfo.conninfo_to_dict(target["dsn"]).get("password"))
        except Exception:
            pass
    return [s for s in found if s]


def redact(text, secrets):
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, MASK)
    return text


class PgConnectError(Exception):
    """A connection that could not be made, classified: ``kind`` (a stable word), ``reason`` (one
    line for the summary), ``remediation`` and ``detail`` (libpq's message, secrets redacted)."""

    def __init__(self, kind, reason, remediation, detail=""):
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.remediation = remediation
        self.detail = detail


# (kind, pattern in libpq's message, reason, remediation). First match wins.
_CONNECT_ERRORS = (
    ("auth_failed", r"password authentication failed for user \"([^\"]*)\"",
     "authentication failed for user {0}",
     "Check the password of this role (option, dsn or passfile entry); the server log names the pg_hba.conf line used."),
    ("auth_failed", r"no password supplied",
     "the server asks for a password and none was given",
     "Give a password, or a passfile/PGPASSFILE/~/.pgpass entry (mode 0600) matching host:port:database:user."),
    ("auth_failed", r"authentication failed for user \"([^\"]*)\"",
     "authentication failed for user {0}",
     "Check the role's credentials and the pg_hba.conf method that applies to this client."),
    ("ssl_required", r"no pg_hba\.conf entry .*(no encryption|SSL off)",
     "the server only accepts encrypted connections",
     "Set sslmode to require, verify-ca or verify-full (with sslrootcert)."),
    ("rejected", r"no pg_hba\.conf entry for host",
     "pg_hba.conf has no entry that allows this client",
     "Add a pg_hba.conf line for this client address, user and database, then reload PostgreSQL."),
    ("database_missing", r"database \"([^\"]*)\" does not exist",
     "database {0} does not exist",
     "Check the database name, or create the database."),
    ("role_missing", r"role \"([^\"]*)\" does not exist",
     "role {0} does not exist",
     "Check the user name, or create the role."),
    ("ssl_unsupported", r"server does not support SSL",
     "SSL is required by sslmode but the server does not offer it",
     "Enable ssl on the server, or lower sslmode if unencrypted traffic is acceptable on this network."),
    ("ssl_failed", r"certificate|SSL",
     "the TLS handshake or certificate verification failed",
     "Check sslrootcert (the CA that signed the server certificate) and that the host name matches the certificate."),
    ("too_many_connections", r"too many clients|remaining connection slots",
     "the server refuses new connections: connection slots exhausted",
     "Find idle or leaked connections (pg_stat_activity), use a pooler, or raise max_connections."),
    ("unavailable", r"starting up|shutting down|in recovery mode|not yet accepting connections",
     "the server is not accepting connections (starting up, shutting down or recovering)",
     "Check the server log; retry after startup or recovery completes."),
    ("refused", r"Connection refused|No such file or directory",
     "connection refused: nothing listens there",
     "Check that PostgreSQL is running and listens on this host and port (listen_addresses, port, firewall)."),
    ("dns", r"failed to resolve host|could not translate host name|Name or service not known",
     "the host name does not resolve",
     "Check the host name and the resolver (DNS) of the machine that runs the check."),
    ("unreachable", r"No route to host|Network is unreachable|Host is unreachable",
     "the host is unreachable",
     "Check routing and firewalls between the checker and the database host."),
    ("parameter", r"invalid .* value|invalid connection option|connection is bad: invalid",
     "invalid connection parameter",
     ""),
)


def classify_connect_error(exc, secrets=()):
    """A PgConnectError for the psycopg exception raised while connecting."""
    message = redact(str(exc).strip(), secrets)
    detail = re.sub(r"\s+", " ", message)
    if (psycopg is not None and isinstance(exc, psycopg.errors.ConnectionTimeout)) or "timeout expired" in message:
        return PgConnectError("timeout", "connection timed out",
                              "Check that the server is up and not overloaded, and that no firewall drops packets; "
                              "raise connect_timeout_s for a slow network.", detail)
    for kind, pattern, reason, remediation in _CONNECT_ERRORS:
        match = re.search(pattern, message)
        if match:
            return PgConnectError(kind, reason.format(*match.groups()), remediation, detail)
    return PgConnectError("other", "connection failed", "Read the detail: libpq's own message.", detail)


def connect(target, statement_timeout_ms=DEFAULT_STATEMENT_TIMEOUT_MS, read_only=False, autocommit=True):
    """Open a psycopg connection to ``target``.

    Raises ParameterError for options libpq rejects, PgConnectError for a server that cannot be
    reached or refuses us (the caller turns it into a critical check)."""
    kwargs = connection_kwargs(target, statement_timeout_ms=statement_timeout_ms, read_only=read_only)
    try:
        return psycopg.connect(autocommit=autocommit, **kwargs)
    except psycopg.Error as exc:
        error = classify_connect_error(exc, secrets_of(target))
        if error.kind == "parameter":
            raise ParameterError("%sconnection options: %s" % (target.get("where", ""), error.detail))
        raise error


def connect_failure_check(check_id, target, error, duration_ms=None, metrics=None):
    """The critical check for a database that could not be connected to: that *is* the answer
    to "is the database healthy?"."""
    label = target_label(target)
    return check(
        check_id, label, CRITICAL, "cannot connect: %s" % error.reason,
        metrics=metrics,
        findings=[finding(CRITICAL, "Cannot connect to PostgreSQL: %s" % error.reason, label, error.detail, error.remediation)],
        duration_ms=duration_ms, host=target.get("inventory_host"), connect_error=error.kind,
    )


def run_concurrently(function, items, max_workers=DEFAULT_MAX_WORKERS):
    """``[function(item) for item in items]`` on a bounded thread pool, in order. psycopg is
    synchronous and each probe mostly waits on the network, so threads give the concurrency."""
    items = list(items)
    if len(items) <= 1:
        return [function(item) for item in items]
    workers = max(1, min(int(max_workers), len(items)))
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="upkeep-pg") as pool:
        return list(pool.map(function, items))


class client_deadline(object):
    """Cut ``conn`` off from the client side if the ``with`` block outlives ``timeout_s``.

    statement_timeout is enforced by the server and connect_timeout covers only connecting: a
    server (or a network path) that stops answering after login would block the caller for
    ever. When the timer fires it shuts the connection's socket down from the timer's thread;
    the blocked query then fails at once (psycopg.OperationalError) and ``expired`` is True, so
    the caller can report "no answer within N ms". Use one per query; the connection is
    unusable afterwards.
    """

    def __init__(self, conn, timeout_s):
        self.conn = conn
        self.timeout_s = float(timeout_s)
        self.expired = False
        self._lock = threading.Lock()
        self._done = False
        self._timer = None

    def __enter__(self):
        self._timer = threading.Timer(self.timeout_s, self._expire)
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(self, *exc_info):
        # Under the lock, so the timer never touches a socket the caller has moved on from.
        with self._lock:
            self._done = True
            self._timer.cancel()
        return False

    def _expire(self):
        with self._lock:
            if self._done:
                return
            self.expired = True
            try:
                # fromfd() duplicates the descriptor: shutting the duplicate down ends the
                # connection for libpq too, while closing it leaves libpq's descriptor alone.
                sock = socket.fromfd(self.conn.pgconn.socket, socket.AF_INET, socket.SOCK_STREAM)
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                finally:
                    sock.close()
            except Exception:  # already closed or broken: nothing left to cut
                pass
