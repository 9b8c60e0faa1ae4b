# -*- coding: utf-8 -*-
"""``upkeep_pg_backup``: a pg_dump whose content is proven, inside one exported snapshot.

One connection opens a REPEATABLE READ transaction and exports its snapshot; while it stays
open, ``pg_dump --snapshot`` writes the archive and other connections importing the same
snapshot compute each table's row count and checksum and the schema fingerprint
(backup_manifest.py) at the same time, so the checksums describe exactly the rows in the dump
and cost little wall time beyond pg_dump's own. Sequence values come from the archive itself.
The manifest lands beside the dump; then optional encryption (backup_crypto.py) and retention
(backup_retention.py).
"""

from __future__ import annotations

import datetime
import glob
import os
import re
import shutil
import subprocess
import tempfile

from . import backup_crypto, backup_manifest, backup_retention
from .pg import PgConnectError, connect, libpq_env, psycopg, redact, secrets_of, target_label
from .result import CRITICAL, OK, ParameterError, Stopwatch, check, finding

CHECK_ID = "backup.run"
FORMATS = ("custom", "directory")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
RETENTION_DEFAULTS = {"keep_last": 7, "keep_daily": 7, "keep_weekly": 4, "keep_monthly": 6}
_SETVAL_RE = re.compile(r"setval\('((?:[^']|'')+)', (-?\d+), (true|false)\)")


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc)


def iso(moment):
    return moment.astimezone(datetime.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def age_text(hours):
    """An age for people: under 0.1 h in minutes or seconds (``0.034 h`` would print as "0.0 h",
    which reads as "just now" or as a broken clock), else in hours with one decimal."""
    if hours >= 0.1:
        return "%.1f h" % hours
    seconds = max(0.0, hours * 3600.0)
    return "%d s" % round(seconds) if seconds < 60 else "%d min" % round(seconds / 60.0)


def find_tool(name, bindir=None):
    """Path of a PostgreSQL client program: ``bindir``, else PATH, else the newest
    /usr/lib/postgresql/*/bin. ParameterError naming what to install when none is found."""
    if bindir:
        path = os.path.join(bindir, name)
        if os.access(path, os.X_OK):
            return path
        raise ParameterError("pg_bindir: %s has no executable %s" % (bindir, name))
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/" + name),
                      key=lambda p: int(re.search(r"/(\d+)/bin/", p).group(1)), reverse=True)
    if versions:
        return versions[0]
    raise ParameterError("%s not found on PATH or in /usr/lib/postgresql/*/bin: install the PostgreSQL client "
                         "(postgresql-client) or set pg_bindir" % name)


def run_tool(argv, env=None, timeout_s=3600, secrets=()):
    """Run a client program (argv list, never a shell); returns (rc, stdout, stderr redacted)."""
    full_env = dict(os.environ, **(env or {}))
    result = subprocess.run(argv, env=full_env, capture_output=True, text=True, timeout=timeout_s,
                            stdin=subprocess.DEVNULL)
    return result.returncode, result.stdout, redact(result.stderr.strip(), secrets)


# Lines pg_restore prints *because* of an earlier error: never the cause a person needs.
_CONSEQUENCES = ("a worker process died unexpectedly", "errors ignored on restore", "terminated by user")
_TOOL_PREFIX = re.compile(r"^(pg_restore|psql):\s*(?:(<stdin>|[^:\s]+):(\d+):\s*)?(?:error:\s*)?")


def restore_error_cause(lines):
    """pg_restore's (or psql's) own root-cause message among its stderr ``lines``: the first error
    that is not a consequence of another (with parallel jobs the last line is "a worker process died
    unexpectedly", which says nothing), its program prefix dropped, a psql line number kept."""
    errors = [line.strip() for line in lines if "error" in line.lower() and line.strip()]
    for line in errors:
        if not any(text in line for text in _CONSEQUENCES):
            match = _TOOL_PREFIX.match(line)
            cause = line[match.end():] if match else line
            if match and match.group(3):
                cause = "line %s: %s" % (match.group(3), cause)
            return " ".join(cause.split())[:300]
    return errors[0][:300] if errors else "no error message (exit status only)"


def archive_list(pg_restore, dump_path, timeout_s=600):
    """``pg_restore --list``: (ok, toc lines or error). Reading the TOC proves the archive's header
    and table of contents are intact."""
    rc, out, err = run_tool([pg_restore, "--list", dump_path], timeout_s=timeout_s)
    if rc != 0:
        return False, err or "pg_restore --list exited %d" % rc
    return True, [line for line in out.splitlines() if line and not line.startswith(";")]


