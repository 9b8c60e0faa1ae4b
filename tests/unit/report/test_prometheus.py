"""The Prometheus textfile publisher, validated by the real ``promtool check metrics`` (Debian's
``prometheus`` package), written atomically, and failing as a recorded problem, never a traceback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from upkeep.report import prometheus
from upkeep.report.publish import default_publishers, publish

from tests.support.sample_report import make_report
from tests.support.tmpfs import fill, tmpfs

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def promtool_check(text: str) -> subprocess.CompletedProcess:
    return subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)


def test_every_check_status_and_metric_passes_promtool(tmp_path):
    report = make_report()
    report["checks"][0]["target"] = 'C:\\share "quoted"\nnext line'  # every character a label must escape
    report["checks"][0]["metrics"].update({"reachable": True, "note": "text", "ratio_pct": float("nan")})
    text = prometheus.render(report)
    checked = promtool_check(text)
    assert checked.returncode == 0 and checked.stdout == "" and checked.stderr == "", checked.stdout + checked.stderr
    assert ('upkeep_check_status{cadence="daily",host="web1",check="http.health",'
            'target="C:\\\\share \\"quoted\\"\\nnext line"} 0') in text
    assert 'upkeep_check_status{cadence="daily",host="web2",check="http.page",target="https://web2/<b>"} 2' in text
    assert 'check="task.upkeep_smtp",target="Probe"} 3' in text  # a task that could not evaluate is unknown
    assert 'check="pg.ping",target="db",metric="query_ms"} 250.5' in text
    assert 'metric="ratio_pct"} NaN' in text
    assert 'metric="reachable"' not in text and 'metric="note"' not in text  # numbers only
    assert 'upkeep_run_exit_code{cadence="daily"} 3' in text
    assert 'upkeep_run_checks{cadence="daily",status="critical"} 1' in text
    assert "upkeep_run_finished_timestamp_seconds{cadence=\"daily\"} " in text
    # each family once, its HELP and TYPE before its samples (the exposition format's rule)
    names = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")]
    assert len(names) == len(set(names))


def test_published_atomically_into_a_directory_one_file_per_cadence(tmp_path):
    collector_dir = tmp_path / "textfile_collector"
    collector_dir.mkdir()
    first = make_report()
    published = publish(first, tmp_path / "reports", tmp_path / "reports" / "history.sqlite",
                        default_publishers(str(collector_dir) + "/"))
    assert published.problems == []
    target = collector_dir / "upkeep_daily.prom"
    inode = target.stat().st_ino
    second = make_report()
    second["cadence"] = "weekly"
    second["run_id"] = second["run_id"].replace("daily", "weekly")
    publish(second, tmp_path / "reports", tmp_path / "reports" / "history.sqlite", default_publishers(str(collector_dir)))
    publish(make_report(), tmp_path / "reports", tmp_path / "reports" / "history.sqlite",
            default_publishers(str(collector_dir)))
    assert sorted(os.listdir(collector_dir)) == ["upkeep_daily.prom", "upkeep_weekly.prom"]  # no temporary left
    assert target.stat().st_ino != inode  # replaced by a rename, never rewritten in place
    assert oct(target.stat().st_mode & 0o777) == "0o644"  # node_exporter runs as another user
    both = target.read_text() + (collector_dir / "upkeep_weekly.prom").read_text()
    assert 'cadence="weekly"' in both and promtool_check(target.read_text()).returncode == 0


def test_environment_variable_names_the_textfile(tmp_path, monkeypatch):
    monkeypatch.setenv(prometheus.ENV, str(tmp_path / "upkeep.prom"))
    assert [name for name, _ in default_publishers()] == ["prometheus"]
    publish(make_report(), tmp_path / "reports", tmp_path / "reports" / "history.sqlite")
    assert (tmp_path / "upkeep.prom").read_text().startswith("# HELP upkeep_check_status ")


def test_unwritable_textfile_is_a_recorded_problem(tmp_path):
    missing = tmp_path / "gone" / "upkeep.prom"
    report = make_report()
    published = publish(report, tmp_path / "reports", tmp_path / "reports" / "history.sqlite",
                        default_publishers(str(missing)))
    assert published.problems == ["publisher prometheus failed: Prometheus textfile not written: No such file or "
                                  "directory (%s)" % missing]
    stored = json.loads((published.run_dir / "report.json").read_text())
    assert stored["run"]["publish"] == published.problems and stored["status"] == report["status"]


def test_full_disk_textfile_leaves_the_old_file_and_no_temporary(tmp_path):
    reports = tmp_path / "reports"  # only the collector's directory is on the full filesystem
    with tmpfs(pages=16) as mount:
        published = publish(make_report(), reports, reports / "history.sqlite", default_publishers(str(mount)))
        assert published.problems == []
        old = (mount / "upkeep_daily.prom").read_text()
        fill(mount)
        again = publish(make_report(), reports, reports / "history.sqlite", default_publishers(str(mount)))
        assert again.problems == ["publisher prometheus failed: Prometheus textfile not written: No space left on "
                                  "device (%s)" % (mount / "upkeep_daily.prom")]
        assert sorted(os.listdir(mount)) == ["ballast", "upkeep_daily.prom"]
        assert (mount / "upkeep_daily.prom").read_text() == old


@pytest.mark.parametrize("given, message", [
    ("{tmp}/nowhere/x.prom", "--prometheus-textfile {tmp}/nowhere/x.prom: directory {tmp}/nowhere does not exist"),
    ("{tmp}/metrics.txt", "node_exporter reads only *.prom files"),
])
def test_unusable_path_is_said_before_a_run(tmp_path, given, message):
    with pytest.raises(prometheus.TextfileError) as caught:
        prometheus.check_usable(given.format(tmp=tmp_path), "daily")
    assert message.format(tmp=tmp_path) in str(caught.value)
