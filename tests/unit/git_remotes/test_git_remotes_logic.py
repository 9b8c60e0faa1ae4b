"""backup.git on real repositories with file:// remotes (bare repositories in tmp_path)."""

from __future__ import annotations

import json
import shutil

import pytest

from ansible.module_utils.upkeep.git_remotes import check_repositories, check_repository
from ansible.module_utils.upkeep.result import ParameterError
from upkeep.sandbox.extensions.assets_and_git import commit, git, make_git_repos

GIT = shutil.which("git")
TOKEN = "ghp_fakeTokenForTests0123456789"


@pytest.fixture
def repo(tmp_path):
    """The sandbox's layout: origin current, backup 3 commits behind on main."""
    return make_git_repos(tmp_path)["path"]


def _clone(tmp_path, remote_name, repo, name="other"):
    url = git("remote", "get-url", remote_name, cwd=repo)
    other = tmp_path / name
    git("clone", "-q", url, str(other))
    return other


def test_a_lagging_remote_is_reported_with_its_commit_count(repo):
    result = check_repository(GIT, repo, ["main"])
    assert result["status"] == "warning"
    assert result["metrics"] == {"remotes": 2, "branches": 1, "remotes_lagging": 1, "max_behind_commits": 3}
    rows = {row["remote"]: row for row in result["remotes"]}
    assert rows["backup"]["state"] == "behind" and rows["backup"]["behind_commits"] == 3
    assert rows["origin"]["state"] == "current" and len(rows["origin"]["head"]) == 12
    assert result["findings"][0]["resource"] == "backup/main"


def test_remotes_in_step_are_ok(repo):
    git("push", "-q", "backup", "main", cwd=repo)
    result = check_repository(GIT, repo, ["main"])
    assert result["status"] == "ok" and result["findings"] == []
    assert result["metrics"]["max_behind_commits"] == 0


def test_lagging_beyond_the_critical_threshold_is_critical(repo):
    assert check_repository(GIT, repo, ["main"], behind_critical=3)["status"] == "critical"


def test_diverged_remotes_are_critical(repo, tmp_path):
    other = _clone(tmp_path, "backup", repo)
    commit(other, "hotfix.txt", "only on backup\n")
    git("push", "-q", "origin", "main", cwd=other)  # the clone's origin is the backup remote
    git("fetch", "-q", "backup", cwd=repo)  # the diverging commit is local: the divergence is provable
    result = check_repository(GIT, repo, ["main"])
    assert result["status"] == "critical"
    assert {row["state"] for row in result["remotes"]} == {"diverged"}
    assert any(f["title"] == "Remotes diverged" for f in result["findings"])


def test_unknown_commits_are_counted_only_after_a_fetch(repo, tmp_path):
    other = _clone(tmp_path, "origin", repo)
    for number in range(2):
        commit(other, "new.txt", "ahead %d\n" % number)
    git("push", "-q", "origin", "main", cwd=other)
    unknown = check_repository(GIT, repo, ["main"])
    assert unknown["status"] == "warning"
    assert {row["state"] for row in unknown["remotes"]} == {"differs"}
    assert unknown["fetched"] == []

    dry = check_repository(GIT, repo, ["main"], fetch=True, check_mode=True)
    assert dry["fetched"] == [] and any(f["title"] == "Fetch skipped in check mode" for f in dry["findings"])

    fetched = check_repository(GIT, repo, ["main"], fetch=True)
    assert fetched["fetched"] == ["origin"]
    rows = {row["remote"]: row for row in fetched["remotes"]}
    assert rows["backup"]["behind_commits"] == 5 and rows["origin"]["state"] == "current"


def test_a_branch_missing_on_a_remote_is_critical(repo):
    git("push", "-q", "origin", "main:release", cwd=repo)
    result = check_repository(GIT, repo, ["main", "release"])
    assert result["status"] == "critical"
    missing = [row for row in result["remotes"] if row["state"] == "missing"]
    assert missing == [{"remote": "backup", "branch": "release", "head": None, "state": "missing",
                        "behind_commits": None}]


def test_an_unreachable_remote_is_critical_and_its_url_never_shown(repo, closed_port):
    git("remote", "add", "mirror", "http://deploy:%s@127.0.0.1:%d/app.git" % (TOKEN, closed_port), cwd=repo)
    result = check_repository(GIT, repo, ["main"], timeout_s=20)
    assert result["status"] == "critical"
    assert [f["resource"] for f in result["findings"] if f["title"] == "Remote unreachable"] == ["mirror"]
    said = json.dumps(result)
    assert TOKEN not in said and "deploy:" not in said


def test_an_expected_remote_that_is_not_configured_is_critical(repo):
    result = check_repository(GIT, repo, ["main"], remotes=["origin", "gitlab"])
    assert result["status"] == "critical"
    assert any(f["title"] == "Remote not configured" and f["resource"] == "gitlab" for f in result["findings"])


def test_not_a_repository_is_critical(tmp_path):
    result = check_repository(GIT, str(tmp_path), ["main"])
    assert result["status"] == "critical" and result["findings"][0]["title"] == "Repository unreadable"


@pytest.mark.parametrize("item, message", [
    ({"path": "relative/repo"}, r"repositories\[0\].path: must be an absolute path"),
    ({"path": "/srv/app", "branches": ["--upload-pack=x"]}, r"repositories\[0\].branches: not a branch name"),
    ({"path": "/srv/app", "remotes": ["-x"]}, r"repositories\[0\].remotes: not a remote name"),
])
def test_bad_parameters_name_the_parameter(item, message):
    with pytest.raises(ParameterError, match=message):
        check_repositories(GIT, {"repositories": [item]})
