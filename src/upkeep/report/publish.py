"""The end of a run: one step that every entry point calls (the wrapper and the callback plugin).

``publish(report, report_dir, history_path)`` compares the report with the history store, writes
the run directory, records the run in the history store, then hands the written run to each
publisher in order (alerts and the dashboard snapshot plug in here). Every step is isolated: a
step that fails is recorded in the report's ``run.publish`` list and said on the console, and
never loses the verdict, the other files or the history row. A full disk is the case this is
built for: the files that fit are kept, the ones that did not are named, and an empty run
directory is never left behind.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import sqlite3
import tempfile
from typing import Callable

from ..history import record
from .contract import validate_before_writing
from .enrich import enrich
from .render import LATEST, RENDERERS

REPORT_JSON = "report.json"


@dataclasses.dataclass
class Published:
    run_dir: pathlib.Path | None  # None when not even report.json could be written
    written: list[str]
    problems: list[str]  # one line each: what could not be done and why
    warnings: list[str]  # history comparison notes (not failures)


# A publisher gets the final report and the run directory it was written to (None when the
# files could not be written) and returns nothing; whatever it raises is recorded.
Publisher = Callable[[dict, "pathlib.Path | None"], None]


def default_publishers(prometheus_textfile: str | None = None) -> list[tuple[str, Publisher]]:
    """The publishers after the files and the history row, in order: the Prometheus textfile
    when ``prometheus_textfile`` or ``$UPKEEP_PROMETHEUS_TEXTFILE`` names one."""
    found: list[tuple[str, Publisher]] = []
    textfile = prometheus_textfile or os.environ.get("UPKEEP_PROMETHEUS_TEXTFILE")
    if textfile:
        from .prometheus import publisher  # imported here: it imports this module's write_file
        found.append(("prometheus", publisher(textfile)))
    return found


def publish(report: dict, report_dir: str | os.PathLike, history_path: str | os.PathLike,
            publishers: list[tuple[str, Publisher]] | None = None) -> Published:
    """Write ``report`` under ``report_dir`` and record it in ``history_path``; never raises for
    a problem of the disk, the history store or a publisher (those are in ``Published.problems``
    and in ``report["run"]["publish"]``)."""
    report.setdefault("run", {})
    problems: list[str] = []
    try:
        warnings = enrich(report, history_path, report_dir=report_dir)
    except Exception as exc:  # a comparison is extra: the verdict must be written without it
        warnings = []
        problems.append("history comparison skipped: %s" % _reason(exc))

    # Tests set UPKEEP_VALIDATE_REPORTS=1: a report that breaks the schema is refused before any file exists.
    validate_before_writing(report)
    run_dir, written, file_problems = _write_files(report, pathlib.Path(report_dir))
    problems += file_problems
    try:
        record(report, history_path)
    except (OSError, sqlite3.Error, RuntimeError) as exc:
        problems.append("run not recorded in history %s: %s" % (history_path, _reason(exc)))
    for name, publisher in publishers if publishers is not None else default_publishers():
        try:
            publisher(report, run_dir)
        except Exception as exc:  # one publisher's failure never stops the next or loses the report
            problems.append("publisher %s failed: %s" % (name, _reason(exc)))

    report["run"]["publish"] = problems
    if problems and run_dir is not None and REPORT_JSON in written:
        # The files were written before the later steps ran: write them again so they say what
        # went wrong after them (best effort: the first write already holds the verdict).
        for name in written:
            try:
                write_file(run_dir / name, RENDERERS[name](report))
            except OSError:
                pass
    return Published(run_dir=run_dir, written=written, problems=problems, warnings=warnings)


def _write_files(report: dict, base: pathlib.Path) -> tuple[pathlib.Path | None, list[str], list[str]]:
    """Write every rendering into a new run directory; point ``latest`` at it when report.json
    made it. A directory holding nothing is removed again."""
    try:
        base.mkdir(parents=True, exist_ok=True)
        run_dir = new_run_dir(base, report["run_id"])
    except OSError as exc:
        return None, [], ["run directory not created under %s: %s" % (base, _reason(exc))]
    report["run_id"] = run_dir.name
    report["run"]["publish"] = []
    written, problems = [], []
    # report.json first: the smallest and the one everything else (latest, history, `upkeep report`) reads.
    for name, renderer in sorted(RENDERERS.items(), key=lambda item: item[0] != REPORT_JSON):
        try:
            write_file(run_dir / name, renderer(report))
            written.append(name)
        except OSError as exc:
            problems.append("%s not written: %s" % (run_dir / name, _reason(exc)))
    if not written:
        try:
            run_dir.rmdir()
        except OSError:
            pass
        return None, [], problems
    if REPORT_JSON in written:
        try:
            update_latest(base, run_dir.name)
        except OSError as exc:
            problems.append("%s/latest not updated: %s" % (base, _reason(exc)))
    return run_dir, written, problems


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror + (" (%s)" % exc.filename if exc.filename else "")
    return "%s: %s" % (type(exc).__name__, exc)


def new_run_dir(base: pathlib.Path, run_id: str) -> pathlib.Path:
    """A new directory named ``run_id`` (with a suffix when two runs start in the same second)."""
    for attempt in range(1, 1000):
        path = base / (run_id if attempt == 1 else "%s-%d" % (run_id, attempt))
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise FileExistsError("cannot allocate a run directory for %s in %s" % (run_id, base))


def update_latest(base: pathlib.Path, run_id: str) -> None:
    """Point ``base/latest`` at ``run_id`` with a rename, so readers never see it missing."""
    tmp = base / (".%s.%d" % (LATEST, os.getpid()))
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(run_id, tmp)
    os.replace(tmp, base / LATEST)


def write_file(path: pathlib.Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically: a reader sees the old file or the whole new one,
    and a write that fails (a full disk) leaves neither a partial file nor its temporary."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise

