# -*- coding: utf-8 -*-
"""Scratch databases: the only databases a restore ever writes to.

upkeep creates each one itself, named ``SCRATCH_PREFIX...`` and marked with a COMMENT ON DATABASE
that starts with ``SCRATCH_MARKER`` and records who made it (host, process, time). A target that
is the source, or a database without the marker, is refused before anything is written; a
scratch database whose creator died (killed run) or that is older than ``stale_after_s`` is a
leftover the next run drops, unless it was kept on purpose (``keep: true``: marked ``kept``).
Only marked databases are ever dropped.
"""

from __future__ import annotations

import datetime
import json
import os
import socket

from .backup import iso, utc_now
from .result import ParameterError

SCRATCH_PREFIX = "upkeep_scratch_"
SCRATCH_MARKER = "upkeep-scratch"
DEFAULT_STALE_AFTER_S = 24 * 3600


class RestoreRefused(ParameterError):
    """A restore target upkeep will not write to (the source, or a database it did not create)."""


def marker(backup_label, kept=False):
    """The scratch marker; ``kept`` for a database the user asked to keep (``keep: true``): its
    creator exits right after, which would otherwise make it a leftover for the next run."""
    data = {"host": socket.gethostname(), "pid": os.getpid(), "created_at": iso(utc_now()), "backup": backup_label}
    if kept:
        data["kept"] = True
    return "%s %s" % (SCRATCH_MARKER, json.dumps(data, sort_keys=True))


def _parse_marker(comment):
    if not comment or not comment.startswith(SCRATCH_MARKER + " "):
        return None
    try:
        return json.loads(comment[len(SCRATCH_MARKER) + 1:])
    except ValueError:
        return None


def _pid_alive(pid):
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, TypeError, ValueError):
        return True
    return True


def scratch_databases(admin):
    """``[(name, marker)]`` of the databases on ``admin``'s server that upkeep created as scratch."""
    rows = admin.execute(
        "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database "
        "WHERE datname LIKE 'upkeep\\_scratch\\_%' ORDER BY datname").fetchall()
    return [(name, _parse_marker(comment)) for name, comment in rows if _parse_marker(comment) is not None]


def _is_stale(marker, stale_after_s, now):
    if marker.get("kept"):
        return False  # kept on purpose, for a person to look into: theirs to drop (kept_scratch lists it)
    if marker.get("host") == socket.gethostname() and not _pid_alive(marker.get("pid")):
        return True  # its creator died (killed run): nobody will drop it otherwise
    try:
        created = datetime.datetime.fromisoformat(marker["created_at"].replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return True
    return (now - created).total_seconds() > stale_after_s


def cleanup_scratch(admin, stale_after_s=DEFAULT_STALE_AFTER_S, dry_run=False, keep=()):
    """Drop the scratch databases interrupted runs left behind; returns their names."""
    now = utc_now()
    stale = [name for name, marker in scratch_databases(admin) if name not in keep and _is_stale(marker, stale_after_s, now)]
    if dry_run:
        return stale
    dropped = []
    for name in stale:
        try:
            admin.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % ident(name))
        except Exception:  # psycopg.Error: another role's leftover; it is not ours to force
            continue
        dropped.append(name)
    return dropped


def kept_scratch(admin, exclude=()):
    """``[(name, created_at)]`` of the scratch databases kept with ``keep: true`` that still exist."""
    return [(name, marker.get("created_at", "")) for name, marker in scratch_databases(admin)
            if marker.get("kept") and name not in exclude]


def ident(name):
    return '"%s"' % name.replace('"', '""')


def server_identity(conn):
    row = conn.execute("SELECT coalesce(host(inet_server_addr()), 'local'), current_setting('port'), "
                       "current_database()").fetchone()
    return (row[0], str(row[1]), row[2])


def refuse_target_name(name, server, source=None, where=""):
    """Refuse, before connecting anywhere, a target named like the source or not named as scratch."""
    if source and source.get("database") == name and (source.get("host"), source.get("port")) == (
            server.get("host"), server.get("port")):
        raise RestoreRefused("%starget_database: refusing to restore into %r: it is the source database; upkeep "
                             "restores only into scratch databases it creates" % (where, name))
    if not name.startswith(SCRATCH_PREFIX):
        raise RestoreRefused("%starget_database: refusing to restore into %r: upkeep restores only into scratch "
                             "databases it creates, named %s*" % (where, name, SCRATCH_PREFIX))


def check_target(admin, name, source_identity):
    """Refuse a target that is the source or a database upkeep did not create as scratch."""
    if not name.startswith(SCRATCH_PREFIX):
        raise RestoreRefused("target_database: refusing to restore into %r: upkeep restores only into scratch "
                             "databases it creates, named %s*" % (name, SCRATCH_PREFIX))
    host, port, _ = server_identity(admin)
    if source_identity is not None and source_identity == (host, port, name):
        raise RestoreRefused("target_database: refusing to restore into %r: it is the source database" % name)
    row = admin.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                        [name]).fetchone()
    if row is not None and _parse_marker(row[0]) is None:
        raise RestoreRefused("target_database: refusing to restore into %r: it exists and was not created by upkeep "
                             "as a scratch database (no %r marker in its comment)" % (name, SCRATCH_MARKER))
    return row is not None
