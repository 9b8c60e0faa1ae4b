# -*- coding: utf-8 -*-
"""``upkeep_backup_check``: are the backups there, fresh, intact, of a plausible size, encrypted?

A source is a directory of dumps (upkeep's own, with manifests, and foreign pg_dump files matched
by a pattern: custom, directory, plain or gzipped SQL) or a Supabase project, whose backup list
comes from the Management API (``GET /v1/projects/{ref}/database/backups``: ``region``,
``walg_enabled``, ``pitr_enabled``, ``backups[{is_physical_backup, status, inserted_at}]``,
``physical_backup_data{earliest,latest_physical_backup_date_unix}``). Per source it emits
``backup.freshness`` (newest backup's age against the RPO objective), ``backup.integrity``
(checksums against the manifest, the archive readable by pg_restore, a plain dump complete),
``backup.size`` (change against the previous backup) and ``backup.encryption`` (policy, and the
configured key can read it). Nothing is written.
"""

from __future__ import annotations

import datetime
import fnmatch
import gzip
import os
import zlib

from . import backup_crypto, backup_manifest
from .backup import age_text, archive_list, detect_format, find_tool, restore_error_cause, run_tool, utc_now
from .backup_sql import PLAIN_END
from .backup_preflight import integrity_findings
from .result import (CRITICAL, OK, UNKNOWN, WARNING, ParameterError, check, finding, judge, thresholds,
                     unknown_check, worst)

SOURCE_DEFAULTS = {"type": "directory", "pattern": "*", "rpo_hours": 24.0, "freshness_warning_hours": None,
                   "size_change_warning_pct": 50.0, "size_change_critical_pct": 90.0, "encryption_required": False,
                   "deep": True, "api_url": "https://api.supabase.com", "timeout_s": 10.0}
SUPABASE_OK = "COMPLETED"


def source_spec():
    """Per-source options of upkeep_backup_check (argument-spec form)."""
    return dict(
        name=dict(type="str"), inventory_host=dict(type="str"),
        type=dict(type="str", choices=["directory", "supabase"]), path=dict(type="path"), pattern=dict(type="str"),
        backup_name=dict(type="str"), rpo_hours=dict(type="float"), freshness_warning_hours=dict(type="float"),
        size_change_warning_pct=dict(type="float"), size_change_critical_pct=dict(type="float"),
        encryption_required=dict(type="bool"), decrypt_key_file=dict(type="path", no_log=False), deep=dict(type="bool"),
        project_ref=dict(type="str"), api_url=dict(type="str"), access_token=dict(type="str", no_log=True),
        ca_file=dict(type="path"), timeout_s=dict(type="float"), pg_bindir=dict(type="path"),
    )


def _settings(item, defaults, index):
    where = "sources[%d]." % index
    merged = {k: item.get(k) if item.get(k) is not None else defaults.get(k) for k in set(source_spec()) | set(SOURCE_DEFAULTS)}
    for key, value in SOURCE_DEFAULTS.items():
        if merged.get(key) is None:
            merged[key] = value
    merged["where"] = where
    if merged["type"] == "directory":
        if not merged.get("path"):
            raise ParameterError("%spath: required for a directory source" % where)
    elif merged["type"] == "supabase":
        if not merged.get("project_ref") or not merged.get("access_token"):
            raise ParameterError("%sproject_ref and access_token: both required for a supabase source" % where)
        if not str(merged["api_url"]).startswith(("https://", "http://")):
            raise ParameterError("%sapi_url: must be an http(s) URL" % where)
    else:
        raise ParameterError("%stype: must be directory or supabase, got %r" % (where, merged["type"]))
    if merged["rpo_hours"] <= 0:
        raise ParameterError("%srpo_hours: must be more than 0, got %r" % (where, merged["rpo_hours"]))
    merged["label"] = merged.get("name") or merged.get("path") or merged.get("project_ref")
    return merged


