"""backup.tree on real directories: missing, changed, extra files, RPO exposure, symlinks, secrets."""

from __future__ import annotations

import hashlib
import json
import os
import time

import pytest

from ansible.module_utils.upkeep.result import ParameterError
from ansible.module_utils.upkeep.tree_backup import check_trees, compare_trees, file_sha256
from upkeep.sandbox.extensions import assets_and_git

HOUR = 3600.0


def _tree(root, files, mtime=None):
    for relative, data in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if mtime is not None:
            os.utime(path, (mtime, mtime))
    return str(root)


@pytest.fixture
def pair(tmp_path):
    files = {"a.txt": b"alpha\n", "sub/b.bin": os.urandom(5000), "sub/deeper/c.cfg": b"key=value\n"}
    return _tree(tmp_path / "src", files), _tree(tmp_path / "copy", files), tmp_path


def test_identical_trees_are_ok_and_every_byte_is_hashed(pair):
    source, copy, _ = pair
    result = compare_trees(source, copy)
    assert result["status"] == "ok" and result["findings"] == []
    metrics = result["metrics"]
    assert metrics["source_files"] == metrics["copy_files"] == 3
    assert metrics["hashed_bytes"] == 2 * metrics["source_bytes"]
    assert (metrics["missing_files"], metrics["changed_files"], metrics["extra_files"]) == (0, 0, 0)


def test_missing_changed_and_extra_files_each_give_a_precise_finding(pair):
    source, copy, tmp = pair
    (tmp / "copy/a.txt").unlink()
    (tmp / "copy/sub/deeper/c.cfg").write_bytes(b"key=VALUE\n")  # same size: only the hash finds it
    (tmp / "copy/old.log").write_bytes(b"gone from the source")
    result = compare_trees(source, copy)
    assert result["status"] == "warning"  # fresh changes: inside the 24 h RPO
    by_title = {f["title"]: f for f in result["findings"]}
    assert by_title["File missing from the backup copy"]["resource"] == "a.txt"
    changed = by_title["File differs in the backup copy"]
    assert changed["resource"] == os.path.join("sub", "deeper", "c.cfg")
    assert "content differs" in changed["detail"]
    expected = hashlib.sha256(b"key=value\n").hexdigest()
    assert expected[:12] in changed["detail"] and expected not in changed["detail"]
    assert by_title["File only in the backup copy"]["severity"] == "info"
    assert (result["metrics"]["missing_files"], result["metrics"]["changed_files"],
            result["metrics"]["extra_files"]) == (1, 1, 1)


def test_a_change_unprotected_longer_than_the_rpo_is_critical(pair):
    source, copy, tmp = pair
    (tmp / "copy/a.txt").unlink()
    old = time.time() - 30 * HOUR
    os.utime(tmp / "src/a.txt", (old, old))
    result = compare_trees(source, copy, rpo_hours=24)
    assert result["status"] == "critical"
    assert 29.9 <= result["metrics"]["unprotected_change_age_hours"] <= 30.5
    assert result["findings"][0]["severity"] == "critical"
    assert compare_trees(source, copy, rpo_hours=48)["status"] == "warning"


def test_extra_files_alone_leave_the_backup_ok(pair):
    source, copy, tmp = pair
    (tmp / "copy/stale.txt").write_text("x")
    assert compare_trees(source, copy)["status"] == "ok"


def test_symlinks_are_compared_by_target_and_never_followed_outside_the_tree(tmp_path):
    outside = tmp_path / "outside"
    _tree(outside, {"secret.txt": b"do not read me", "many/x": b"1", "many/y": b"2"})
    source = _tree(tmp_path / "src", {"a": b"1"})
    copy = _tree(tmp_path / "copy", {"a": b"1"})
    for root in (source, copy):
        os.symlink(str(outside / "secret.txt"), os.path.join(root, "link"))
    os.symlink(str(outside), os.path.join(source, "dirlink"))
    result = compare_trees(source, copy)
    assert result["metrics"]["source_files"] == 3  # a, link, dirlink: nothing under outside/
    assert result["metrics"]["missing_files"] == 1 and result["findings"][0]["resource"] == "dirlink"
    assert result["metrics"]["hashed_bytes"] == 2  # only "a" on both sides
    os.remove(os.path.join(copy, "link"))
    os.symlink("/elsewhere", os.path.join(copy, "link"))
    details = {f["resource"]: f["detail"] for f in compare_trees(source, copy)["findings"]}
    assert details["link"].startswith("symlink differs")


def test_excluded_patterns_are_left_out_on_both_sides(pair):
    source, copy, tmp = pair
    (tmp / "src/cache").mkdir()
    (tmp / "src/cache/big.tmp").write_text("x")
    (tmp / "src/note.tmp").write_text("x")
    assert compare_trees(source, copy)["metrics"]["missing_files"] == 2
    assert compare_trees(source, copy, exclude=["cache", "*.tmp"])["status"] == "ok"


def test_missing_source_or_copy_is_critical(pair):
    source, copy, tmp = pair
    assert compare_trees(str(tmp / "nope"), copy)["status"] == "critical"
    result = compare_trees(source, str(tmp / "nope"))
    assert result["status"] == "critical" and result["findings"][0]["title"] == "Backup copy missing"


def test_findings_are_capped_but_metrics_count_everything(tmp_path):
    source = _tree(tmp_path / "src", {"f%03d" % i: b"x" for i in range(50)})
    (tmp_path / "copy").mkdir()
    result = compare_trees(source, str(tmp_path / "copy"), max_findings=5)
    assert result["metrics"]["missing_files"] == 50
    assert len(result["findings"]) == 6 and "45 more" in result["findings"][-1]["detail"]


def test_large_files_hash_in_chunks_to_the_same_digest(tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 17)
    path = tmp_path / "big"
    path.write_bytes(data)
    assert file_sha256(str(path)) == hashlib.sha256(data).hexdigest()


def test_sandbox_trees_show_the_planted_problems_and_no_config_value(tmp_path):
    trees = assets_and_git.make_asset_trees(tmp_path)
    images, config = check_trees({"trees": trees})
    assert images["status"] == "critical"
    assert [f["resource"] for f in images["findings"]] == [assets_and_git.MISSING_IMAGE]
    assert config["status"] == "warning"
    assert [f["resource"] for f in config["findings"]] == [assets_and_git.CHANGED_CONFIG]
    said = json.dumps([images, config])
    assert assets_and_git.FAKE_SECRET not in said and "LOG_LEVEL" not in said


@pytest.mark.parametrize("item, message", [
    ({"source": "relative", "copy": "/tmp/x"}, "trees[0].source: must be an absolute path"),
    ({"source": "/srv/a", "copy": "/srv/a/backup"}, "trees[0]: source and copy must be separate trees"),
    ({"source": "/srv/a", "copy": "/srv/b", "rpo_hours": 0}, "trees[0].rpo_hours: must be above 0"),
    ({"source": "/srv/a"}, "trees[0].copy: required"),
])
def test_bad_parameters_name_the_parameter(item, message):
    with pytest.raises(ParameterError, match=message.replace("[", r"\[").replace("]", r"\]")):
        check_trees({"trees": [item]})
