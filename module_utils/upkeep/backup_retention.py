# -*- coding: utf-8 -*-
"""Which upkeep backups to keep: the newest N, the last of each of the last D days, W ISO weeks and
M months (the grandfather-father-son scheme restic and borg use), and never the only good one.

A backup is *good* when its manifest reads and every file it lists exists with the recorded size;
it is *verified* when a restore verification recorded success for it. The newest verified good
backup is always kept; when none is verified, the newest good one is. Backups whose manifest does
not read are left alone: upkeep does not delete what it cannot identify.
"""

from __future__ import annotations

import datetime
import os
import shutil

from .backup_manifest import MANIFEST_SUFFIX, VERIFY_SUFFIX, verification_record


def is_good(manifest):
    """Every file the manifest lists exists with its recorded size (cheap; sha256 is backup_check's job)."""
    if manifest.get("error"):
        return False
    base = os.path.dirname(manifest["manifest_path"])
    for entry in manifest.get("dump", {}).get("files", []):
        path = os.path.join(base, entry["path"])
        if not os.path.isfile(path) or os.path.getsize(path) != entry["size_bytes"]:
            return False
    return True


def is_verified(manifest):
    return verification_record(manifest).get("status") == "ok"


def _when(manifest):
    return datetime.datetime.fromisoformat(manifest["finished_at"].replace("Z", "+00:00"))


def plan(manifests, keep_last=7, keep_daily=7, keep_weekly=4, keep_monthly=6):
    """``{"keep": [{path, reasons}], "delete": [path]}`` for ``manifests`` of one source (any order).
    Paths are manifest paths."""
    readable = sorted((m for m in manifests if not m.get("error")), key=lambda m: m["finished_at"], reverse=True)
    reasons = {m["manifest_path"]: [] for m in readable}
    for index, manifest in enumerate(readable):
        if index < keep_last:
            reasons[manifest["manifest_path"]].append("newest %d" % keep_last)
    for noun, limit, bucket in (("day", keep_daily, lambda d: d.strftime("%Y-%m-%d")),
                                ("week", keep_weekly, lambda d: "%d-W%02d" % d.isocalendar()[:2]),
                                ("month", keep_monthly, lambda d: d.strftime("%Y-%m"))):
        seen = []
        for manifest in readable:  # newest first: the first of a bucket is its last backup
            key = bucket(_when(manifest))
            if key in seen:
                continue
            seen.append(key)
            if len(seen) > limit:
                break
            reasons[manifest["manifest_path"]].append("last of %s %s" % (noun, key))
    good = [m for m in readable if is_good(m)]
    verified = [m for m in good if is_verified(m)]
    protected = (verified or good or [None])[0]
    if protected is not None:
        reasons[protected["manifest_path"]].append("newest verified good backup" if verified else
                                                   "newest good backup (none verified yet)")
    keep = [{"path": path, "reasons": why} for path, why in reasons.items() if why]
    delete = [path for path, why in reasons.items() if not why]
    return {"keep": keep, "delete": delete}


def delete_backup(manifest_path, dump_path):
    """Remove one backup: its dump (file or directory), manifest and verification record."""
    if os.path.isdir(dump_path):
        shutil.rmtree(dump_path)
    elif os.path.exists(dump_path):
        os.unlink(dump_path)
    stem = manifest_path[: -len(MANIFEST_SUFFIX)]
    for path in (stem + VERIFY_SUFFIX, manifest_path):
        if os.path.exists(path):
            os.unlink(path)
