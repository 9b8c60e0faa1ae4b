# -*- coding: utf-8 -*-
"""``upkeep_restore_verify``: restore a backup into a scratch database and prove what it holds.

Safety first (DESIGN.md): the restore only ever goes into a database this code creates, named
``upkeep_scratch_...`` and marked as scratch with a COMMENT ON DATABASE carrying
``SCRATCH_MARKER`` (who made it, the creating process, when). A named target that is the source,
or that exists without the marker, is refused before anything is written. The source is only
read (a read-only transaction), and only to compare a foreign backup with it. Scratch
databases an interrupted run left behind (their creator is gone, or they are older than
``stale_after_s``) are dropped at the start of the next run; one kept on purpose (``keep``) is
not, and every run lists it until a person drops it.

Python API for other parts (the DR drill): ``restore_and_verify(...)`` returns a plain dict with
the ``restore.verify`` check and the measured phases; ``cleanup_scratch(...)`` drops leftovers.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile

from . import backup_crypto, backup_manifest, backup_schema, backup_sql
from .backup import detect_format, find_tool, iso, restore_error_cause, run_tool, utc_now
from .pg import PgConnectError, connect, libpq_env, psycopg, redact, secrets_of, target_label
from .backup_scratch import (DEFAULT_STALE_AFTER_S, SCRATCH_PREFIX, RestoreRefused, check_target,  # noqa: F401
                             cleanup_scratch, ident, kept_scratch, marker, refuse_target_name, scratch_databases,
                             server_identity)
from .backup_preflight import free_bytes_findings, integrity_findings
from .backup_compare import compare_foreign, compare_with_manifest, empty_after_failure, fingerprint_restored
from .result import CRITICAL, OK, UNKNOWN, WARNING, ParameterError, Stopwatch, check, finding, thresholds, worst

CHECK_ID = "restore.verify"


def resolve_backup(path, name=None, pattern="*"):
    """``{"kind": "upkeep"|"foreign", "dump_path", "format", "manifest"}`` for a manifest, a dump, or
    a directory (its newest upkeep backup of ``name``, else its newest file matching ``pattern``)."""
    import fnmatch

    if path.endswith(backup_manifest.MANIFEST_SUFFIX):
        manifest = backup_manifest.read_manifest(path)
        return {"kind": "upkeep", "dump_path": manifest["dump_path"], "format": manifest["dump"]["format"],
                "manifest": manifest}
    if os.path.isdir(path) and not os.path.isfile(os.path.join(path, "toc.dat")):
        manifests = [m for m in backup_manifest.list_manifests(path, name) if not m.get("error")]
        if manifests:
            return resolve_backup(manifests[0]["manifest_path"])
        candidates = [os.path.join(path, e) for e in os.listdir(path) if fnmatch.fnmatch(e, pattern)
                      and not e.endswith((backup_manifest.MANIFEST_SUFFIX, backup_manifest.VERIFY_SUFFIX))]
        candidates = [c for c in candidates if detect_format(c)]
        if not candidates:
            raise ParameterError("backup: %s holds no upkeep backup%s and no dump matching %r"
                                 % (path, " of %r" % name if name else "", pattern))
        path = max(candidates, key=os.path.getmtime)
    manifest_path = backup_manifest.manifest_path_for(path)
    if os.path.isfile(manifest_path):
        return resolve_backup(manifest_path)
    fmt = detect_format(path)
    if fmt is None:
        raise ParameterError("backup: %s is not a pg_dump archive (custom or directory), plain SQL or gzip" % path)
    return {"kind": "foreign", "dump_path": path, "format": fmt, "manifest": None}


def restore_and_verify(backup, server, source=None, jobs=2, keep=False, target_database=None, **options):
    """Restore ``backup`` (manifest, dump or directory; see resolve_backup) into a new scratch
    database on ``server`` (connection options of the restore server; its ``database`` is the one
    to connect to for CREATE DATABASE, default postgres) and prove its contents.

    Options: decrypt_key_file, rto_objective_s (3600), check_mode, work_dir, pg_bindir,
    stale_after_s, record (write the outcome beside an upkeep backup), name (backup_name in a
    directory), pattern (foreign dumps in a directory), inventory_host.

    Returns ``{"check", "scratch_database", "kept", "restore_ms", "verify_ms", "decrypt_ms", "rto_ms",
    "cleaned", "backup": {kind, dump_path, format, manifest_path, snapshot_time, finished_at}}``.
    Raises ParameterError (RestoreRefused for an unsafe target) for parameters it cannot use; a
    database error on the way (no CREATEDB, connection lost) is a critical check, not an exception."""
    try:
        return _restore_and_verify(backup, server, source, jobs, keep, target_database, **options)
    except Exception as exc:
        if psycopg is None or not isinstance(exc, psycopg.Error):
            raise
        message = redact(" ".join(str(exc).split()), secrets_of(server) + secrets_of(source or {}))
        label = os.path.basename(str(backup).rstrip(os.sep))
        return {"scratch_database": None, "kept": False, "restore_ms": None, "verify_ms": None, "decrypt_ms": 0.0,
                "rto_ms": None, "cleaned": [], "kept_earlier": [], "backup": {"dump_path": backup},
                "check": check(CHECK_ID, label, CRITICAL, "restore verification failed: %s" % message,
                               findings=[finding(CRITICAL, "Database error during the restore verification", label,
                                                 message, "A role without CREATEDB, a lost connection or a "
                                                 "statement timeout: read the message.")],
                               host=options.get("inventory_host"))}


def _restore_and_verify(backup, server, source=None, jobs=2, keep=False, target_database=None,
                        decrypt_key_file=None, rto_objective_s=3600.0, check_mode=False, work_dir=None,
                        pg_bindir=None, stale_after_s=DEFAULT_STALE_AFTER_S, record=True, name=None, pattern="*",
                        inventory_host=None):
    if target_database:
        refuse_target_name(target_database, server, source)
    resolved = resolve_backup(backup, name, pattern)
    manifest = resolved["manifest"]
    server = dict(server, database=server.get("database") or "postgres", where=server.get("where", ""))
    label = os.path.basename(resolved["dump_path"].rstrip(os.sep))
    info = {"kind": resolved["kind"], "dump_path": resolved["dump_path"], "format": resolved["format"],
            "manifest_path": manifest and manifest["manifest_path"],
            "snapshot_time": manifest and manifest.get("snapshot_time"),
            "finished_at": manifest and manifest.get("finished_at")}
    outcome = {"scratch_database": None, "kept": False, "restore_ms": None, "verify_ms": None, "decrypt_ms": 0.0,
               "rto_ms": None, "cleaned": [], "kept_earlier": [], "backup": info}
    objective_ms = float(rto_objective_s) * 1000.0
    limits = {"rto_ms": thresholds(objective_ms)}

    def result(status, summary, findings=(), metrics=None, duration_ms=None):
        outcome["check"] = check(CHECK_ID, label, status, summary, metrics=dict(metrics or {}, rto_objective_ms=objective_ms),
                                 thresholds=limits, findings=list(findings), duration_ms=duration_ms,
                                 host=inventory_host, backup_kind=resolved["kind"], scratch_database=outcome["scratch_database"])
        return outcome

    algorithm = (manifest or {}).get("content", {}).get("checksum_algorithm", "sum-hash64/1")
    if manifest and algorithm not in backup_manifest.SUPPORTED_CHECKSUM_ALGORITHMS:
        return result(UNKNOWN, "cannot verify %s: its checksum algorithm %s is unknown to this upkeep (it knows %s)" % (
            label, algorithm, ", ".join(backup_manifest.SUPPORTED_CHECKSUM_ALGORITHMS)), [finding(
                WARNING, "Backup made by a newer upkeep; content not verified", resolved["dump_path"], "",
                "Verify it with the upkeep version that made it, or upgrade upkeep here.")])
    if manifest and _schema_version(manifest) not in backup_schema.SUPPORTED_SCHEMA_VERSIONS:
        return result(UNKNOWN, "cannot verify %s: its schema fingerprint version %s is unknown to this upkeep" % (
            label, _schema_version(manifest)), [finding(
                WARNING, "Backup made by a newer upkeep; content not verified", resolved["dump_path"], "",
                "Verify it with the upkeep version that made it, or upgrade upkeep here.")])
    fmt = resolved["format"]
    key = None
    if fmt == "encrypted" or (manifest and manifest.get("encryption")):
        if not decrypt_key_file:
            raise ParameterError("decrypt_key_file: %s is encrypted; give the recipient's private key" % label)
        try:
            key = backup_crypto.load_private_key(decrypt_key_file)
        except (OSError, ValueError) as exc:
            raise ParameterError("decrypt_key_file: %s" % exc)
    if fmt in ("plain", "gzip"):
        unsafe = backup_sql.unsafe_statement(resolved["dump_path"], fmt)
        if unsafe:
            return result(UNKNOWN, "refused to run %s: the dump leaves its database (%s)" % (label, unsafe), [finding(
                WARNING, "Plain dump switches or creates databases; not run", resolved["dump_path"], unsafe,
                "Dump without --create (pg_dump -Fc is better still) so it can be restored into a scratch database.")])
    restore_tool = find_tool("psql" if fmt in ("plain", "gzip") else "pg_restore", pg_bindir)
    with Stopwatch() as total:
        if manifest:
            broken = integrity_findings(manifest)
            if broken:
                return result(CRITICAL, "backup %s is corrupt: %s; nothing restored" % (label, broken[0]["title"]), broken,
                              duration_ms=total.ms)
        source_identity = None
        if source:
            try:
                with connect(dict(source, where="source."), read_only=True) as src:
                    source_identity = server_identity(src)
            except PgConnectError as error:
                return result(UNKNOWN, "cannot connect to the source to compare: %s" % error.reason, duration_ms=total.ms)
        try:
            admin = connect(server, statement_timeout_ms=0)
        except PgConnectError as error:
            return result(CRITICAL, "cannot connect to the restore server: %s" % error.reason,
                          [finding(CRITICAL, "Restore server unreachable: %s" % error.reason, target_label(server),
                                   error.detail, error.remediation)], duration_ms=total.ms)
        with admin:
            scratch = target_database or "%s%s_%s" % (SCRATCH_PREFIX, utc_now().strftime("%Y%m%d%H%M%S"),
                                                      secrets.token_hex(3))
            exists = check_target(admin, scratch, source_identity)
            outcome["cleaned"] = cleanup_scratch(admin, stale_after_s, dry_run=check_mode, keep=(scratch,))
            kept_earlier = kept_scratch(admin, exclude=(scratch,))
            outcome["kept_earlier"] = [name for name, _ in kept_earlier]
            dump_bytes = sum(f["size_bytes"] for f in manifest["dump"]["files"]) if manifest else _size(resolved["dump_path"])
            needed = int((manifest or {}).get("database_size_bytes") or dump_bytes * 5) * 1.1
            work_root = work_dir or tempfile.gettempdir()
            space, space_metrics = free_bytes_findings(admin, needed, work_root, dump_bytes if key else 0)
            space += [finding("info", "Scratch database %s, kept since %s, still exists" % (name, created), name,
                              "kept with keep: true; upkeep never drops a kept database",
                              "DROP DATABASE %s;  -- when you are done with it" % ident(name))
                      for name, created in kept_earlier]
            if any(f["severity"] == CRITICAL for f in space):
                return result(CRITICAL, "not enough free space to restore %s" % label, space, space_metrics, total.ms)
            if check_mode:
                summary = "check mode: would restore %s into a new scratch database %s%s" % (
                    label, scratch, "; would drop %d leftover scratch database(s)" % len(outcome["cleaned"])
                    if outcome["cleaned"] else "")
                return result(OK, summary, space, space_metrics, total.ms)
            if exists:
                admin.execute("DROP DATABASE %s WITH (FORCE)" % ident(scratch))
            admin.execute("CREATE DATABASE %s TEMPLATE template0" % ident(scratch))
            admin.execute("COMMENT ON DATABASE %s IS %s" % (ident(scratch), _literal(marker(label))))
            outcome["scratch_database"] = scratch
            try:
                return _restore_into(outcome, result, resolved, server, scratch, source, key, restore_tool, jobs,
                                     work_root, space, space_metrics, objective_ms, total, record and not check_mode)
            finally:
                if keep:
                    admin.execute("COMMENT ON DATABASE %s IS %s" % (ident(scratch), _literal(marker(label, kept=True))))
                    outcome["kept"] = True
                else:
                    admin.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % ident(scratch))


def _schema_version(manifest):
    """The schema fingerprint version a manifest was made with (1 before versions were recorded);
    a foreign dump is compared with the live source at the current one."""
    if not manifest:
        return backup_schema.SCHEMA_VERSION
    return manifest.get("content", {}).get("schema", {}).get("version", 1)


def _literal(text):
    return "'%s'" % text.replace("'", "''")


def _size(path):
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(path, e)) for e in os.listdir(path))
    return os.path.getsize(path)


def _restore_into(outcome, result, resolved, server, scratch, source, key, restore_tool, jobs, work_root, findings,
                  metrics, objective_ms, total, record):
    findings = list(findings)
    work = tempfile.mkdtemp(prefix="upkeep-restore-", dir=work_root)
    try:
        archive = resolved["dump_path"]
        if key is not None:
            with Stopwatch() as decrypt_watch:
                archive = os.path.join(work, "archive.dump")
                try:
                    backup_crypto.decrypt_file(resolved["dump_path"], archive, key)
                except backup_crypto.DecryptError as exc:
                    return result(CRITICAL, "cannot decrypt %s: %s" % (os.path.basename(resolved["dump_path"]), exc),
                                  [finding(CRITICAL, "Backup does not decrypt: %s" % exc, resolved["dump_path"])],
                                  metrics, total.ms)
            outcome["decrypt_ms"] = round(decrypt_watch.ms, 1)
        fmt = "custom" if resolved["format"] == "encrypted" else resolved["format"]
        target = dict(server, database=scratch)
        argv = [restore_tool, "--no-owner", "--no-privileges", "--no-password", "--dbname", scratch]
        if int(jobs) > 1 and fmt in ("custom", "directory"):
            argv += ["--jobs", str(int(jobs))]
        with Stopwatch() as restore_watch:
            if fmt in ("plain", "gzip"):
                rc, lines, ownership = backup_sql.restore_sql(restore_tool, archive, fmt, libpq_env(target))
                if ownership:
                    findings.append(finding("info", "%d owner, privilege or pre-existing-object statements not applied"
                                            % ownership, scratch,
                                            "the restoring role cannot act as the dump's roles; pg_restore "
                                            "--no-owner --no-privileges skips the same for archives"))
            else:
                rc, _, err = run_tool(argv + [archive], env=libpq_env(target), timeout_s=24 * 3600,
                                      secrets=secrets_of(server))
                lines = [line for line in err.splitlines() if "error" in line.lower()]
                errors = [line for line in lines if "error:" in line]
                benign = [line for line in errors if backup_sql.BENIGN_RESTORE_ERROR.search(line)]
                if rc != 0 and benign and len(benign) == len(errors):
                    rc, lines = 0, []
                    findings.append(finding("info", "%d statement(s) of an older pg_dump not applied" % len(benign),
                                            scratch, "\n".join(benign)[:2000]))
        outcome["restore_ms"] = round(restore_watch.ms, 1)
        failure = None
        if rc != 0:
            # Whatever the restore left behind is not the backup: an error here is the verdict, whether
            # or not a manifest or the source could say which rows are missing.
            tool = os.path.basename(restore_tool)
            failure = "%s failed (exit %d): %s" % (tool, rc, restore_error_cause(lines))
            findings.append(finding(CRITICAL, failure, scratch, "\n".join(lines[:10])[:2000],
                                    "A truncated or damaged dump (read errors), or roles and extensions the dump needs "
                                    "missing on the restore server: read %s's message above; use another backup "
                                    "if the file is damaged." % tool))
        with Stopwatch() as verify_watch:
            expected = resolved["manifest"]["content"] if resolved["manifest"] else {}
            methods = {name: t.get("method", "record") for name, t in expected.get("tables", {}).items()}
            restored = fingerprint_restored(lambda: connect(target, statement_timeout_ms=0, autocommit=False), jobs,
                                            methods, _schema_version(resolved["manifest"]))
            if resolved["manifest"]:
                findings += compare_with_manifest(resolved["manifest"]["content"], restored)
            elif source:
                findings += compare_foreign(restored, lambda: connect(dict(source, where="source."), statement_timeout_ms=0,
                                                                      read_only=True, autocommit=False),
                                            restore_failed=failure is not None)
            elif failure:
                findings += empty_after_failure(restored)
        outcome["verify_ms"] = round(verify_watch.ms, 1)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    outcome["rto_ms"] = round(outcome["decrypt_ms"] + outcome["restore_ms"], 1)
    rows = sum(t["rows"] for t in restored["tables"].values())
    metrics = dict(metrics, restore_ms=outcome["restore_ms"], verify_ms=outcome["verify_ms"],
                   decrypt_ms=outcome["decrypt_ms"], rto_ms=outcome["rto_ms"], tables=len(restored["tables"]), rows=rows)
    status = worst([f["severity"] if f["severity"] != "info" else OK for f in findings])
    if outcome["rto_ms"] >= objective_ms:
        status = worst([status, WARNING])
        findings.append(finding(WARNING, "Restore took %.0f s, over the RTO objective of %.0f s"
                                % (outcome["rto_ms"] / 1000.0, objective_ms / 1000.0), scratch, "",
                                "Use parallel jobs (directory format), a faster restore server, or revisit the objective."))
    mismatches = [f for f in findings if f["severity"] == CRITICAL]
    if failure:
        emptied = [f for f in findings if f.get("kind") == "emptied"]
        summary = "restore of %s failed: %s%s" % (
            outcome["backup"]["dump_path"].rsplit(os.sep, 1)[-1], failure,
            "; %d table(s) left empty or missing" % len(emptied) if emptied else "")
    elif mismatches:
        summary = "restored %s but it does not match: %s%s" % (
            outcome["backup"]["dump_path"].rsplit(os.sep, 1)[-1], mismatches[0]["title"],
            " (and %d more)" % (len(mismatches) - 1) if len(mismatches) > 1 else "")
    else:
        proven = "matches the manifest exactly" if resolved["manifest"] else "restored (foreign backup, no manifest)"
        summary = "%s: %d tables, %d rows %s; restore %.1f s, verify %.1f s (RTO objective %.0f s)" % (
            outcome["backup"]["dump_path"].rsplit(os.sep, 1)[-1], len(restored["tables"]), rows, proven,
            outcome["restore_ms"] / 1000.0, outcome["verify_ms"] / 1000.0, objective_ms / 1000.0)
    if record and resolved["manifest"]:
        stem = resolved["manifest"]["manifest_path"][: -len(backup_manifest.MANIFEST_SUFFIX)]
        backup_manifest.write_json(stem + backup_manifest.VERIFY_SUFFIX, {
            "status": OK if not mismatches else CRITICAL, "verified_at": iso(utc_now()),
            "restore_ms": outcome["restore_ms"], "verify_ms": outcome["verify_ms"],
            "mismatches": [f["title"] for f in mismatches][:20]})
    return result(status, summary, findings, metrics, total.ms)


VERIFY_ITEM_KEYS = ("backup", "backup_name", "pattern", "source", "target_database", "keep", "jobs", "decrypt_key_file",
                    "rto_objective_s", "work_dir", "stale_after_s", "record", "pg_bindir")


def verify_backups(params, check_mode=False):
    """Restore-verify every item of one upkeep_restore_verify call, one after the other (each
    restore loads the server fully). Items' connection options describe the restore server.
    Every item is validated before the first restore. Returns ``(checks, outcomes)``."""
    from .pg import connection_kwargs, fleet_targets

    targets = fleet_targets(params, "backups", VERIFY_ITEM_KEYS)
    for target in targets:
        if not target.get("backup"):
            raise ParameterError("%sbackup: required (a manifest, a dump, or a directory of backups)" % target["where"])
        if not os.path.exists(target["backup"]):
            raise ParameterError("%sbackup: %s does not exist" % (target["where"], target["backup"]))
        if target.get("target_database"):
            refuse_target_name(target["target_database"], target, target.get("source"), target["where"])
        connection_kwargs(dict(target, database=target.get("database") or "postgres"))
        if target.get("source"):
            connection_kwargs(dict(target["source"], where=target["where"] + "source."))
    checks, outcomes = [], []
    for target in targets:
        server = {key: target.get(key) for key in target if key not in VERIFY_ITEM_KEYS}
        outcome = restore_and_verify(
            target["backup"], server, source=target.get("source"), jobs=int(target.get("jobs") or 2),
            keep=bool(target.get("keep")), target_database=target.get("target_database"),
            decrypt_key_file=target.get("decrypt_key_file"), rto_objective_s=float(target.get("rto_objective_s") or 3600),
            check_mode=check_mode, work_dir=target.get("work_dir"), pg_bindir=target.get("pg_bindir"),
            stale_after_s=float(target.get("stale_after_s") or DEFAULT_STALE_AFTER_S),
            record=target.get("record") is not False, name=target.get("backup_name"),
            pattern=target.get("pattern") or "*", inventory_host=target.get("inventory_host"))
        checks.append(outcome["check"])
        outcomes.append({key: value for key, value in outcome.items() if key != "check"})
    return checks, outcomes