def dump_sequences(pg_restore, dump_path, work_dir, timeout_s=600):
    """``{sequence: {last_value, is_called}}`` as the archive will restore them (its SEQUENCE SET
    entries), exact even while the source's sequences kept moving after the snapshot."""
    ok, toc = archive_list(pg_restore, dump_path, timeout_s)
    if not ok:
        raise RuntimeError("cannot read the archive's table of contents: %s" % toc)
    entries = [line for line in toc if " SEQUENCE SET " in line]
    if not entries:
        return {}
    list_path = os.path.join(work_dir, "sequences.list")
    with open(list_path, "w") as handle:
        handle.write("\n".join(entries) + "\n")
    rc, out, err = run_tool([pg_restore, "-L", list_path, "-f", "-", dump_path], timeout_s=timeout_s)
    if rc != 0:
        raise RuntimeError("cannot read the sequence values from the archive: %s" % err)
    return {match.group(1).replace("''", "'"): {"last_value": int(match.group(2)), "is_called": match.group(3) == "true"}
            for match in _SETVAL_RE.finditer(out)}


def _settings(params):
    where = params.get("where", "")
    directory = params.get("directory")
    if not directory or not os.path.isdir(directory):
        raise ParameterError("%sdirectory: %r is not an existing directory" % (where, directory))
    if not os.access(directory, os.W_OK):
        raise ParameterError("%sdirectory: %s is not writable" % (where, directory))
    name = params.get("backup_name") or params.get("name") or params.get("database")
    if not name or not NAME_RE.match(name):
        raise ParameterError("%sbackup_name: must be 1-64 letters, digits, '.', '_' or '-' (it names the dump files), "
                             "got %r" % (params.get("where", ""), name))
    fmt = params.get("format") or "custom"
    if fmt not in FORMATS:
        raise ParameterError("format: must be one of %s, got %r" % (", ".join(FORMATS), fmt))
    jobs = int(params.get("jobs") or 1)
    if not 1 <= jobs <= 64:
        raise ParameterError("jobs: must be 1-64, got %d" % jobs)
    if jobs > 1 and fmt != "directory":
        raise ParameterError("jobs: pg_dump runs parallel jobs only with format=directory (got %d jobs with %s)"
                             % (jobs, fmt))
    recipient = None
    if params.get("encrypt_to"):
        if fmt != "custom":
            raise ParameterError("encrypt_to: encryption needs format=custom (one file), got %s" % fmt)
        try:
            recipient = backup_crypto.load_public_key(params["encrypt_to"])
        except (OSError, ValueError) as exc:
            raise ParameterError("encrypt_to: %s" % exc)
    retention = {}
    for key, default in RETENTION_DEFAULTS.items():
        value = (params.get("retention") or {}).get(key)
        value = default if value is None else int(value)
        if value < 0:
            raise ParameterError("retention.%s: must be 0 or more, got %d" % (key, value))
        retention[key] = value
    if retention["keep_last"] < 1:
        raise ParameterError("retention.keep_last: must be at least 1 (the backup just made), got 0")
    return {"where": where, "directory": os.path.abspath(directory), "name": name, "format": fmt, "jobs": jobs,
            "checksum_jobs": max(1, int(params.get("checksum_jobs") or 1)), "recipient": recipient,
            "compress": params.get("compress"), "retention": retention,
            "apply_retention": params.get("apply_retention", True) is not False,
            "timeout_s": int(params.get("timeout_s") or 6 * 3600)}


def apply_retention(directory, name, retention, dry_run):
    """The retention plan for ``name``'s backups in ``directory``; deletes unless ``dry_run``."""
    manifests = [m for m in backup_manifest.list_manifests(directory, name) if not m.get("error")]
    decision = backup_retention.plan(manifests, **retention)
    by_path = {m["manifest_path"]: m for m in manifests}
    if not dry_run:
        for path in decision["delete"]:
            backup_retention.delete_backup(path, by_path[path]["dump_path"])
    return decision


