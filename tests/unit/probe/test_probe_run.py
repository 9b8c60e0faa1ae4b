"""One probe run in-process (upkeep.probe.probe_once) against real loopback servers."""

from __future__ import annotations

from upkeep import probe_store
from upkeep.history import History
from upkeep.probe import probe_once
from upkeep.probe_targets import Plan, parse_options


def test_a_secret_file_that_is_gone_makes_its_target_unknown_and_the_others_are_probed(tmp_path, http_app, pg_app):
    plan = Plan(
        http=[{"name": "api-health", "url": http_app.url + "/api/health", "check": "health", "inventory_host": "web1"}],
        postgres=[dict(pg_app, name="app-db", inventory_host="web1",
                       password={"__secret__": [{"file": str(tmp_path / "gone")}]})],
        smtp=[], options=parse_options(None))
    with History(tmp_path / "history.sqlite") as store:
        result = probe_once(plan, store)
        by_target = {c["target"]: c for c in result.checks}
        assert by_target["api-health"]["status"] in ("ok", "warning")
        gone = by_target["app-db"]
        assert gone["id"] == "pg.ping" and gone["status"] == "unknown" and "gone" in gone["summary"]
        assert result.worst == "unknown"
        rows = probe_store.availability(store.connection, 2, result.ts - 1, result.ts + 1)
        assert rows["unknown"] == 1 and rows["samples"] == 0  # not evaluated: no availability claimed


def test_the_database_probe_logs_in_for_real(tmp_path, pg_app):
    plan = Plan(http=[], postgres=[dict(pg_app, name="app-db", inventory_host="db1")], smtp=[],
                options=parse_options({"samples": 2}))
    with History(tmp_path / "history.sqlite") as store:
        result = probe_once(plan, store)
    [check] = result.checks
    assert check["status"] == "ok" and check["metrics"]["query_samples"] == 2
    [sample] = result.samples
    assert sample.latency_ms == check["metrics"]["connect_ms"] and sample.error is None


def test_two_runs_in_the_same_second_keep_both_samples(tmp_path, http_app):
    plan = Plan(http=[{"name": "api-health", "url": http_app.url + "/api/health", "check": "health",
                       "inventory_host": "web1"}], postgres=[], smtp=[], options=parse_options(None))
    with History(tmp_path / "history.sqlite") as store:
        first = probe_once(plan, store, now=1_790_000_000.2)
        second = probe_once(plan, store, now=1_790_000_000.7)
        assert (first.ts, second.ts) == (1_790_000_000, 1_790_000_001)
        assert store.connection.execute("SELECT count(*) FROM probe_samples").fetchone()[0] == 2
