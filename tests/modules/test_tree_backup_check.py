"""upkeep_tree_backup_check and the upkeep_files_backup role through real ansible-playbook runs
(local connection) on real directories."""

from __future__ import annotations

import json
import pathlib
import sys

import pytest
import yaml

from tests.support.playbook import run_tasks
from upkeep.sandbox.extensions import assets_and_git

pytestmark = pytest.mark.slow

TASK = "Compare the trees"
ROLE_TREE_TASK = "Compare the asset and configuration trees with their backup copies"
ROLE_GIT_TASK = "Compare the protected branches of every remote of the code repositories"


def _everything_said(run):
    files = [p.read_text(errors="replace") for p in pathlib.Path(run.artifacts_dir).rglob("*") if p.is_file()]
    return "\n".join([run.stdout, json.dumps([item.res for item in run.results])] + files)


@pytest.fixture
def trees(tmp_path):
    return assets_and_git.make_asset_trees(tmp_path / "files")


def test_module_reports_each_tree_and_never_a_config_value(trees, tmp_path):
    run = run_tasks([{"name": TASK, "upkeep_tree_backup_check": {"trees": trees}}], tmp_path=tmp_path / "run")
    result = run.one(TASK)
    assert not result.failed, run.stdout[-3000:]
    assert [(c["id"], c["target"], c["status"]) for c in result.res["checks"]] == [
        ("backup.tree", "public-images", "critical"), ("backup.tree", "app-config", "warning")]
    assert result.res["changed"] is False and result.res["counts"]["critical"] == 1
    said = _everything_said(run)
    assert assets_and_git.FAKE_SECRET not in said and "LOG_LEVEL=" not in said


def test_check_mode_compares_and_reports_no_change(trees, tmp_path):
    run = run_tasks([{"name": TASK, "upkeep_tree_backup_check": {"trees": trees}}], check=True,
                    tmp_path=tmp_path / "run")
    result = run.one(TASK)
    assert not result.failed and result.res["changed"] is False
    assert result.res["checks"][0]["status"] == "critical"


def test_bad_parameters_fail_with_a_message_naming_them(tmp_path):
    run = run_tasks([{"name": TASK, "upkeep_tree_backup_check": {
        "trees": [{"source": "/srv/a", "copy": "/srv/a/inner"}]}}], tmp_path=tmp_path / "run")
    result = run.one(TASK)
    assert result.failed
    assert result.res["msg"].startswith("trees[0]: source and copy must be separate trees")
    assert "Traceback" not in run.stdout


def test_the_role_runs_both_parts_on_each_host(trees, tmp_path):
    repo = assets_and_git.make_git_repos(tmp_path / "git")
    play = [{"name": "Files backup", "hosts": "all", "gather_facts": False, "roles": ["upkeep_files_backup"]}]
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump(play))
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory = {"all": {"hosts": {
        "app1": dict(local, upkeep_files_backup_trees=trees, upkeep_files_backup_git_repos=[repo]),
        "app2": dict(local),  # nothing configured: both parts skipped
    }}}
    run = run_tasks(None, inventory=inventory, playbook=playbook, tmp_path=tmp_path / "run")
    tree_results = {r.host: r for r in run.for_task(ROLE_TREE_TASK)}
    git_results = {r.host: r for r in run.for_task(ROLE_GIT_TASK)}
    assert tree_results["app1"].res["status"] == "critical"
    assert git_results["app1"].res["checks"][0]["status"] == "warning"
    assert git_results["app1"].res["checks"][0]["metrics"]["max_behind_commits"] == assets_and_git.LAG_COMMITS
    assert tree_results["app2"].event == git_results["app2"].event == "runner_on_skipped"
    assert run.rc == 0, run.stdout[-3000:]