def make_backup(params, check_mode=False):
    """Make one backup (the ``upkeep_pg_backup`` module's params as a dict).

    Returns ``(check, details)``: the ``backup.run`` check, and ``{"manifest_path", "dump_path",
    "deleted": [...], "kept": [...], "changed": bool}``. In check mode nothing is dumped or deleted;
    the check lists what retention would delete."""
    settings = _settings(params)
    target = dict(params, where=params.get("where", ""))
    label = target_label(target)
    stamp = utc_now().strftime("%Y%m%dT%H%M%SZ")
    stem = os.path.join(settings["directory"], "%s-%s" % (settings["name"], stamp))
    dump_path = stem + (".dir" if settings["format"] == "directory" else ".dump")
    pg_dump = find_tool("pg_dump", params.get("pg_bindir"))
    pg_restore = find_tool("pg_restore", params.get("pg_bindir"))
    env = libpq_env(target)
    if check_mode:
        decision = apply_retention(settings["directory"], settings["name"], settings["retention"], dry_run=True)
        findings = [finding("info", "Would delete %s (retention)" % os.path.basename(path), path)
                    for path in decision["delete"]]
        summary = "check mode: would dump %s to %s%s; retention would delete %d backup(s)" % (
            label, os.path.basename(dump_path), " (encrypted)" if settings["recipient"] else "", len(decision["delete"]))
        return (check(CHECK_ID, label, OK, summary, findings=findings, host=params.get("inventory_host"),
                      would_delete=decision["delete"]),
                {"changed": False, "deleted": [], "would_delete": decision["delete"], "dump_path": dump_path})
    with Stopwatch() as total:
        try:
            manifest = _dump_with_content(target, settings, pg_dump, pg_restore, env, dump_path)
        except PgConnectError as error:
            return (check(CHECK_ID, label, CRITICAL, "backup failed: cannot connect: %s" % error.reason,
                          findings=[finding(CRITICAL, "Backup not made: cannot connect", label, error.detail,
                                            error.remediation)], host=params.get("inventory_host")),
                    {"changed": False, "deleted": []})
        except _BackupFailed as exc:
            return (check(CHECK_ID, label, CRITICAL, "backup failed: %s" % exc.reason,
                          findings=[finding(CRITICAL, "Backup not made: %s" % exc.reason, label,
                                            redact(exc.detail, secrets_of(target)), exc.remediation)],
                          host=params.get("inventory_host")),
                    {"changed": False, "deleted": []})
        except Exception as exc:
            if psycopg is None or not isinstance(exc, psycopg.Error):
                raise
            message = redact(" ".join(str(exc).split()), secrets_of(target))
            return (check(CHECK_ID, label, CRITICAL, "backup failed: %s" % message,
                          findings=[finding(CRITICAL, "Backup not made: database error", label, message,
                                            "The role must read every table; a lost connection or a statement "
                                            "timeout also ends here.")], host=params.get("inventory_host")),
                    {"changed": False, "deleted": []})
        decision = {"delete": [], "keep": []}
        if settings["apply_retention"]:
            decision = apply_retention(settings["directory"], settings["name"], settings["retention"], dry_run=False)
    metrics = {"dump_ms": manifest["timings"]["dump_ms"], "checksum_ms": manifest["timings"]["checksum_ms"],
               "size_bytes": manifest["dump"]["size_bytes"], "tables": len(manifest["content"]["tables"]),
               "rows": sum(t["rows"] for t in manifest["content"]["tables"].values()),
               "deleted_backups": len(decision["delete"])}
    findings = [finding("info", "Deleted %s (retention)" % os.path.basename(path), path) for path in decision["delete"]]
    summary = "backed up %s: %d tables, %d rows, %d bytes%s in %.1f s; retention deleted %d" % (
        label, metrics["tables"], metrics["rows"], metrics["size_bytes"],
        " (encrypted)" if manifest["encryption"] else "", total.ms / 1000.0, len(decision["delete"]))
    return (check(CHECK_ID, label, OK, summary, metrics=metrics, findings=findings, duration_ms=total.ms,
                  host=params.get("inventory_host"), manifest_path=manifest["manifest_path"],
                  dump_path=manifest["dump_path"]),
            {"changed": True, "deleted": decision["delete"], "manifest_path": manifest["manifest_path"],
             "dump_path": manifest["dump_path"]})


BACKUP_ITEM_KEYS = ("directory", "backup_name", "format", "jobs", "compress", "encrypt_to", "checksum_jobs",
                    "retention", "apply_retention", "timeout_s", "pg_bindir")


def backup_databases(params, check_mode=False):
    """Back up every database of one upkeep_pg_backup call, one after the other (a dump saturates
    the server's I/O; several at once would only slow each other). Every item is validated before
    the first dump. Returns ``(checks, backups)``."""
    from .pg import fleet_targets

    targets = fleet_targets(params, "databases", BACKUP_ITEM_KEYS)
    for target in targets:
        _settings(target)
        libpq_env(target)
    checks, backups = [], []
    for target in targets:
        result, details = make_backup(target, check_mode=check_mode)
        checks.append(result)
        backups.append(details)
    return checks, backups


class _BackupFailed(Exception):
    def __init__(self, reason, detail="", remediation=""):
        super().__init__(reason)
        self.reason, self.detail, self.remediation = reason, detail, remediation


