"""Add what only history knows to a freshly collected report, before it is written and recorded:
trends, disk fill dates (forecast.py), finding fingerprints and "new since last run", the weekly
KPI section, the DR section, and a ``schedule.overdue`` check for each other cadence of an
installed schedule (overdue.py).

The wrapper and the callback plugin both call :func:`enrich` between ``Collector.report`` and
``write_run``, so both write the same report. A history problem never costs the report: the
comparison is left out and the problem comes back as a warning line.
"""

from __future__ import annotations

import os
import pathlib
import sqlite3

from ..history import History
from ..schedule_install import load_state
from .compare import annotate
from .dr import dr_section
from .forecast import add_forecasts
from .kpis import kpis_for_report
from .overdue import add_to_report as add_overdue

# Cadences whose report carries the KPI section (the guide's weekly KPI report).
KPI_CADENCES = ("weekly",)


def enrich(report: dict, history_path: str | os.PathLike | None, kpi_cadences=KPI_CADENCES,
           report_dir: str | os.PathLike | None = None) -> list[str]:
    """Enrich ``report`` in place from the store at ``history_path`` (absent: nothing to compare
    with yet) and the schedule installed for ``report_dir``. Returns warnings for the user;
    never raises for a history problem."""
    warnings: list[str] = []
    store = None
    path = pathlib.Path(history_path) if history_path else None
    if path is not None and path.is_file():
        try:
            store = History(path)
        except (OSError, sqlite3.Error, RuntimeError) as exc:
            warnings.append("history %s not read (no trends, every finding shown as new): %s" % (path, exc))
    if report_dir is not None:
        try:
            add_overdue(report, store, load_state(pathlib.Path(report_dir)))
        except Exception as exc:  # noqa: BLE001 - the run's own verdict must survive a bad schedule file
            warnings.append("missed-run check skipped: %s: %s" % (type(exc).__name__, exc))
    # Before the comparison, so the fill-date findings get their fingerprints and "new" too.
    try:
        add_forecasts(report, store)
    except Exception as exc:  # noqa: BLE001 - same reason: a forecast is extra, the report is not
        warnings.append("disk fill-date forecast skipped: %s: %s" % (type(exc).__name__, exc))
    try:
        try:
            _compare(report, store, kpi_cadences)
        except sqlite3.Error as exc:
            warnings.append("history %s not read (no trends, every finding shown as new): %s" % (path, exc))
            for check in report.get("checks") or []:
                check.pop("trend", None)
            _compare(report, None, kpi_cadences)
    except Exception as exc:  # noqa: BLE001 - a malformed check must not cost the whole report
        warnings.append("history comparison skipped: %s: %s" % (type(exc).__name__, exc))
    finally:
        if store is not None:
            store.close()
    try:
        section = dr_section(report.get("checks") or [])
    except Exception as exc:  # noqa: BLE001 - same reason
        warnings.append("DR section skipped: %s: %s" % (type(exc).__name__, exc))
        section = None
    if section:
        report["dr"] = section
    return warnings


def _compare(report: dict, store, kpi_cadences) -> None:
    annotate(report, store)
    if report.get("cadence") in kpi_cadences:
        report["kpis"] = kpis_for_report(report, store)
