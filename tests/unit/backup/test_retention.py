"""Retention: newest N, last of each day/week/month, never the only good (verified) backup."""

from __future__ import annotations

import datetime
import json
import os

from ansible.module_utils.upkeep import backup_manifest, backup_retention


def _fake(directory, when, size=10, verified=None):
    stem = os.path.join(str(directory), "app-%s" % when.strftime("%Y%m%dT%H%M%SZ"))
    with open(stem + ".dump", "wb") as handle:
        handle.write(b"x" * size)
    manifest = {"format": backup_manifest.MANIFEST_FORMAT, "name": "app",
                "finished_at": when.isoformat().replace("+00:00", "Z"),
                "dump": {"path": os.path.basename(stem) + ".dump",
                         "files": [{"path": os.path.basename(stem) + ".dump", "size_bytes": size, "sha256": "-"}]}}
    with open(stem + ".manifest.json", "w") as handle:
        json.dump(manifest, handle)
    if verified:
        with open(stem + ".verify.json", "w") as handle:
            json.dump({"status": verified}, handle)
    return stem + ".manifest.json"


def _plan(directory, **keep):
    return backup_retention.plan(backup_manifest.list_manifests(str(directory), "app"), **keep)


def test_grandfather_father_son(tmp_path):
    start = datetime.datetime(2026, 1, 1, 3, 0, tzinfo=datetime.timezone.utc)
    paths = [_fake(tmp_path, start + datetime.timedelta(hours=12 * i)) for i in range(120)]  # 60 days, 2 a day
    decision = _plan(tmp_path, keep_last=3, keep_daily=7, keep_weekly=4, keep_monthly=3)
    kept = {item["path"] for item in decision["keep"]}
    assert set(paths[-3:]) <= kept
    # the last backup of each of the 7 newest days is the 15:00 one
    assert all(paths[-1 - 2 * d] in kept for d in range(7))
    assert paths[-2 - 2 * 7] not in kept  # 03:00 of an older day: neither newest nor last of its day
    assert len(decision["keep"]) + len(decision["delete"]) == 120
    assert 10 <= len(kept) <= 17


def test_never_deletes_the_only_verified_backup(tmp_path):
    start = datetime.datetime(2026, 3, 1, tzinfo=datetime.timezone.utc)
    old_verified = _fake(tmp_path, start, verified="ok")
    for i in range(1, 6):
        _fake(tmp_path, start + datetime.timedelta(minutes=i), verified="critical" if i == 5 else None)
    decision = _plan(tmp_path, keep_last=1, keep_daily=0, keep_weekly=0, keep_monthly=0)
    kept = {item["path"]: item["reasons"] for item in decision["keep"]}
    assert kept[old_verified] == ["newest verified good backup"]
    assert len(kept) == 2 and len(decision["delete"]) == 4


def test_a_truncated_backup_is_not_good(tmp_path):
    start = datetime.datetime(2026, 3, 1, tzinfo=datetime.timezone.utc)
    good = _fake(tmp_path, start)
    broken = _fake(tmp_path, start + datetime.timedelta(hours=1))
    with open(broken.replace(".manifest.json", ".dump"), "wb") as handle:
        handle.write(b"x")
    decision = _plan(tmp_path, keep_last=1, keep_daily=0, keep_weekly=0, keep_monthly=0)
    kept = {item["path"]: item["reasons"] for item in decision["keep"]}
    assert kept == {broken: ["newest 1"], good: ["newest good backup (none verified yet)"]}


def test_delete_removes_every_file_of_a_backup(tmp_path):
    path = _fake(tmp_path, datetime.datetime(2026, 3, 1, tzinfo=datetime.timezone.utc), verified="ok")
    backup_retention.delete_backup(path, path.replace(".manifest.json", ".dump"))
    assert os.listdir(str(tmp_path)) == []