def _dump_with_content(target, settings, pg_dump, pg_restore, env, dump_path):
    """Dump and fingerprint in one snapshot; write the manifest; returns it."""
    started = utc_now()
    partial = dump_path + ".partial"
    conn = connect(target, statement_timeout_ms=0, autocommit=False)
    try:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        snapshot, snapshot_time, version, version_num, db_size, dbname = conn.execute(
            "SELECT pg_export_snapshot(), now(), current_setting('server_version'), "
            "current_setting('server_version_num')::int, pg_database_size(current_database()), "
            "current_database()").fetchone()
        argv = [pg_dump, "--format", settings["format"], "--file", partial, "--snapshot", snapshot, "--no-password"]
        if settings["jobs"] > 1:
            argv += ["--jobs", str(settings["jobs"])]
        if settings["compress"] is not None:
            argv += ["--compress", str(settings["compress"])]
        with Stopwatch() as dump_watch:
            process = subprocess.Popen(argv, env=dict(os.environ, **env), stdin=subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            try:
                with Stopwatch() as checksum_watch:
                    backup_manifest.pin_row_text(conn)
                    schema = backup_manifest.schema_fingerprint(conn)
                    matviews = backup_manifest.read_matviews(conn)
                    tables = backup_manifest.list_tables(conn)
                    contents = backup_manifest.table_contents(
                        lambda: connect(target, statement_timeout_ms=0, autocommit=False), [t[0] for t in tables],
                        jobs=settings["checksum_jobs"], snapshot=snapshot, parallel_workers=0,
                        methods={t[0]: t[2] for t in tables})
                _, stderr = process.communicate(timeout=settings["timeout_s"])
            except BaseException:
                process.kill()
                process.wait()
                _remove(partial)
                raise
        if process.returncode != 0:
            _remove(partial)
            raise _BackupFailed("pg_dump exited %d" % process.returncode, (stderr or "").strip()[-2000:],
                                "Read pg_dump's message; pg_dump must be at least the server's major version.")
    finally:
        conn.close()
    os.replace(partial, dump_path)
    _restrict(dump_path)
    work = tempfile.mkdtemp(prefix="upkeep-backup-")
    try:
        sequences = dump_sequences(pg_restore, dump_path, work)
    except RuntimeError as exc:
        _remove(dump_path)
        raise _BackupFailed("the new archive does not read back", str(exc))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    encryption = None
    final_path = dump_path
    if settings["recipient"] is not None:
        final_path = dump_path + ".enc"
        encryption = backup_crypto.encrypt_file(dump_path, final_path, settings["recipient"])
        os.unlink(dump_path)
    files = backup_manifest.describe_files(final_path)
    manifest = {
        "format": backup_manifest.MANIFEST_FORMAT,
        "name": settings["name"], "database": dbname, "source": target_label(target),
        "server_version": version, "server_version_num": version_num, "database_size_bytes": int(db_size),
        "started_at": iso(started), "finished_at": iso(utc_now()), "snapshot_time": iso(snapshot_time),
        "dump": {"format": settings["format"], "path": os.path.basename(final_path), "files": files,
                 "size_bytes": sum(f["size_bytes"] for f in files), "pg_dump": pg_dump},
        "encryption": encryption,
        "content": {"checksum_algorithm": backup_manifest.CHECKSUM_ALGORITHM,
                    "row_text_settings": backup_manifest.ROW_TEXT_SETTINGS,
                    "tables": contents, "sequences": sequences, "schema": schema, "matviews": matviews},
        "timings": {"dump_ms": round(dump_watch.ms, 1), "checksum_ms": round(checksum_watch.ms, 1)},
    }
    manifest_path = backup_manifest.manifest_path_for(final_path)
    backup_manifest.write_json(manifest_path, manifest)
    manifest.update(manifest_path=manifest_path, dump_path=final_path)
    return manifest


def _restrict(path):
    """Dumps hold the whole database: readable by their owner only (pg_dump follows the umask)."""
    os.chmod(path, 0o700 if os.path.isdir(path) else 0o600)
    if os.path.isdir(path):
        for name in os.listdir(path):
            os.chmod(os.path.join(path, name), 0o600)


def _remove(path):
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.exists(path):
        os.unlink(path)


def detect_format(path):
    """What a dump is: ``custom``, ``directory``, ``plain``, ``gzip`` (plain SQL, gzipped),
    ``encrypted`` (upkeep's), or None when it is none of them."""
    if os.path.isdir(path):
        return "directory" if os.path.isfile(os.path.join(path, "toc.dat")) else None
    try:
        with open(path, "rb") as handle:
            head = handle.read(64)
    except OSError:
        return None
    if head.startswith(b"PGDMP"):
        return "custom"
    if head.startswith(backup_crypto.MAGIC):
        return "encrypted"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"--") or b"PostgreSQL database dump" in head:
        return "plain"
    return None