def _parse_time(text):
    return datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00")).astimezone(datetime.timezone.utc)


def list_backups(path, pattern="*", backup_name=None):
    """Every backup in ``path``, newest first: ``{"kind", "path", "format", "time", "size_bytes",
    "manifest"}``; upkeep backups by their snapshot time, foreign dumps by modification time."""
    found, covered = [], set()
    for manifest in backup_manifest.list_manifests(path, backup_name):
        covered.add(os.path.basename(manifest["manifest_path"]))
        if manifest.get("error"):
            found.append({"kind": "broken", "path": manifest["manifest_path"], "format": None,
                          "time": None, "size_bytes": 0, "manifest": None, "error": manifest["error"]})
            continue
        covered.add(manifest["dump"]["path"])
        found.append({"kind": "upkeep", "path": manifest["dump_path"], "time": _parse_time(manifest["snapshot_time"]),
                      "format": "encrypted" if manifest.get("encryption") else manifest["dump"]["format"],
                      "size_bytes": manifest["dump"]["size_bytes"], "manifest": manifest})
    for entry in sorted(os.listdir(path)):
        full = os.path.join(path, entry)
        if entry in covered or entry.endswith((backup_manifest.VERIFY_SUFFIX, ".partial", ".tmp")) \
                or not fnmatch.fnmatch(entry, pattern):
            continue
        fmt = detect_format(full)
        if fmt is None:
            continue
        size = sum(os.path.getsize(os.path.join(full, e)) for e in os.listdir(full)) if os.path.isdir(full) \
            else os.path.getsize(full)
        found.append({"kind": "foreign", "path": full, "format": fmt, "size_bytes": size, "manifest": None,
                      "time": datetime.datetime.fromtimestamp(os.path.getmtime(full), datetime.timezone.utc)})
    epoch = datetime.datetime.min.replace(tzinfo=datetime.timezone.utc)
    found.sort(key=lambda b: b["time"] or epoch, reverse=True)
    return found


def freshness_check(label, newest_time, settings, host, now=None, what="backup"):
    now = now or utc_now()
    rpo = float(settings["rpo_hours"])
    warn = settings.get("freshness_warning_hours")
    warn = float(warn) if warn is not None else round(rpo * 0.8, 3)
    limits = {"newest_age_hours": thresholds(warn, rpo)}
    if newest_time is None:
        return check("backup.freshness", label, CRITICAL, "no %s found" % what, thresholds=limits, host=host,
                     findings=[finding(CRITICAL, "No backup found", label, "",
                                       "Check that the backup job runs and writes where this check looks.")])
    age_h = (now - newest_time).total_seconds() / 3600.0
    status = judge(age_h, warn, rpo)
    findings = []
    if status != OK:
        findings.append(finding(status, "Newest backup is %s old; the RPO objective is %g h" % (age_text(age_h), rpo),
                                label, "newest %s taken %s" % (what, newest_time.isoformat(timespec="seconds")),
                                "A failure now would lose %s of data: check the backup schedule and its last "
                                "runs." % age_text(age_h)))
    return check("backup.freshness", label, status, "newest %s is %s old (RPO objective %g h)" % (what, age_text(age_h), rpo),
                 metrics={"newest_age_hours": round(age_h, 3), "rpo_objective_hours": rpo}, thresholds=limits,
                 findings=findings, host=host, newest_at=newest_time.isoformat(timespec="seconds"))


