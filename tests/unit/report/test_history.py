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


# The schema of version 1 as it shipped, to prove an existing store is migrated in place.
V1_SCHEMA = """
CREATE TABLE schema_version (version INTEGER NOT NULL);
INSERT INTO schema_version VALUES (1);
CREATE TABLE runs (run_id TEXT PRIMARY KEY, cadence TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT,
    status TEXT NOT NULL, exit_code INTEGER NOT NULL, counts TEXT NOT NULL, partial INTEGER NOT NULL DEFAULT 0,
    partial_reason TEXT);
CREATE TABLE checks (run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE, started_at TEXT NOT NULL,
    host TEXT NOT NULL, check_id TEXT NOT NULL, target TEXT NOT NULL, status TEXT NOT NULL, summary TEXT,
    metrics TEXT NOT NULL);
INSERT INTO runs VALUES ('daily-0', 'daily', '2025-12-31T00:00:00Z', NULL, 'warning', 1, '{}', 0, NULL);
INSERT INTO checks VALUES ('daily-0', '2025-12-31T00:00:00Z', 'web1', 'http.health', 'https://web1/', 'warning', 's',
    '{"latency_ms": 7.0}');
"""


def test_a_version_1_store_is_migrated_and_keeps_its_rows(tmp_path):
    path = tmp_path / "history.sqlite"
    db = sqlite3.connect(path)
    db.executescript(V1_SCHEMA)
    db.close()
    with History(path) as store:
        [old] = store.checks_of("daily-0")
        assert old["metrics"] == {"latency_ms": 7.0} and old["details"] is None and old["findings_recorded"] == 0
        # a migrated record gives a trend baseline but no "new" baseline: its findings were not kept
        assert store.previous_check("daily", "web1", "http.health", "https://web1/", "2026-01-01T00:00:00Z") is not None
        assert store.previous_check("daily", "web1", "http.health", "https://web1/", "2026-01-01T00:00:00Z",
                                    with_findings=True) is None
        store.append(report("daily-1", "2026-01-01T00:00:00Z", 9.0))
    db = sqlite3.connect(path)
    assert db.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)] == [(3,)]
    assert db.execute("SELECT count(*) FROM checks").fetchone()[0] == 3
    History(path).close()  # opening a current store again changes nothing
    assert sqlite3.connect(path).execute("SELECT count(*) FROM schema_version").fetchone()[0] == 1


def test_actions_and_findings_are_kept_in_full(tmp_path):
    """Before/after maintenance records: everything a check carries beyond the contract."""
    path = tmp_path / "history.sqlite"
    actions = [{"table": "public.orders", "statement": "VACUUM (ANALYZE) public.orders", "changed": True,
                "before": {"n_dead_tup": 9000}, "after": {"n_dead_tup": 0}, "duration_ms": 41.5}]
    run = report("monthly-1", "2026-01-01T00:00:00Z", 1.0, cadence="monthly")
    run["checks"][1] = dict(result.check("pg.maintenance", "app", "ok", "1 table vacuumed",
                                         metrics={"tables_vacuumed": 1}, actions=actions,
                                         findings=[dict(result.finding("warning", "Bloat", "public.orders"),
                                                        fingerprint="fp-1", new=True)]),
                            host="web1", trend={"tables_vacuumed": {"previous": 0, "delta": 1, "delta_pct": None}})
    record(run, path)
    with History(path) as store:
        [kept] = store.records_with_details(check_id="pg.maintenance")
        assert kept["details"] == {"actions": actions} and kept["metrics"] == {"tables_vacuumed": 1}
        assert [(f["fingerprint"], f["new"], f["acknowledged"]) for f in store.findings_of("monthly-1")] == [
            ("fp-1", True, False)]
        previous = store.previous_check("monthly", "web1", "pg.maintenance", "app", "2026-02-01T00:00:00Z",
                                        with_findings=True)
        assert previous["fingerprints"] == {"fp-1"}
        assert store.previous_check("monthly", "web1", "pg.maintenance", "app", "2026-02-01T00:00:00Z",
                                    exclude_run_id="monthly-1") is None
