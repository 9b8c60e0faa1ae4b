"""The run history: every report appended to SQLite (``<report dir>/history.sqlite`` by default).

Weekly KPIs, trends, "new since last run" and alert de-duplication read it. Two tables:
``runs`` (one row per run) and ``checks`` (one row per check of a run, with the run's start time
copied in so a metric series is one indexed query).
"""

from __future__ import annotations

import json
import os
import pathlib
import sqlite3
from typing import Iterator

SCHEMA_VERSION = 1
FILENAME = "history.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id      TEXT PRIMARY KEY,
    cadence     TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    status      TEXT NOT NULL,
    exit_code   INTEGER NOT NULL,
    counts      TEXT NOT NULL,
    partial     INTEGER NOT NULL DEFAULT 0,
    partial_reason TEXT
);
CREATE INDEX IF NOT EXISTS runs_cadence_started ON runs (cadence, started_at);
CREATE TABLE IF NOT EXISTS checks (
    run_id     TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    started_at TEXT NOT NULL,
    host       TEXT NOT NULL,
    check_id   TEXT NOT NULL,
    target     TEXT NOT NULL,
    status     TEXT NOT NULL,
    summary    TEXT,
    metrics    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS checks_series ON checks (check_id, host, target, started_at);
CREATE INDEX IF NOT EXISTS checks_run ON checks (run_id);
"""


def default_path(report_dir: str | os.PathLike) -> pathlib.Path:
    return pathlib.Path(report_dir) / FILENAME


class History:
    """A connection to one history store; use as a context manager or call close()."""

    def __init__(self, path: str | os.PathLike, timeout_s: float = 10.0):
        self.path = pathlib.Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), timeout=timeout_s)
        self._db.row_factory = sqlite3.Row
        # WAL: the dashboard and a running cadence read and write at the same time.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    def __enter__(self) -> "History":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def _migrate(self) -> None:
        with self._db:
            self._db.executescript(_SCHEMA)
            row = self._db.execute("SELECT max(version) FROM schema_version").fetchone()
            if row[0] is None:
                self._db.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            elif row[0] > SCHEMA_VERSION:
                raise RuntimeError("%s has history schema %s, newer than this upkeep (%s): upgrade upkeep"
                                   % (self.path, row[0], SCHEMA_VERSION))

    # -- writing ---------------------------------------------------------------------------

    def append(self, report: dict) -> None:
        """Record one report (schema upkeep.report/1); appending the same run_id again replaces it."""
        run = report.get("run") or {}
        with self._db:
            self._db.execute("DELETE FROM runs WHERE run_id = ?", (report["run_id"],))
            self._db.execute(
                "INSERT INTO runs (run_id, cadence, started_at, finished_at, status, exit_code, counts, partial,"
                " partial_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (report["run_id"], report["cadence"], report["started_at"], report.get("finished_at"),
                 report["status"], int(run.get("exit_code", 3)), json.dumps(report.get("counts") or {}),
                 int(bool(report.get("partial"))), report.get("partial_reason")))
            self._db.executemany(
                "INSERT INTO checks (run_id, started_at, host, check_id, target, status, summary, metrics)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(report["run_id"], report["started_at"], c.get("host", ""), c["id"], c.get("target", ""),
                  c["status"], c.get("summary"), json.dumps(c.get("metrics") or {}))
                 for c in report.get("checks") or []])

    # -- reading ---------------------------------------------------------------------------

    def runs(self, cadence: str | None = None, limit: int = 20) -> list[dict]:
        """Most recent runs first."""
        sql = "SELECT * FROM runs" + (" WHERE cadence = ?" if cadence else "") + " ORDER BY started_at DESC, run_id DESC LIMIT ?"
        params = ((cadence,) if cadence else ()) + (limit,)
        return [_run_row(row) for row in self._db.execute(sql, params)]

    def previous_run(self, cadence: str, before_run_id: str | None = None) -> dict | None:
        """The latest run of ``cadence`` (before ``before_run_id`` when given), or None."""
        if before_run_id:
            row = self._db.execute(
                "SELECT * FROM runs WHERE cadence = ? AND run_id != ? AND started_at <= "
                "(SELECT started_at FROM runs WHERE run_id = ?) ORDER BY started_at DESC, run_id DESC LIMIT 1",
                (cadence, before_run_id, before_run_id)).fetchone()
        else:
            row = self._db.execute("SELECT * FROM runs WHERE cadence = ? ORDER BY started_at DESC, run_id DESC LIMIT 1",
                                   (cadence,)).fetchone()
        return _run_row(row) if row else None

    def checks_of(self, run_id: str) -> list[dict]:
        rows = self._db.execute("SELECT * FROM checks WHERE run_id = ? ORDER BY rowid", (run_id,))
        return [dict(row, metrics=json.loads(row["metrics"])) for row in rows]

    def metric_series(self, check_id: str, metric: str, host: str | None = None, target: str | None = None,
                      since: str | None = None) -> list[dict]:
        """Oldest first: ``{started_at, run_id, host, target, status, value}`` for every recorded
        value of ``metric`` of ``check_id`` (optionally one host/target, from ISO time ``since``)."""
        sql = ["SELECT run_id, started_at, host, target, status, json_extract(metrics, ?) AS value FROM checks"
               " WHERE check_id = ?"]
        params: list = ["$.\"%s\"" % metric.replace('"', ""), check_id]
        for column, value in (("host", host), ("target", target)):
            if value is not None:
                sql.append("AND %s = ?" % column)
                params.append(value)
        if since:
            sql.append("AND started_at >= ?")
            params.append(since)
        sql.append("ORDER BY started_at, rowid")
        return [dict(row) for row in self._db.execute(" ".join(sql), params) if row["value"] is not None]

    def iter_checks(self, cadence: str | None = None, since: str | None = None) -> Iterator[dict]:
        """Every recorded check joined with its run's cadence, oldest first."""
        sql = ["SELECT c.*, r.cadence FROM checks c JOIN runs r USING (run_id) WHERE 1 = 1"]
        params: list = []
        if cadence:
            sql.append("AND r.cadence = ?")
            params.append(cadence)
        if since:
            sql.append("AND c.started_at >= ?")
            params.append(since)
        sql.append("ORDER BY c.started_at, c.rowid")
        for row in self._db.execute(" ".join(sql), params):
            yield dict(row, metrics=json.loads(row["metrics"]))


def _run_row(row: sqlite3.Row) -> dict:
    return dict(row, counts=json.loads(row["counts"]), partial=bool(row["partial"]))


def record(report: dict, path: str | os.PathLike) -> None:
    """Append ``report`` to the history store at ``path`` (created on first use)."""
    with History(path) as store:
        store.append(report)
