# -*- coding: utf-8 -*-
"""Compare an asset or configuration directory with its backup copy (check ``backup.tree``).

Runs on the app host: standard library only. Files are compared by size first and, when the
sizes agree, by a streamed sha256 of both sides, so a tree of any size costs constant memory per
file. Results name paths, sizes and truncated hashes only: a configuration file's content (an
``.env`` with keys in it) never reaches a result.

The RPO exposure is the age of the oldest source change the copy does not hold: a file missing
from the copy, or different in it, has been unprotected since its source mtime at the latest.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import stat
import time

from .result import CRITICAL, OK, WARNING, ParameterError, Stopwatch, check, finding, thresholds, worst

CHECK_ID = "backup.tree"
CHUNK_BYTES = 1024 * 1024
HASH_SHOWN = 12
DEFAULT_RPO_HOURS = 24.0  # the guide: configuration and static assets < 24 hours
DEFAULT_MAX_FINDINGS = 20


def tree_item_spec():
    """Options every tree item takes (and their top-level defaults)."""
    return dict(
        exclude=dict(type="list", elements="str"),
        rpo_hours=dict(type="float"),
    )


def scan_tree(root, exclude=()):
    """``{relative path: (kind, size, mtime, link target)}`` of everything under ``root``.

    Iterative os.scandir (no recursion limit, no list of the whole tree per directory); symlinks
    are recorded as links by their target text and never followed, so a link cannot lead the
    walk (or the hashing) outside the tree. ``exclude`` holds fnmatch patterns matched against
    the relative path and the base name; an excluded directory is not entered.
    """
    entries = {}
    unreadable = []
    pending = [""]
    while pending:
        relative_dir = pending.pop()
        try:
            iterator = os.scandir(os.path.join(root, relative_dir) if relative_dir else root)
        except OSError as exc:
            unreadable.append((relative_dir or ".", exc.strerror or str(exc)))
            continue
        with iterator:
            for entry in iterator:
                relative = os.path.join(relative_dir, entry.name) if relative_dir else entry.name
                if _excluded(relative, entry.name, exclude):
                    continue
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError as exc:
                    unreadable.append((relative, exc.strerror or str(exc)))
                    continue
                if stat.S_ISLNK(info.st_mode):
                    entries[relative] = ("link", 0, info.st_mtime, os.readlink(entry.path))
                elif stat.S_ISDIR(info.st_mode):
                    pending.append(relative)
                elif stat.S_ISREG(info.st_mode):
                    entries[relative] = ("file", info.st_size, info.st_mtime, None)
    return entries, unreadable


def _excluded(relative, name, patterns):
    return any(fnmatch.fnmatchcase(relative, pattern) or fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _short(digest):
    return digest[:HASH_SHOWN] if digest else ""


def compare_trees(source, copy, name=None, exclude=(), rpo_hours=DEFAULT_RPO_HOURS,
                  max_findings=DEFAULT_MAX_FINDINGS, now=None):
    """One ``backup.tree`` check for the pair (``source``, ``copy``)."""
    now = time.time() if now is None else now
    target = name or "%s -> %s" % (source, copy)
    with Stopwatch() as watch:
        if not os.path.isdir(source):
            return check(CHECK_ID, target, CRITICAL, "source directory %s does not exist" % source,
                         findings=[finding(CRITICAL, "Source directory missing", source,
                                           remediation="Fix the tree's source path in the inventory.")],
                         duration_ms=watch.ms)
        if not os.path.isdir(copy):
            return check(CHECK_ID, target, CRITICAL, "backup copy %s does not exist" % copy,
                         findings=[finding(CRITICAL, "Backup copy missing", copy,
                                           remediation="Run the asset/configuration backup job and check its target.")],
                         duration_ms=watch.ms)
        source_entries, source_unreadable = scan_tree(source, exclude)
        copy_entries, copy_unreadable = scan_tree(copy, exclude)
        diff = _diff(source, copy, source_entries, copy_entries)
    return _judge(target, source, copy, source_entries, copy_entries, diff,
                  source_unreadable + copy_unreadable, rpo_hours, max_findings, now, watch.ms)


def _diff(source, copy, source_entries, copy_entries):
    """Missing, changed and extra paths; hashes only files whose sizes agree."""
    missing, changed, extra, unreadable = [], [], [], []
    hashed_bytes = 0
    for relative in sorted(source_entries):
        kind, size, mtime, link = source_entries[relative]
        other = copy_entries.get(relative)
        if other is None:
            missing.append({"path": relative, "size_bytes": size, "mtime": mtime})
            continue
        if kind != other[0] or (kind == "link" and link != other[3]):
            changed.append({"path": relative, "size_bytes": size, "copy_size_bytes": other[1], "mtime": mtime,
                            "reason": "symlink differs" if "link" in (kind, other[0]) else "type differs"})
            continue
        if kind == "link":
            continue
        if size != other[1]:
            changed.append({"path": relative, "size_bytes": size, "copy_size_bytes": other[1], "mtime": mtime,
                            "reason": "size differs"})
            continue
        try:
            source_hash = file_sha256(os.path.join(source, relative))
            copy_hash = file_sha256(os.path.join(copy, relative))
        except OSError as exc:
            unreadable.append((relative, exc.strerror or str(exc)))
            continue
        hashed_bytes += 2 * size
        if source_hash != copy_hash:
            changed.append({"path": relative, "size_bytes": size, "copy_size_bytes": other[1], "mtime": mtime,
                            "reason": "content differs", "sha256": _short(source_hash),
                            "copy_sha256": _short(copy_hash)})
    for relative in sorted(set(copy_entries) - set(source_entries)):
        extra.append({"path": relative, "size_bytes": copy_entries[relative][1]})
    return {"missing": missing, "changed": changed, "extra": extra, "unreadable": unreadable,
            "hashed_bytes": hashed_bytes}


def _newest(entries):
    return max((item[2] for item in entries.values()), default=None)


def _age_hours(now, stamp):
    return None if stamp is None else round(max(0.0, now - stamp) / 3600.0, 2)


def _judge(target, source, copy, source_entries, copy_entries, diff, unreadable, rpo_hours, max_findings, now, ms):
    missing, changed, extra = diff["missing"], diff["changed"], diff["extra"]
    unreadable = unreadable + diff["unreadable"]
    pending = missing + changed
    oldest_pending = min((item["mtime"] for item in pending), default=None)
    exposure_hours = _age_hours(now, oldest_pending) or 0.0
    metrics = {
        "source_files": len(source_entries),
        "copy_files": len(copy_entries),
        "source_bytes": sum(item[1] for item in source_entries.values()),
        "missing_files": len(missing),
        "changed_files": len(changed),
        "extra_files": len(extra),
        "unreadable_files": len(unreadable),
        "hashed_bytes": diff["hashed_bytes"],
        "source_newest_change_age_hours": _age_hours(now, _newest(source_entries)),
        "copy_newest_change_age_hours": _age_hours(now, _newest(copy_entries)),
        "unprotected_change_age_hours": exposure_hours,
    }
    # Anything not in the copy is a warning; once it has been unprotected longer than the RPO
    # the backup has failed its objective: critical.
    statuses = [OK]
    if pending:
        statuses.append(CRITICAL if exposure_hours >= rpo_hours else WARNING)
    if unreadable:
        statuses.append(WARNING)
    status = worst(statuses)

    findings = []
    remediation = "Re-run the backup of this tree and check why the last run did not copy it."
    for item in missing[:max_findings]:
        findings.append(finding(_severity(now, item["mtime"], rpo_hours), "File missing from the backup copy",
                                item["path"], "%d bytes, changed %.1f h ago" % (item["size_bytes"],
                                                                                _age_hours(now, item["mtime"])),
                                remediation))
    for item in changed[:max_findings]:
        detail = "%s: %d bytes in the source, %d in the copy" % (item["reason"], item["size_bytes"],
                                                                 item["copy_size_bytes"])
        if item.get("sha256"):
            detail += "; sha256 %s... vs %s..." % (item["sha256"], item["copy_sha256"])
        findings.append(finding(_severity(now, item["mtime"], rpo_hours), "File differs in the backup copy",
                                item["path"], detail + "; changed %.1f h ago" % _age_hours(now, item["mtime"]),
                                remediation))
    for item in extra[:max_findings]:
        findings.append(finding("info", "File only in the backup copy", item["path"],
                                "%d bytes; deleted or moved in the source" % item["size_bytes"]))
    for relative, reason in unreadable[:max_findings]:
        findings.append(finding(WARNING, "Could not read", relative, reason,
                                "Give the upkeep user read access to both trees."))
    hidden = sum(max(0, len(group) - max_findings) for group in (missing, changed, extra, unreadable))
    if hidden:
        findings.append(finding("info", "More differences not listed", target,
                                "%d more; the metrics count them all" % hidden))

    if pending:
        summary = "%d missing, %d changed, %d extra of %d files; oldest unprotected change %.1f h old (RPO %g h)" % (
            len(missing), len(changed), len(extra), len(source_entries), exposure_hours, rpo_hours)
    else:
        summary = "backup copy holds all %d files (%d extra)" % (len(source_entries), len(extra))
    return check(CHECK_ID, target, status, summary, metrics=metrics,
                 thresholds={"unprotected_change_age_hours": thresholds(critical=rpo_hours)},
                 findings=findings, duration_ms=ms, source=source, copy=copy)


def _severity(now, mtime, rpo_hours):
    return CRITICAL if (now - mtime) / 3600.0 >= rpo_hours else WARNING


def check_trees(params, now=None):
    """``backup.tree`` checks for every item of ``params["trees"]``, in order."""
    trees = params.get("trees") or []
    default_exclude = params.get("exclude") or []
    default_rpo = params.get("rpo_hours")
    default_rpo = DEFAULT_RPO_HOURS if default_rpo is None else default_rpo
    max_findings = params.get("max_findings")
    max_findings = DEFAULT_MAX_FINDINGS if max_findings is None else max_findings
    if max_findings < 0:
        raise ParameterError("max_findings: must be 0 or more, got %r" % max_findings)
    checks = []
    for index, item in enumerate(trees):
        for key in ("source", "copy"):
            if not item.get(key):
                raise ParameterError("trees[%d].%s: required" % (index, key))
            if not os.path.isabs(item[key]):
                raise ParameterError("trees[%d].%s: must be an absolute path, got %r" % (index, key, item[key]))
        source, copy = os.path.normpath(item["source"]), os.path.normpath(item["copy"])
        if source == copy or copy.startswith(source + os.sep) or source.startswith(copy + os.sep):
            raise ParameterError("trees[%d]: source and copy must be separate trees, got %s and %s"
                                 % (index, source, copy))
        rpo = item.get("rpo_hours")
        rpo = default_rpo if rpo is None else rpo
        if rpo <= 0:
            raise ParameterError("trees[%d].rpo_hours: must be above 0, got %r" % (index, rpo))
        exclude = item.get("exclude")
        checks.append(compare_trees(source, copy, name=item.get("name"),
                                    exclude=default_exclude if exclude is None else exclude,
                                    rpo_hours=rpo, max_findings=max_findings, now=now))
    return checks
