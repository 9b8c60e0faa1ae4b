"""History-backed report features end to end: real ``upkeep run``s of the test-only playbooks
whose fake module reports the metrics and findings each inventory gives it, so what changes
between runs is chosen by the test. Also the callback plugin path (plain ansible-playbook)."""

from __future__ import annotations

import json
import sqlite3
import subprocess

import pytest

from tests.fixtures.wrapper import BIN, PLAYBOOKS, REPO, env, latest_report, local_host, upkeep, write_inventory

pytestmark = pytest.mark.slow

ACTIONS = [{"table": "public.orders", "statement": "VACUUM (ANALYZE) public.orders", "changed": True,
            "before": {"n_dead_tup": 9000, "dead_pct": 45.0}, "after": {"n_dead_tup": 0, "dead_pct": 0.0},
            "duration_ms": 41.5}]


def finding(title, resource, severity="warning"):
    return {"severity": severity, "title": title, "resource": resource, "detail": "", "remediation": "Look at it"}


def inventory(tmp_path, size, findings, health_status="ok", extra=()):
    return write_inventory(tmp_path, {"web1": local_host(upkeep_fake_targets=[
        {"id": "pg.database_size", "target": "app", "status": "warning", "metrics": {"database_size_bytes": size},
         "findings": findings},
        {"id": "pg.maintenance", "target": "app", "status": "ok", "metrics": {"tables_vacuumed": 1},
         "actions": ACTIONS},
        {"id": "http.health", "target": "https://web1.test/api/health", "status": health_status,
         "metrics": {"latency_p95_ms": 120.0}},
        *extra,
    ])})


def by_id(report):
    return {c["id"]: c for c in report["checks"]}


def test_two_runs_give_trends_new_findings_and_a_full_maintenance_record(tmp_path):
    reports = tmp_path / "reports"
    first = upkeep("run", "daily", "-i", inventory(tmp_path, 1000, [finding("Slow query: mean 612 ms", "SELECT 1")]),
                   "--report-dir", reports)
    assert first.returncode == 1, first.stdout + first.stderr
    one = latest_report(reports)
    size = by_id(one)["pg.database_size"]
    assert "trend" not in size and size["findings"][0]["new"] is True
    assert one["finding_counts"] == {"total": 1, "new": 1, "acknowledged": 0}

    second = upkeep("run", "daily", "-i", inventory(tmp_path, 1500, [
        finding("Slow query: mean 640 ms", "SELECT 1"),
        finding("Blocking lock chain", "pid 77", "critical"),
        dict(finding("Public table without RLS", "public.leads"), acknowledged={"reason": "read-only data", "expires": "2099-12-31"}),
    ]), "--report-dir", reports)
    assert second.returncode == 1, second.stdout + second.stderr
    two = latest_report(reports)
    size = by_id(two)["pg.database_size"]
    assert size["trend"] == {"database_size_bytes": {"previous": 1000, "delta": 500, "delta_pct": 50.0}}
    assert "trend" not in by_id(two)["http.health"]  # nothing changed, nothing shown
    assert [(f["title"], f["new"]) for f in size["findings"]] == [
        ("Blocking lock chain", True), ("Slow query: mean 640 ms", False), ("Public table without RLS", True)]
    assert size["findings"][1]["fingerprint"] == by_id(one)["pg.database_size"]["findings"][0]["fingerprint"]
    assert two["finding_counts"] == {"total": 2, "new": 1, "acknowledged": 1}
    assert "Findings: 2 open, 1 new since last run, 1 acknowledged (not counted)" in second.stdout
    md = (reports / "latest" / "report.md").read_text()
    assert "database_size_bytes 1500 Δ +500 (+50%)" in md and "## New since last run" in md
    assert "## Acknowledged (not counted)" in md

    db = sqlite3.connect(reports / "history.sqlite")
    details = db.execute("SELECT details FROM checks WHERE check_id = 'pg.maintenance' ORDER BY started_at").fetchall()
    assert [json.loads(d) for (d,) in details] == [{"actions": ACTIONS}] * 2
    assert db.execute("SELECT title, new, acknowledged FROM findings WHERE run_id = ? ORDER BY title",
                      (two["run_id"],)).fetchall() == [("Blocking lock chain", 1, 0), ("Public table without RLS", 1, 1),
                                                        ("Slow query: mean 640 ms", 0, 0)]

    weekly = upkeep("run", "weekly", "-i", inventory(tmp_path, 1500, [], extra=[
        {"id": "log.scan", "target": "/var/log/nginx/access.log", "status": "ok", "metrics": {"error_rate_pct": 0.4}}]),
        "--report-dir", reports)
    assert weekly.returncode == 1, weekly.stdout + weekly.stderr
    kpis = {k["kpi"]: k for k in latest_report(reports)["kpis"]["hosts"]["web1"]}
    assert kpis["api_response"] == dict(kpis["api_response"], value=120.0, samples=3, verdict="pass")
    assert kpis["uptime"] == dict(kpis["uptime"], value=100.0, samples=3, verdict="not enough data")
    assert kpis["error_rate"] == dict(kpis["error_rate"], value=0.4, verdict="pass")
    assert kpis["page_load"] == dict(kpis["page_load"], value=None, verdict="no data")
    assert "| Uptime | 100% | > 99.9% | 3 | NOT ENOUGH DATA |" in (reports / "latest" / "report.md").read_text()


def test_the_callback_plugin_compares_with_the_history_too(tmp_path):
    """A plain ansible-playbook run after a wrapper run: same store, same enrichment."""
    reports = tmp_path / "reports"
    first = upkeep("run", "daily", "-i", inventory(tmp_path, 2000, [finding("Old", "x")]), "--report-dir", reports)
    assert first.returncode == 1, first.stdout + first.stderr
    project = tmp_path / "playbooks"
    project.mkdir()
    (project / "daily.yml").write_text((PLAYBOOKS / "daily.yml").read_text())
    for name in ("library", "roles"):
        (project / name).symlink_to(PLAYBOOKS / name)
    (project / "callback_plugins").symlink_to(REPO / "playbooks" / "callback_plugins")
    run_env = env(UPKEEP_REPORT_DIR=str(reports), ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    run_env.pop("UPKEEP_PLAYBOOK_DIR")
    plain = subprocess.run([str(BIN / "ansible-playbook"), "-i",
                            str(inventory(tmp_path, 2100, [finding("Old", "x"), finding("Fresh", "y")])),
                            str(project / "daily.yml")], cwd=REPO, env=run_env, capture_output=True, text=True,
                           timeout=90)
    assert plain.returncode == 0, plain.stdout + plain.stderr
    report = latest_report(reports)
    assert report["run"]["source"] == "ansible-playbook callback"
    size = by_id(report)["pg.database_size"]
    assert size["trend"]["database_size_bytes"]["previous"] == 2000
    assert [(f["title"], f["new"]) for f in size["findings"]] == [("Fresh", True), ("Old", False)]
