# -*- coding: utf-8 -*-
"""Before a restore writes anything: are the backup's files what its manifest says, and is there
room to restore them? Shared by upkeep_restore_verify (which stops at the first problem) and
upkeep_backup_check (which only reads)."""

from __future__ import annotations

import os
import shutil

from . import backup_manifest
from .result import CRITICAL, finding


def integrity_findings(manifest):
    """Findings for files that differ from the manifest (size, sha256, missing)."""
    found = []
    base = os.path.dirname(manifest["manifest_path"])
    for entry in manifest["dump"]["files"]:
        path = os.path.join(base, entry["path"])
        if not os.path.isfile(path):
            found.append(finding(CRITICAL, "Backup file missing: %s" % entry["path"], path, "",
                                 "Restore the file from another copy; this backup cannot be restored."))
            continue
        size = os.path.getsize(path)
        if size != entry["size_bytes"]:
            found.append(finding(CRITICAL, "Backup file truncated or grown: %s is %d bytes, the manifest says %d"
                                 % (entry["path"], size, entry["size_bytes"]), path, "",
                                 "The file was cut short or overwritten; use another backup and check the storage."))
            continue
        digest = backup_manifest.sha256_file(path)
        if digest != entry["sha256"]:
            found.append(finding(CRITICAL, "Backup file corrupted: sha256 of %s differs from the manifest" % entry["path"],
                                 path, "sha256 %s, manifest %s" % (digest, entry["sha256"]),
                                 "The bytes changed after the backup was written (storage fault or tampering); "
                                 "use another backup and check the storage."))
    return found


def free_bytes_findings(admin, needed_bytes, work_dir, work_needed):
    """Findings and metrics on free space: ``work_dir`` for a decrypted copy (``work_needed``
    bytes), the restore server's data directory for about ``needed_bytes``."""
    found, metrics = [], {"space_needed_bytes": int(needed_bytes)}
    free_work = shutil.disk_usage(work_dir).free
    metrics["work_dir_free_bytes"] = free_work
    if work_needed and free_work < work_needed:
        found.append(finding(CRITICAL, "Not enough free space in %s to decrypt the backup: %d bytes free, %d needed"
                             % (work_dir, free_work, work_needed), work_dir))
    try:
        data_dir = admin.execute("SELECT setting FROM pg_settings WHERE name = 'data_directory'").fetchone()
        data_dir = data_dir[0] if data_dir else None
    except Exception:
        data_dir = None
    if data_dir and os.path.isdir(data_dir):
        free = shutil.disk_usage(data_dir).free
        metrics["server_free_bytes"] = free
        if free < needed_bytes:
            found.append(finding(CRITICAL, "Not enough free space on the restore server: %d bytes free, about %d needed"
                                 % (free, needed_bytes), data_dir, "",
                                 "Free space, or restore on a server with more room."))
    else:
        found.append(finding("info", "Free space on the restore server not checked", "",
                             "its data directory is not visible from here (remote server, or the role may not "
                             "read data_directory); about %d bytes are needed" % needed_bytes))
    return found, metrics
