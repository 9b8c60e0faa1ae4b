"""The SQLite history store: append, read back, previous run, metric series."""

from __future__ import annotations

import sqlite3

from ansible.module_utils.upkeep import result
from upkeep.history import SCHEMA_VERSION, History, record


def report(run_id, started, latency, status="ok", cadence="daily", partial=False):
    return {
        "schema": "upkeep.report/1", "run_id": run_id, "cadence": cadence, "started_at": started,
        "finished_at": started, "status": status, "counts": {"ok": 1, "warning": 0, "critical": 0, "unknown": 0},
        "hosts": {}, "partial": partial, "partial_reason": "interrupted" if partial else None,
        "run": {"exit_code": 0 if status == "ok" else 2},
        "checks": [dict(result.check("http.health", "https://web1/", status, "s", metrics={"latency_ms": latency}),
                        host="web1"),
                   dict(result.check("pg.ping", "db", "ok", "s"), host="web1")],
    }


def test_round_trip_previous_run_and_metric_series(tmp_path):
    path = tmp_path / "h" / "history.sqlite"
    record(report("daily-1", "2026-01-01T00:00:00Z", 10.0), path)
    record(report("weekly-1", "2026-01-01T12:00:00Z", 99.0, cadence="weekly"), path)
    record(report("daily-2", "2026-01-02T00:00:00Z", 30.5, status="critical", partial=True), path)
    with History(path) as store:
        runs = store.runs()
        assert [r["run_id"] for r in runs] == ["daily-2", "weekly-1", "daily-1"]
        assert runs[0]["partial"] is True and runs[0]["counts"]["ok"] == 1 and runs[0]["exit_code"] == 2
        assert [r["run_id"] for r in store.runs(cadence="daily", limit=1)] == ["daily-2"]
        assert store.previous_run("daily")["run_id"] == "daily-2"
        assert store.previous_run("daily", before_run_id="daily-2")["run_id"] == "daily-1"
        assert store.previous_run("monthly") is None
        series = store.metric_series("http.health", "latency_ms", host="web1")
        assert [(p["run_id"], p["value"]) for p in series] == [("daily-1", 10.0), ("weekly-1", 99.0), ("daily-2", 30.5)]
        assert [p["value"] for p in store.metric_series("http.health", "latency_ms", since="2026-01-02")] == [30.5]
        checks = store.checks_of("daily-2")
        assert checks[0]["metrics"] == {"latency_ms": 30.5} and checks[0]["status"] == "critical"
        assert [c["cadence"] for c in store.iter_checks(cadence="weekly")] == ["weekly", "weekly"]


def test_store_uses_wal_indexes_and_a_schema_version_and_replaces_a_rerecorded_run(tmp_path):
    path = tmp_path / "history.sqlite"
    record(report("daily-1", "2026-01-01T00:00:00Z", 1.0), path)
    record(report("daily-1", "2026-01-01T00:00:00Z", 2.0), path)
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    assert db.execute("SELECT count(*) FROM runs").fetchone()[0] == 1
    assert db.execute("SELECT count(*) FROM checks").fetchone()[0] == 2
    plan = " ".join(row[-1] for row in db.execute(
        "EXPLAIN QUERY PLAN SELECT * FROM checks WHERE check_id = 'a' AND host = 'b' AND target = 'c' ORDER BY started_at"))
    assert "checks_series" in plan
