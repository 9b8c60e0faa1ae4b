"""The sandbox's backups extension: each planted backup problem is what the checks report."""

from __future__ import annotations

from ansible.module_utils.upkeep import backup_check, restore
from upkeep.sandbox.extensions import backups as sandbox_backups


def test_planted_backup_problems_are_reported(source_db, restore_server, tmp_path):
    record = sandbox_backups.make_backups(tmp_path / "backups", source_db)
    state = {"artifacts": {"backups": record}, "secrets": {"db_password": "/x", "pg_superuser_password": "/y"},
             "components": {"postgres": dict(source_db, user=source_db["user"])}}
    host_vars = sandbox_backups.host_vars(state)
    assert "{{ lookup(" in host_vars["upkeep_backup_restore_verify"][0]["password"]  # no secret in the inventory
    checks = backup_check.check_sources({"sources": host_vars["upkeep_backup_sources"]})
    statuses = {(c["target"], c["id"]): c["status"] for c in checks}
    assert statuses[("app-db-backups", "backup.freshness")] == "ok"
    assert statuses[("app-db-backups", "backup.integrity")] == "ok"
    assert statuses[("app-db-backups", "backup.encryption")] == "critical"  # the older plain backup
    assert statuses[("legacy-nightly-dumps", "backup.freshness")] == "critical"  # 72 h > 24 h RPO
    assert statuses[("offsite-copy", "backup.integrity")] == "critical"  # flipped byte
    outcome = restore.restore_and_verify(record["app"], restore_server, name="app-db",
                                         decrypt_key_file=record["private_key"], source=source_db)
    assert outcome["check"]["status"] == "ok", outcome["check"]
    assert outcome["backup"]["dump_path"].endswith(".dump.enc")
