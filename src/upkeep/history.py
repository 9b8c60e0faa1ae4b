"""The run history: every report appended to SQLite (``<report dir>/history.sqlite`` by default).

Weekly KPIs, trends, "new since last run" and alert de-duplication read it. Three tables:
``runs`` (one row per run), ``checks`` (one row per check of a run, with the run's start time
copied in so a metric series is one indexed query; ``details`` keeps what a check carries beyond
the contract's keys, e.g. the before/after ``actions`` of a maintenance run) and ``findings``
(one row per finding with its fingerprint, for "new since last run").

Schema history: 1 = runs + checks; 2 = checks.details, checks.findings_recorded, findings;
3 = the minute probes' tables (``probe_*``, written and read by upkeep.probe_store: compact
samples, hourly roll-ups, downtime intervals). A store of an older schema is migrated in place
when opened.
"""

from __future__ import annotations

import json
import os
import pathlib
import sqlite3
from typing import Iterator

SCHEMA_VERSION = 3
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

# Version 2: what a check carries beyond the contract (actions, dr, detail_path ...) and its
# findings' fingerprints. ``findings_recorded`` tells a check recorded with no findings (1) from
# one recorded before findings were kept (0): only the first is a baseline for "new".
_V2 = """
ALTER TABLE checks ADD COLUMN details TEXT;
ALTER TABLE checks ADD COLUMN findings_recorded INTEGER NOT NULL DEFAULT 0;
CREATE TABLE IF NOT EXISTS findings (
    run_id       TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    host         TEXT NOT NULL,
    check_id     TEXT NOT NULL,
    target       TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    severity     TEXT,
    title        TEXT,
    resource     TEXT,
    new          INTEGER,
    acknowledged INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS findings_run ON findings (run_id, host, check_id, target);
CREATE INDEX IF NOT EXISTS findings_fingerprint ON findings (fingerprint);
"""

# Version 3: minute probes (upkeep.probe_store). A year of minute samples of ten targets is 5 M
# rows, so a sample is small: epoch seconds, a target number, a status number, integer
# microseconds, and the error as a number into a table of distinct texts. WITHOUT ROWID with the
# (target, time) key clusters each target's series: no separate index, and a window is one range.
_V3 = """
CREATE TABLE IF NOT EXISTS probe_targets (
    target_id INTEGER PRIMARY KEY,
    host      TEXT NOT NULL,
    check_id  TEXT NOT NULL,
    target    TEXT NOT NULL,
    UNIQUE (host, check_id, target)
);
CREATE TABLE IF NOT EXISTS probe_errors (
    error_id INTEGER PRIMARY KEY,
    text     TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS probe_samples (
    target_id  INTEGER NOT NULL,
    ts         INTEGER NOT NULL,
    status     INTEGER NOT NULL,
    latency_us INTEGER,
    error_id   INTEGER,
    PRIMARY KEY (target_id, ts)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS probe_hourly (
    target_id INTEGER NOT NULL,
    hour      INTEGER NOT NULL,
    up        INTEGER NOT NULL,
    down      INTEGER NOT NULL,
    unknown   INTEGER NOT NULL,
    warning   INTEGER NOT NULL,
    latency_hist TEXT,
    first_error_id INTEGER,
    PRIMARY KEY (target_id, hour)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS probe_downtimes (
    target_id  INTEGER NOT NULL,
    start_ts   INTEGER NOT NULL,
    end_ts     INTEGER,
    last_down_ts INTEGER NOT NULL,
    samples    INTEGER NOT NULL,
    first_error_id INTEGER,
    PRIMARY KEY (target_id, start_ts)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS probe_runs (
    ts          INTEGER PRIMARY KEY,
    duration_ms REAL NOT NULL,
    ok INTEGER NOT NULL, warning INTEGER NOT NULL, critical INTEGER NOT NULL, unknown INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS probe_meta (
    key   TEXT PRIMARY KEY,
    value TEXT
)
"""

