"""A Prometheus textfile of a run, for node_exporter's textfile collector: a publisher (publish.py).

Every check's status as a gauge (0 ok, 1 warning, 2 critical, 3 unknown: the exit-code order)
and its numeric metrics, labelled with cadence, host, check and target; and run-level gauges
(when it finished, its exit code, duration, counts). One file per cadence: the collector reads
every ``*.prom`` in its directory, so give a directory and each cadence keeps its own
``upkeep_<cadence>.prom``; a path ending in ``.prom`` is used as it is (then one cadence per file).

The file is replaced atomically (a temporary file in the same directory, then a rename), so
the collector never reads half a file. No sample carries a timestamp: the textfile collector
refuses them; ``upkeep_run_finished_timestamp_seconds`` says how fresh the values are.
"""

from __future__ import annotations

import datetime
import math
import os
import pathlib

from .publish import write_file

ENV = "UPKEEP_PROMETHEUS_TEXTFILE"
STATUS_VALUE = {"ok": 0, "warning": 1, "critical": 2, "unknown": 3}


class TextfileError(ValueError):
    """A textfile path that cannot be used; the message names it."""


def target_path(given: str | os.PathLike, cadence: str) -> pathlib.Path:
    """The file to write for ``cadence``: inside ``given`` when it is a directory."""
    path = pathlib.Path(given).expanduser()
    if path.is_dir() or str(given).endswith(os.sep):
        return path / ("upkeep_%s.prom" % cadence)
    return path


def check_usable(given: str | os.PathLike, cadence: str) -> pathlib.Path:
    """Before an hour-long run: the file's directory exists and is writable, and the name ends
    in .prom (the collector ignores anything else). TextfileError naming the path otherwise."""
    path = target_path(given, cadence)
    if path.suffix != ".prom":
        raise TextfileError("--prometheus-textfile %s: node_exporter reads only *.prom files: give a directory or "
                            "a path ending in .prom" % given)
    if not path.parent.is_dir():
        raise TextfileError("--prometheus-textfile %s: directory %s does not exist" % (given, path.parent))
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise TextfileError("--prometheus-textfile %s: directory %s is not writable by this user" % (given, path.parent))
    return path


def publisher(given: str | os.PathLike):
    """A publish() step writing the textfile of each report to ``given``."""
    def write(report: dict, run_dir) -> None:
        path = target_path(given, report.get("cadence") or "adhoc")
        try:
            write_file(path, render(report))
        except OSError as exc:  # name the textfile, not the temporary file beside it
            raise OSError(exc.errno, "Prometheus textfile not written: %s" % (exc.strerror or exc), str(path)) from None
    return write


def render(report: dict) -> str:
    cadence = report.get("cadence") or ""
    families: dict[str, tuple[str, list[str]]] = {}

    def sample(name: str, help_text: str, labels: dict, value) -> None:
        families.setdefault(name, (help_text, []))[1].append("%s{%s} %s" % (name, _labels(labels), _value(value)))

    seen = set()
    for check in report.get("checks") or []:
        labels = {"cadence": cadence, "host": check.get("host", ""), "check": check.get("id", ""),
                  "target": check.get("target", "")}
        key = tuple(labels.values())
        if key in seen:
            continue  # a series must be unique; the first record of a (host, check, target) stands
        seen.add(key)
        sample("upkeep_check_status", "Check status: 0 ok, 1 warning, 2 critical, 3 unknown.", labels,
               STATUS_VALUE.get(check.get("status"), 3))
        for metric, value in sorted((check.get("metrics") or {}).items()):
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                sample("upkeep_check_metric", "A check's numeric metric; the unit is in the metric label's name.",
                       dict(labels, metric=str(metric)), value)
    run = report.get("run") or {}
    only = {"cadence": cadence}
    sample("upkeep_run_status", "Worst status of the run: 0 ok, 1 warning, 2 critical, 3 unknown.", only,
           STATUS_VALUE.get(report.get("status"), 3))
    sample("upkeep_run_exit_code", "Exit code of the run (upkeep run's).", only, run.get("exit_code", 3))
    finished = report.get("finished_at") or report.get("started_at")
    if finished:
        sample("upkeep_run_finished_timestamp_seconds", "When the run finished, seconds since the epoch.", only,
               _epoch(finished))
    if isinstance(report.get("duration_s"), (int, float)):
        sample("upkeep_run_duration_seconds", "How long the run took.", only, report["duration_s"])
    sample("upkeep_run_partial", "1 when the run stopped before the end of its playbook.", only,
           int(bool(report.get("partial"))))
    for status, count in (report.get("counts") or {}).items():
        sample("upkeep_run_checks", "Checks of the run per status.", dict(only, status=status), count)
    lines = []
    for name, (help_text, samples) in families.items():
        lines += ["# HELP %s %s" % (name, help_text), "# TYPE %s gauge" % name] + samples
    return "\n".join(lines) + "\n"


def _labels(labels: dict) -> str:
    return ",".join('%s="%s"' % (key, _escape(str(value))) for key, value in labels.items())


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _value(value) -> str:
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def _epoch(text: str) -> int:
    moment = datetime.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return int(moment.timestamp())
