"""The DR drill summary: a pure function of the phase results the role registered.

The inputs are shaped like upkeep_restore_verify's, upkeep_backup_check's and
upkeep_app_recovery's results (built with the real check() contract), so no server is needed."""

from __future__ import annotations

import datetime

import pytest

from ansible.module_utils.upkeep.dr import drill_summary
from ansible.module_utils.upkeep.result import ParameterError, check
from upkeep.report.dr import dr_section

NOW = datetime.datetime(2026, 11, 28, 12, 0, tzinfo=datetime.timezone.utc)
MIN = 60000.0


def restore(rto_min=12.0, status="ok", snapshot=NOW - datetime.timedelta(minutes=20)):
    metrics = {"restore_ms": rto_min * MIN, "verify_ms": 3 * MIN, "decrypt_ms": 0.0, "rto_ms": rto_min * MIN}
    item = check("restore.verify", "app-20261128.dump", status, "matches the manifest exactly", metrics=metrics)
    backup = {"kind": "upkeep", "dump_path": "/b/app-20261128.dump", "snapshot_time": snapshot.isoformat()}
    return {"changed": False, "checks": [item], "restores": [{"rto_ms": metrics["rto_ms"], "backup": backup}]}


def app(minutes=4.0, status="ok"):
    metrics = {"command_ms": 1000.0, "time_to_healthy_ms": minutes * MIN} if status == "ok" else {"command_ms": 1.0}
    return {"checks": [check("dr.app_recovery", "https://app/api/health", status, "healthy", metrics=metrics)]}


def freshness(age_hours):
    item = check("backup.freshness", "backups", "ok", "newest", metrics={"newest_age_hours": age_hours},
                 newest_at=(NOW - datetime.timedelta(hours=age_hours)).isoformat())
    return {"checks": [item]}


def by_id(checks):
    return {item["id"]: item for item in checks}


def test_a_drill_within_every_objective_passes_its_measured_phases():
    checks = by_id(drill_summary(restore(), app(), freshness(0.5), now=NOW))
    assert set(checks) == {"dr.database_recovery", "dr.rpo", "dr.drill", "dr.monitoring", "dr.communication"}
    assert checks["dr.database_recovery"]["status"] == "ok"
    assert checks["dr.database_recovery"]["metrics"]["measured_ms"] == 12 * MIN
    assert checks["dr.rpo"]["status"] == "ok"
    assert checks["dr.rpo"]["metrics"]["measured_ms"] == 20 * MIN  # the restored backup's snapshot wins
    drill = checks["dr.drill"]
    assert drill["status"] == "ok" and drill["metrics"]["full_recovery_ms"] == 16 * MIN
    assert [p["phase"] for p in drill["phases"]] == ["database_recovery", "app_recovery", "rpo", "monitoring",
                                                     "communication"]
    assert [p["status"] for p in drill["phases"]] == ["ok", "ok", "ok", "unknown", "unknown"]


def test_monitoring_and_communication_are_never_passed():
    checks = by_id(drill_summary(restore(), app(), freshness(0.5), now=NOW))
    for name in ("dr.monitoring", "dr.communication"):
        assert checks[name]["status"] == "unknown" and "not configured" in checks[name]["summary"]
        assert checks[name]["dr"]["configured"] is False and checks[name]["dr"]["passed"] is None


def test_the_report_section_reads_the_phases_and_never_passes_an_incomplete_drill():
    checks = drill_summary(restore(), app(), freshness(0.5), now=NOW)
    app_check = app()["checks"][0]
    section = dr_section(checks + [app_check])
    verdicts = {p["id"]: p["verdict"] for p in section["phases"]}
    assert verdicts["dr.database_recovery"] == "pass" and verdicts["dr.rpo"] == "pass"
    assert verdicts["dr.drill"] == "pass"
    assert verdicts["dr.monitoring"] == verdicts["dr.communication"] == "not configured"
    assert section["verdict"] == "incomplete"


@pytest.mark.parametrize("inputs, failing", [
    (dict(restore_result=restore(rto_min=75)), "dr.database_recovery"),
    (dict(restore_result=restore(status="critical")), "dr.database_recovery"),
    (dict(restore_result=restore(snapshot=NOW - datetime.timedelta(hours=3))), "dr.rpo"),
])
def test_a_phase_beyond_its_objective_fails_it_and_the_drill(inputs, failing):
    inputs = dict(dict(app_result=app(), backup_result=freshness(0.5)), **inputs)
    checks = by_id(drill_summary(now=NOW, **inputs))
    assert checks[failing]["status"] == "critical" and checks[failing]["dr"]["passed"] is False
    assert checks["dr.drill"]["status"] == "critical"


def test_slow_app_recovery_fails_the_drill():
    drill = by_id(drill_summary(restore(), app(minutes=31), freshness(0.5), now=NOW))["dr.drill"]
    assert drill["status"] == "critical"
    assert drill["phases"][1]["status"] == "critical"


def test_full_recovery_beyond_two_hours_fails_even_when_each_phase_passes():
    objectives = {"db_recovery": 100, "app_recovery": 50}
    drill = by_id(drill_summary(restore(rto_min=90), app(minutes=40), freshness(0.5), objectives=objectives,
                                now=NOW))["dr.drill"]
    assert [p["status"] for p in drill["phases"][:2]] == ["ok", "ok"]
    assert drill["status"] == "critical" and drill["metrics"]["full_recovery_ms"] == 130 * MIN


def test_phases_that_did_not_run_are_unknown_never_passed():
    skipped = {"skipped": True, "changed": False}
    failed = {"failed": True, "msg": "decrypt_key_file: backup is encrypted"}
    checks = by_id(drill_summary(failed, skipped, None, now=NOW))
    assert checks["dr.database_recovery"]["status"] == "unknown"
    assert "decrypt_key_file" in checks["dr.database_recovery"]["summary"]
    assert checks["dr.rpo"]["status"] == "unknown"
    assert checks["dr.drill"]["status"] == "unknown" and checks["dr.drill"]["dr"]["passed"] is None


def test_check_mode_restore_without_timings_is_not_measured():
    dry = {"checks": [check("restore.verify", "x.dump", "ok", "check mode: would restore")]}
    checks = by_id(drill_summary(dry, app(), freshness(0.5), now=NOW))
    assert checks["dr.database_recovery"]["status"] == "unknown"
    assert checks["dr.rpo"]["metrics"]["measured_ms"] == 0.5 * 60 * MIN  # falls back to the backup check


def test_rpo_falls_back_to_the_backup_checks_age_metric():
    backup = {"checks": [check("backup.freshness", "b", "ok", "x", metrics={"newest_age_hours": 2.0})]}
    rpo = by_id(drill_summary(None, None, backup, now=NOW))["dr.rpo"]
    assert rpo["status"] == "critical" and rpo["metrics"]["measured_ms"] == 120 * MIN


@pytest.mark.parametrize("objectives, message", [
    ({"rpo": 0}, "objectives.rpo: must be above 0"),
    ({"nonsense": 5}, "objectives.nonsense: unknown objective"),
])
def test_bad_objectives_name_the_parameter(objectives, message):
    with pytest.raises(ParameterError, match=message):
        drill_summary(objectives=objectives)
