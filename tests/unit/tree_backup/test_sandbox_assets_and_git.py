"""The sandbox extension: provisioning is idempotent, repairs a half-made tree, and its inventory
variables carry no secret values (only file lookups)."""

from __future__ import annotations

import shutil

from upkeep.sandbox import inventory, manager
from upkeep.sandbox.extensions import assets_and_git


def _state(layout):
    return {"artifacts": {}, "ca_file": "/ca.pem", "secrets": {"pg_superuser_password": str(layout.secret("pg")),
                                                               "db_password": str(layout.secret("db"))},
            "components": {"webapp": {"url": "https://127.0.0.1:8443/"},
                           "postgres": {"host": "127.0.0.1", "port": 5433, "user": "app", "database": "app"}}}


def test_provision_is_idempotent_and_registers_everything(tmp_path):
    layout = manager.Layout(tmp_path)
    state = _state(layout)
    assert manager.PROVISIONERS[assets_and_git.NAME] is assets_and_git.provision
    assets_and_git.provision(layout, state)
    record = state["artifacts"][assets_and_git.NAME]
    marker = layout.dir / "files" / "untouched"
    marker.write_text("x")
    assets_and_git.provision(layout, state)  # already there: left alone
    assert marker.exists() and state["artifacts"][assets_and_git.NAME] == record

    host_vars = inventory.HOST_VARS[assets_and_git.NAME](state)
    assert [t["name"] for t in host_vars["upkeep_files_backup_trees"]] == ["public-images", "app-config"]
    assert host_vars["upkeep_files_backup_git_repos"][0]["path"] == record["git"]["path"]
    assert host_vars["upkeep_dr_drill_recovery_command"] == ["true"]
    assert host_vars["upkeep_dr_drill_health_url"] == "https://127.0.0.1:8443/api/health"
    assert host_vars["upkeep_dr_drill_staging_server"]["password"].startswith('{{ lookup("ansible.builtin.file"')


def test_a_half_made_tree_is_rebuilt(tmp_path):
    layout = manager.Layout(tmp_path)
    state = _state(layout)
    assets_and_git.provision(layout, state)
    live = state["artifacts"][assets_and_git.NAME]["trees"][0]["source"]
    shutil.rmtree(live)
    assets_and_git.provision(layout, state)
    assert (tmp_path / ".sandbox/files/live/public/images" / assets_and_git.MISSING_IMAGE).is_file()


def test_without_a_record_there_are_no_variables():
    assert inventory.HOST_VARS[assets_and_git.NAME]({"artifacts": {}}) == {}
