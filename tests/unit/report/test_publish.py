"""The end of a run (upkeep.report.publish): the run directory and ``latest``, the history row,
the publishers after them, and a full disk — a real tmpfs filled to the brim, not a mock."""

from __future__ import annotations

import json
import os

import pytest

from upkeep.history import History
from upkeep.report import render
from upkeep.report.publish import publish

from tests.support.sample_report import make_report
from tests.support.tmpfs import PAGE, fill, tmpfs


def test_files_latest_link_and_a_second_run_in_the_same_second(tmp_path):
    first = make_report()
    published = publish(first, tmp_path, tmp_path / "history.sqlite")
    assert published.problems == [] and sorted(published.written) == sorted(render.FILES)
    assert sorted(os.listdir(published.run_dir)) == sorted(render.FILES)
    assert os.readlink(tmp_path / "latest") == first["run_id"] == published.run_dir.name
    second = make_report()
    second["run_id"] = first["run_id"]  # same second: a suffix keeps both
    again = publish(second, tmp_path, tmp_path / "history.sqlite")
    assert again.run_dir.name == first["run_id"] + "-2" == second["run_id"]
    assert json.loads((again.run_dir / "report.json").read_text())["run_id"] == again.run_dir.name
    assert os.readlink(tmp_path / "latest") == again.run_dir.name
    assert render.find_run(tmp_path, "last") == again.run_dir.resolve()
    assert render.find_run(tmp_path, first["run_id"]) == published.run_dir.resolve()
    with pytest.raises(FileNotFoundError):
        render.find_run(tmp_path, "../etc")
    with History(tmp_path / "history.sqlite") as store:
        assert [run["run_id"] for run in store.runs()] == [second["run_id"], first["run_id"]]


def test_a_failing_publisher_is_recorded_and_loses_nothing(tmp_path):
    seen = []

    def broken(report, run_dir):
        raise RuntimeError("webhook answered 500")

    def after(report, run_dir):
        seen.append(run_dir)

    report = make_report()
    published = publish(report, tmp_path, tmp_path / "history.sqlite",
                        publishers=[("alerts", broken), ("dashboard", after)])
    assert seen == [published.run_dir], "the publisher after the broken one still ran, with the run directory"
    assert published.problems == ["publisher alerts failed: RuntimeError: webhook answered 500"]
    stored = json.loads((published.run_dir / "report.json").read_text())
    assert stored["run"]["publish"] == published.problems, "report.json says what went wrong after it was written"
    assert "webhook answered 500" in (published.run_dir / "report.md").read_text()
    assert stored["status"] == report["status"]
    with History(tmp_path / "history.sqlite") as store:
        assert store.runs()[0]["run_id"] == report["run_id"]


def big_report() -> dict:
    report = make_report()
    template = report["checks"][0]
    report["checks"] = [dict(template, id="http.health", target="https://app.example/page/%d" % n,
                             summary="answered in %d ms " % n + "x" * 200) for n in range(60)]
    return report


def test_a_full_disk_keeps_the_verdict_names_what_was_lost_and_leaves_no_empty_run_dir():
    with tmpfs(pages=64) as mount:
        fill(mount)
        report = make_report()
        status = report["status"]
        published = publish(report, mount / "reports", mount / "reports" / "history.sqlite")
        assert published.run_dir is None and published.written == []
        assert report["status"] == status and report["run"]["exit_code"] == make_report()["run"]["exit_code"]
        text = "\n".join(published.problems)
        assert "No space left on device" in text and "not recorded in history" in text
        assert not [p for p in (mount / "reports").iterdir() if p.is_dir()] if (mount / "reports").exists() else True
        assert not (mount / "reports" / "latest").exists()


def test_a_nearly_full_disk_keeps_report_json_and_names_the_other_files():
    report = big_report()
    json_size = len(render.RENDERERS["report.json"](dict(report, run=dict(report["run"], publish=[]))).encode())
    assert len(render.RENDERERS["report.html"](report).encode()) > 4 * PAGE, "the test needs renderings larger than the gap"
    with tmpfs(pages=256) as mount:
        (mount / "reports").mkdir()
        fill(mount, leave_bytes=(json_size // PAGE + 2) * PAGE)
        published = publish(report, mount / "reports", mount / "reports" / "history.sqlite")
        assert "report.json" in published.written and "report.html" not in published.written
        assert os.readlink(mount / "reports" / "latest") == published.run_dir.name
        assert json.loads((published.run_dir / "report.json").read_text())["status"] == report["status"]
        assert any("report.html not written" in p and "No space left" in p for p in published.problems)
        leftovers = [p.name for p in published.run_dir.iterdir() if p.name.startswith(".")]
        assert leftovers == [], "a failed atomic write leaves no temporary behind"


def test_the_end_of_a_run_needs_none_of_the_consoles_libraries():
    """The callback plugin publishes from an AWX execution environment where only
    awx/requirements.txt is installed (no rich): the modules it imports must not need it."""
    import subprocess
    import sys
    code = ("import sys\n"
            "class Block:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] == 'rich': raise ImportError('no rich here')\n"
            "sys.meta_path.insert(0, Block())\n"
            "import upkeep.report.publish, upkeep.report.summary, upkeep.report.collector\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
