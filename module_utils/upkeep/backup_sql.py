# -*- coding: utf-8 -*-
"""Plain SQL dumps (``pg_dump -Fp``, optionally gzipped): a safety scan, and a restore through psql.

A plain dump is a script: one made with ``pg_dump --create`` (or a ``pg_dumpall``) runs
``CREATE DATABASE`` and ``\\connect`` and would write wherever it names, possibly the source.
Such a dump is never run; every other one goes into the scratch database, streamed (a gzipped
dump is decompressed on the fly, never to disk), with psql's errors collected.
"""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import tempfile
import zlib

_UNSAFE = re.compile(rb"^\s*(\\c(onnect)?\s|(create|drop|alter)\s+database\s)", re.IGNORECASE)
_CHUNK = 1 << 20
PLAIN_END = b"PostgreSQL database dump complete"
# ALTER ... OWNER TO / GRANT for roles the restoring role cannot act as: what pg_restore's
# --no-owner --no-privileges skips for archives, and irrelevant to what the database holds.
_OWNERSHIP = re.compile(r'must be member of role|role "[^"]*" does not exist|must be owner of')
# What dumps by an older pg_dump (before 11) ask of any database and a scratch database created
# from template0 by a non-superuser already has or cannot do: CREATE SCHEMA public, and COMMENT ON
# EXTENSION plpgsql (owned by the bootstrap superuser). Nothing the backup holds depends on them;
# every other error stays an error.
BENIGN_RESTORE_ERROR = re.compile(r'schema "public" already exists|must be owner of extension plpgsql')


def _open(path, fmt):
    return gzip.open(path, "rb") if fmt == "gzip" else open(path, "rb")


def unsafe_statement(path, fmt):
    """``"line N: <text>"`` of the first statement that would leave the scratch database, or None."""
    try:
        with _open(path, fmt) as handle:
            for number, line in enumerate(handle, 1):
                if _UNSAFE.match(line):
                    return "line %d: %s" % (number, line.decode("utf-8", "replace").strip()[:120])
    except (EOFError, zlib.error, gzip.BadGzipFile):
        pass  # a damaged stream: restore_sql feeds psql the same readable part and reports the damage
    return None


def restore_sql(psql, path, fmt, env, timeout_s=24 * 3600):
    """Run the dump with psql against the database ``env`` names; returns ``(rc, error_lines,
    ownership_errors)`` (the count of owner/grant statements that could not apply).
    psql goes on after an error (like pg_restore without --exit-on-error) so the verification
    can say what is missing. A dump that ends early (a gzip stream cut short, or no "dump
    complete" trailer: pg_dump never finished it) is an error too, though psql itself is content
    with running whatever statements it was given."""
    argv = [psql, "-X", "-q", "--no-password", "-v", "ON_ERROR_STOP=0", "-f", "-"]
    unreadable, tail = None, b""
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(argv, env=dict(os.environ, **env), stdin=subprocess.PIPE,
                                   stdout=subprocess.DEVNULL, stderr=errors)
        try:
            try:
                with _open(path, fmt) as handle:
                    for block in iter(lambda: handle.read(_CHUNK), b""):
                        tail = (tail + block)[-256:]
                        process.stdin.write(block)
            except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
                unreadable = "%s: error: the dump does not read to its end: %s" % (os.path.basename(path), exc)
            except BrokenPipeError:
                pass  # psql exited; its exit status and errors say why
            try:
                process.stdin.close()
            except BrokenPipeError:
                pass
            rc = process.wait(timeout=timeout_s)
        except BaseException:
            process.kill()
            process.wait()
            raise
        errors.seek(0)
        lines = [line for line in errors.read().decode("utf-8", "replace").splitlines() if "ERROR" in line]
    ownership = [line for line in lines if _OWNERSHIP.search(line) or BENIGN_RESTORE_ERROR.search(line)]
    lines = [line for line in lines if line not in ownership]
    if unreadable is None and PLAIN_END not in tail:
        unreadable = "%s: error: the dump is incomplete: no 'dump complete' trailer at its end (pg_dump did not " \
                     "finish writing it)" % os.path.basename(path)
    if unreadable:
        lines.insert(0, unreadable)  # the root cause: the statements after it were never in the file
    return (1 if rc == 0 and lines else rc), lines, len(ownership)