# The keys of the check contract (and those the report adds); anything else a check carries is
# kept in checks.details.
CONTRACT_KEYS = frozenset(("id", "target", "status", "summary", "metrics", "thresholds", "findings", "duration_ms",
                           "host", "trend"))


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

    @property
    def connection(self) -> sqlite3.Connection:
        """The open SQLite connection, for the stores that share this file (upkeep.probe_store)."""
        return self._db

    def _migrate(self) -> None:
        self._db.executescript(_SCHEMA)  # idempotent; commits on its own
        # IMMEDIATE: two processes opening an old store at once must not both migrate it.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            version = self._db.execute("SELECT max(version) FROM schema_version").fetchone()[0]
            if version is not None and version > SCHEMA_VERSION:
                raise RuntimeError("%s has history schema %s, newer than this upkeep (%s): upgrade upkeep"
                                   % (self.path, version, SCHEMA_VERSION))
            if version is None or version < 2:
                for statement in _V2.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
            if version is None or version < 3:
                for statement in _V3.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
            if version != SCHEMA_VERSION:
                self._db.execute("DELETE FROM schema_version")
                self._db.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            self._db.commit()
        except BaseException:
            self._db.rollback()
            raise

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
            checks = report.get("checks") or []
            self._db.executemany(
                "INSERT INTO checks (run_id, started_at, host, check_id, target, status, summary, metrics, details,"
                " findings_recorded) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
                [(report["run_id"], report["started_at"], c.get("host", ""), c["id"], c.get("target", ""),
                  c["status"], c.get("summary"), json.dumps(c.get("metrics") or {}), _details(c))
                 for c in checks])
            self._db.executemany(
                "INSERT INTO findings (run_id, host, check_id, target, fingerprint, severity, title, resource, new,"
                " acknowledged) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(report["run_id"], c.get("host", ""), c["id"], c.get("target", ""), f["fingerprint"],
                  f.get("severity"), f.get("title"), f.get("resource"),
                  None if f.get("new") is None else int(bool(f["new"])), int(bool(f.get("acknowledged"))))
                 for c in checks for f in c.get("findings") or [] if isinstance(f, dict) and f.get("fingerprint")])

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
        return [_check_row(row) for row in rows]

    def previous_check(self, cadence: str, host: str, check_id: str, target: str, started_at: str,
                       exclude_run_id: str | None = None, with_findings: bool = False) -> dict | None:
        """The latest earlier record of the same (host, check, target) in a run of ``cadence``
        started at or before ``started_at`` (``exclude_run_id`` left out), or None. With
        ``with_findings`` only records whose findings were kept count (schema 2 onwards), and
        the result has ``fingerprints``: the set of its findings' fingerprints."""
        row = self._db.execute(
            "SELECT c.*, r.cadence FROM checks c JOIN runs r USING (run_id) WHERE c.check_id = ? AND c.host = ?"
            " AND c.target = ? AND r.cadence = ? AND c.started_at <= ? AND c.run_id != ?"
            + (" AND c.findings_recorded = 1" if with_findings else "")
            + " ORDER BY c.started_at DESC, c.rowid DESC LIMIT 1",
            (check_id, host, target, cadence, started_at, exclude_run_id or "")).fetchone()
        if row is None:
            return None
        found = _check_row(row)
        if with_findings:
            found["fingerprints"] = {fp for (fp,) in self._db.execute(
                "SELECT fingerprint FROM findings WHERE run_id = ? AND host = ? AND check_id = ? AND target = ?",
                (row["run_id"], host, check_id, target))}
        return found

    def findings_of(self, run_id: str) -> list[dict]:
        rows = self._db.execute("SELECT * FROM findings WHERE run_id = ? ORDER BY rowid", (run_id,))
        return [dict(row, new=None if row["new"] is None else bool(row["new"]), acknowledged=bool(row["acknowledged"]))
                for row in rows]

    def records_with_details(self, check_id: str | None = None, since: str | None = None) -> list[dict]:
        """Oldest first: every check recorded with details (maintenance actions, drill phases ...)."""
        sql = ["SELECT * FROM checks WHERE details IS NOT NULL"]
        params: list = []
        if check_id:
            sql.append("AND check_id = ?")
            params.append(check_id)
        if since:
            sql.append("AND started_at >= ?")
            params.append(since)
        sql.append("ORDER BY started_at, rowid")
        return [_check_row(row) for row in self._db.execute(" ".join(sql), params)]

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
            yield _check_row(row)


def _details(check: dict) -> str | None:
    extra = {key: value for key, value in check.items() if key not in CONTRACT_KEYS}
    return json.dumps(extra) if extra else None


def _check_row(row: sqlite3.Row) -> dict:
    record = dict(row, metrics=json.loads(row["metrics"]))
    if "details" in record:
        record["details"] = json.loads(record["details"]) if record["details"] else None
    return record


def _run_row(row: sqlite3.Row) -> dict:
    return dict(row, counts=json.loads(row["counts"]), partial=bool(row["partial"]))


def record(report: dict, path: str | os.PathLike) -> None:
    """Append ``report`` to the history store at ``path`` (created on first use)."""
    with History(path) as store:
        store.append(report)
