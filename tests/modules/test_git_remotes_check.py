"""upkeep_git_remotes_check through real ansible-playbook runs (local connection) on real
repositories with file:// remotes."""

from __future__ import annotations

import json
import pathlib
import subprocess

import pytest

from tests.support.playbook import run_tasks
from upkeep.sandbox.extensions.assets_and_git import commit, git, make_git_repos

pytestmark = pytest.mark.slow

TASK = "Compare the remotes"
TOKEN = "glpat-fakeTokenForModuleTests42"


@pytest.fixture
def repo(tmp_path):
    return make_git_repos(tmp_path / "git")


def test_module_reports_the_lagging_remote(repo, tmp_path):
    run = run_tasks([{"name": TASK, "upkeep_git_remotes_check": {"repositories": [repo]}}], tmp_path=tmp_path / "run")
    result = run.one(TASK)
    assert not result.failed, run.stdout[-3000:]
    check = result.res["checks"][0]
    assert (check["id"], check["target"], check["status"]) == ("backup.git", "app-code", "warning")
    assert {row["remote"]: row["behind_commits"] for row in check["remotes"]} == {"backup": 3, "origin": 0}
    assert result.res["changed"] is False


def test_fetch_counts_unknown_commits_and_reports_the_change_but_check_mode_never_fetches(repo, tmp_path):
    other = tmp_path / "other"
    git("clone", "-q", git("remote", "get-url", "origin", cwd=repo["path"]), str(other))
    ahead = commit(other, "ahead.txt", "new\n")
    git("push", "-q", "origin", "main", cwd=other)
    task = {"name": TASK, "upkeep_git_remotes_check": {"repositories": [repo], "fetch": True}}

    dry = run_tasks([task], check=True, tmp_path=tmp_path / "dry").one(TASK)
    assert not dry.failed and dry.res["changed"] is False and dry.res["checks"][0]["fetched"] == []
    assert not _has_object(repo["path"], ahead)  # nothing fetched

    real = run_tasks([task], tmp_path=tmp_path / "real").one(TASK)
    assert real.res["changed"] is True and real.res["checks"][0]["fetched"] == ["origin"]
    assert {r["remote"]: r["behind_commits"] for r in real.res["checks"][0]["remotes"]} == {"backup": 4, "origin": 0}
    assert _has_object(repo["path"], ahead)


def _has_object(path, sha):
    return subprocess.run(["git", "-C", path, "cat-file", "-e", sha], capture_output=True).returncode == 0


def test_a_remote_url_with_credentials_appears_nowhere(repo, tmp_path, closed_port):
    git("remote", "add", "mirror", "https://ci:%s@127.0.0.1:%d/app.git" % (TOKEN, closed_port), cwd=repo["path"])
    run = run_tasks([{"name": TASK, "upkeep_git_remotes_check": {"repositories": [repo], "timeout_s": 20}}],
                    tmp_path=tmp_path / "run")
    assert run.one(TASK).res["checks"][0]["status"] == "critical"
    files = [p.read_text(errors="replace") for p in pathlib.Path(run.artifacts_dir).rglob("*") if p.is_file()]
    said = "\n".join([run.stdout, json.dumps([r.res for r in run.results])] + files)
    assert TOKEN not in said


def test_bad_parameters_fail_with_a_message_naming_them(tmp_path):
    run = run_tasks([{"name": TASK, "upkeep_git_remotes_check": {"repositories": [{"path": "relative"}]}}],
                    tmp_path=tmp_path / "run")
    result = run.one(TASK)
    assert result.failed and result.res["msg"].startswith("repositories[0].path: must be an absolute path")
    assert "Traceback" not in run.stdout