def _read_findings(item, pg_restore, deep, key):
    """Findings on whether the backup ``item`` reads (archive TOC, full read, plain dump complete)."""
    path, fmt = item["path"], item["format"]
    name = os.path.basename(path)
    if fmt == "encrypted":
        if key is None:
            return []
        try:
            for _ in backup_crypto.decrypt_chunks(path, key, limit_chunks=None if deep else 1):
                pass
        except backup_crypto.DecryptError as exc:
            return [finding(CRITICAL, "%s does not decrypt: %s" % (name, exc), path)]
        return []
    if fmt in ("custom", "directory"):
        ok, toc = archive_list(pg_restore, path)
        if not ok:
            return [finding(CRITICAL, "pg_restore cannot read %s: %s" % (name, restore_error_cause(toc.splitlines())),
                            path, toc[:2000], "The archive is damaged or truncated; use another backup.")]
        if deep and item["kind"] == "foreign":
            rc, _, err = run_tool([pg_restore, "-f", os.devnull, path], timeout_s=3600)
            if rc != 0:
                return [finding(CRITICAL, "%s is damaged: reading its data fails: pg_restore: %s" % (
                    name, restore_error_cause(err.splitlines())), path, err[:2000],
                    "The archive's data blocks do not read (truncated or altered): use another backup.")]
        return []
    try:
        opener = gzip.open if fmt == "gzip" else open
        tail = b""
        with opener(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                tail = (tail + block)[-256:]
    except (OSError, EOFError, zlib.error) as exc:
        return [finding(CRITICAL, "%s is damaged: %s" % (name, exc), path, "", "Use another backup.")]
    if PLAIN_END not in tail:
        return [finding(CRITICAL, "%s is incomplete: no 'dump complete' trailer at its end" % name, path, "",
                        "pg_dump did not finish writing this file (killed, disk full): use another backup.")]
    return []


def integrity_check(label, items, settings, host, key):
    if not items:
        return check("backup.integrity", label, UNKNOWN, "no backup to check", host=host)
    newest = items[0]
    if newest["kind"] == "broken":
        return check("backup.integrity", label, CRITICAL, "newest manifest unreadable", host=host,
                     findings=[finding(CRITICAL, "Unreadable manifest", newest["path"], newest["error"])])
    pg_restore = find_tool("pg_restore", settings.get("pg_bindir"))
    findings = integrity_findings(newest["manifest"]) if newest["manifest"] else []
    if not findings:
        findings = _read_findings(newest, pg_restore, settings["deep"], key)
    name = os.path.basename(newest["path"])
    # Intact bytes do not make a backup restorable: a restore verification (upkeep_restore_verify
    # records it beside the manifest) that failed on this very backup outweighs every checksum.
    verified = backup_manifest.verification_record(newest["manifest"]) if newest["manifest"] else {}
    if verified.get("status") == CRITICAL:
        problems = verified.get("mismatches") or ["no detail recorded"]
        findings.append(finding(
            CRITICAL, "The last restore verification of %s failed (%s): %s" % (
                name, verified.get("verified_at", "time not recorded"), problems[0]), newest["path"],
            "\n".join(problems[:10]),
            "This backup did not restore as it was taken: fix the cause and verify again, or rely on another backup."))
    read = ", archive reads" if settings["deep"] or newest["manifest"] else \
        ", its table of contents reads; data not read (deep: false)"
    how = ("sha256 matches the manifest" if newest["manifest"] else "no manifest") + (
        read if newest["format"] in ("custom", "directory") else "") + (
        ", restore verified %s" % verified["verified_at"] if verified.get("status") == OK else "")
    summary = ("%s: %s" % (name, findings[0]["title"])) if findings else "%s intact (%s)" % (name, how)
    return check("backup.integrity", label, worst(f["severity"] for f in findings) if findings else OK, summary,
                 findings=findings, host=host, backup=newest["path"], backup_format=newest["format"])


def size_check(label, items, settings, host):
    usable = [i for i in items if i["kind"] != "broken"]
    warn, crit = float(settings["size_change_warning_pct"]), float(settings["size_change_critical_pct"])
    limits = {"size_change_pct": thresholds(warn, crit)}
    if len(usable) < 2:
        size = usable[0]["size_bytes"] if usable else 0
        return check("backup.size", label, OK, "only one backup, nothing to compare (%d bytes)" % size,
                     metrics={"size_bytes": size}, thresholds=limits, host=host)
    new, previous = usable[0]["size_bytes"], usable[1]["size_bytes"]
    change = (new - previous) * 100.0 / previous if previous else 100.0
    status = judge(abs(change), warn, crit)
    findings = []
    if status != OK:
        findings.append(finding(status, "Newest backup is %s%.0f%% %s than the previous one (%d vs %d bytes)" % (
            "", abs(change), "smaller" if change < 0 else "larger", new, previous), usable[0]["path"], "",
            "A sudden shrink often means tables went missing from the dump or the data was deleted; a jump can "
            "be a runaway table. Compare the manifests' row counts."))
    return check("backup.size", label, status, "newest %d bytes, %+.1f%% vs previous" % (new, change),
                 metrics={"size_bytes": new, "previous_size_bytes": previous, "size_change_pct": round(change, 2)},
                 thresholds=limits, findings=findings, host=host)


def encryption_check(label, items, settings, host, key):
    usable = [i for i in items if i["kind"] != "broken"]
    required = bool(settings["encryption_required"])
    plain = [i for i in usable if i["format"] != "encrypted"]
    findings = []
    if required:
        for item in plain:
            findings.append(finding(CRITICAL, "Unencrypted backup where policy requires encryption: %s"
                                    % os.path.basename(item["path"]), item["path"], "",
                                    "Encrypt it (upkeep_pg_backup encrypt_to) and delete the plain copy."))
    newest = usable[0] if usable else None
    if newest is not None and newest["format"] == "encrypted":
        if key is None:
            findings.append(finding(WARNING if required else "info", "Readability with the key not checked", newest["path"],
                                    "no decrypt_key_file configured"))
        else:
            try:
                for _ in backup_crypto.decrypt_chunks(newest["path"], key, limit_chunks=1):
                    pass
            except backup_crypto.DecryptError as exc:
                findings.append(finding(CRITICAL, "Newest backup cannot be read with the configured key: %s" % exc,
                                        newest["path"], "", "Check which key the backups are encrypted for "
                                        "(recipient_key_sha256 in the manifest)."))
    encrypted = len(usable) - len(plain)
    status = worst(f["severity"] for f in findings if f["severity"] != "info") if findings else OK
    summary = "%d of %d backups encrypted (%s)" % (encrypted, len(usable), "required" if required else "not required")
    return check("backup.encryption", label, status, summary, findings=findings, host=host,
                 metrics={"backups": len(usable), "encrypted_backups": encrypted, "unencrypted_backups": len(plain)})


def check_directory(settings):
    label, host = settings["label"], settings.get("inventory_host")
    if not os.path.isdir(settings["path"]):
        return [unknown_check(cid, label, "backup directory %s does not exist or cannot be read" % settings["path"],
                              host=host) for cid in ("backup.freshness", "backup.integrity", "backup.size",
                                                     "backup.encryption")]
    key = None
    if settings.get("decrypt_key_file"):
        try:
            key = backup_crypto.load_private_key(settings["decrypt_key_file"])
        except (OSError, ValueError) as exc:
            raise ParameterError("%sdecrypt_key_file: %s" % (settings["where"], exc))
    items = list_backups(settings["path"], settings["pattern"], settings.get("backup_name"))
    dated = [i for i in items if i["time"] is not None]
    return [freshness_check(label, dated[0]["time"] if dated else None, settings, host),
            integrity_check(label, items, settings, host, key),
            size_check(label, items, settings, host),
            encryption_check(label, items, settings, host, key)]


def check_sources(params):
    """The checks of every source of one upkeep_backup_check call (its params as a dict)."""
    from .backup_supabase import check_supabase

    defaults = {k: params.get(k) for k in source_spec()}
    items = params.get("sources")
    items = [dict(defaults)] if items is None else items
    settings = [_settings(item, defaults, index) for index, item in enumerate(items)]
    checks = []
    for entry in settings:
        checks += check_supabase(entry) if entry["type"] == "supabase" else check_directory(entry)
    return checks
