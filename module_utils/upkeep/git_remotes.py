# -*- coding: utf-8 -*-
"""Every remote of a code repository holds the same head for the protected branches (``backup.git``).

Runs on the app host: standard library only, git through its binary with argv lists. The guide
keeps code backups as "a git repository with multiple remotes": a remote that lags is a backup
that would lose commits. ``git ls-remote`` reads each remote's heads without changing anything;
how far behind a lagging remote is comes from ``git rev-list --count`` when the commits are in
the local repository, and a fetch (which updates remote-tracking refs) happens only on request.

Remote URLs may carry credentials, so results name remotes, never their URLs, and git's own
error text is reduced to its first line with anything URL-like removed.
"""

from __future__ import annotations

import os
import re
import subprocess

from .result import CRITICAL, OK, WARNING, ParameterError, Stopwatch, check, finding, thresholds, worst

CHECK_ID = "backup.git"
SHA_SHOWN = 12
_URL_RE = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://\S+|\S+@\S+:\S*")


class GitError(Exception):
    """A git command failed; the message is safe to show (no URL)."""


class Git(object):
    """Runs git in one repository with a timeout and without ever prompting for credentials."""

    def __init__(self, git, repo, timeout_s):
        self.argv = [git, "-c", "safe.directory=%s" % repo, "-C", repo]
        self.timeout_s = timeout_s
        self.env = dict(os.environ, GIT_TERMINAL_PROMPT="0", LC_ALL="C")
        self.env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")

    def run(self, *args):
        try:
            proc = subprocess.run(self.argv + list(args), capture_output=True, text=True, env=self.env,
                                  timeout=self.timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise GitError("git %s timed out after %ss" % (args[0], self.timeout_s))
        if proc.returncode != 0:
            raise GitError("git %s failed: %s" % (args[0], safe_error(proc.stderr)))
        return proc.stdout

    def ok(self, *args):
        try:
            self.run(*args)
        except GitError:
            return False
        return True


def safe_error(text):
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    first = next((line for line in lines if line.startswith(("fatal:", "error:"))), lines[0] if lines else "")
    return _URL_RE.sub("<url>", first)[:300] or "no message"


def short(sha):
    return sha[:SHA_SHOWN] if sha else None


def remote_heads(git, remote, branches):
    """``{branch: sha}`` of ``remote``'s protected branches (absent ones left out)."""
    output = git.run("ls-remote", "--heads", remote, *["refs/heads/%s" % branch for branch in branches])
    heads = {}
    for line in output.splitlines():
        sha, _, ref = line.partition("\t")
        if ref.startswith("refs/heads/"):
            heads[ref[len("refs/heads/"):]] = sha
    return heads


def _has_commit(git, sha):
    return git.ok("cat-file", "-e", "%s^{commit}" % sha)


def _reference(git, heads):
    """The head every other head is an ancestor of, or None when the heads diverged."""
    distinct = sorted(set(heads))
    for candidate in distinct:
        if all(other == candidate or git.ok("merge-base", "--is-ancestor", other, candidate) for other in distinct):
            return candidate
    return None


def check_repository(git_bin, repo, branches, remotes=None, fetch=False, check_mode=False,
                     timeout_s=30, behind_warning=1, behind_critical=20, name=None):
    """One ``backup.git`` check for ``repo``."""
    target = name or repo
    with Stopwatch() as watch:
        git = Git(git_bin, repo, timeout_s)
        try:
            configured = git.run("remote").split()
        except GitError as exc:
            return check(CHECK_ID, target, CRITICAL, "not a readable git repository: %s" % exc,
                         findings=[finding(CRITICAL, "Repository unreadable", repo, str(exc),
                                           "Fix the repository path in the inventory.")],
                         duration_ms=watch.ms)
        wanted = remotes or configured
        findings, rows = [], []
        unknown_remotes = [remote for remote in wanted if remote not in configured]
        for remote in unknown_remotes:
            findings.append(finding(CRITICAL, "Remote not configured", remote,
                                    "expected remote %r is not configured in the repository" % remote,
                                    "Add the backup remote (git remote add) or fix the inventory."))
        present = [remote for remote in wanted if remote in configured]
        if len(present) < 2:
            findings.append(finding(WARNING, "Fewer than two remotes", repo,
                                    "%d remote(s): the code has no second copy to compare with" % len(present),
                                    "Add a backup remote to the repository."))
        heads = {}
        for remote in present:
            try:
                heads[remote] = remote_heads(git, remote, branches)
            except GitError as exc:
                heads[remote] = None
                findings.append(finding(CRITICAL, "Remote unreachable", remote, str(exc),
                                        "Check the remote's address and the host's credentials for it."))
        fetched = []
        if fetch and not check_mode:
            for remote in present:
                if heads.get(remote) and any(not _has_commit(git, sha) for sha in heads[remote].values()):
                    try:
                        git.run("fetch", "--quiet", "--no-tags", remote,
                                *["+refs/heads/%s:refs/remotes/%s/%s" % (b, remote, b) for b in heads[remote]])
                        fetched.append(remote)
                    except GitError as exc:
                        findings.append(finding(WARNING, "Fetch failed", remote, str(exc)))
        elif fetch:
            findings.append(finding("info", "Fetch skipped in check mode", repo,
                                    "commit counts need the remotes' objects locally"))
        for branch in branches:
            rows.extend(_compare_branch(git, branch, present, heads, findings))
    statuses = [OK] + [item["severity"] for item in findings if item["severity"] != "info"]
    behind = [row["behind_commits"] for row in rows if row["behind_commits"] is not None]
    max_behind = max(behind, default=0)
    statuses.append(_judge_behind(max_behind, behind_warning, behind_critical))
    status = worst(statuses)
    lagging = sorted({row["remote"] for row in rows if row["state"] != "current"})
    metrics = {"remotes": len(present), "branches": len(branches), "remotes_lagging": len(lagging),
               "max_behind_commits": max_behind}
    if status == OK:
        summary = "%d remotes agree on %s" % (len(present), ", ".join(branches))
    else:
        parts = []
        if lagging:
            parts.append("%d of %d remotes lag or differ on %s%s" % (
                len(lagging), len(present), ", ".join(branches),
                " (up to %d commits behind)" % max_behind if max_behind else ""))
        # Problems that are not a lag (unreachable, not configured...) would hide behind "0 of N".
        others = [f for f in findings if f["severity"] != "info" and f["title"] != "Remote behind"]
        if others:
            parts.append("%s: %s%s" % (others[0]["title"].lower(), others[0]["resource"],
                                       " (and %d more)" % (len(others) - 1) if len(others) > 1 else ""))
        summary = "; ".join(parts)
    return check(CHECK_ID, target, status, summary, metrics=metrics,
                 thresholds={"max_behind_commits": thresholds(behind_warning, behind_critical)},
                 findings=findings, duration_ms=watch.ms, remotes=rows, fetched=fetched)


def _judge_behind(count, warning, critical):
    if count >= critical:
        return CRITICAL
    if count >= warning:
        return WARNING
    return OK


def _compare_branch(git, branch, remotes, heads, findings):
    """Rows ``{remote, branch, head, state, behind_commits}`` for one protected branch."""
    reachable = [remote for remote in remotes if heads.get(remote) is not None]
    present = {remote: heads[remote][branch] for remote in reachable if branch in heads[remote]}
    rows = []
    for remote in reachable:
        if remote not in present:
            rows.append({"remote": remote, "branch": branch, "head": None, "state": "missing", "behind_commits": None})
            findings.append(finding(CRITICAL, "Protected branch missing on remote", "%s/%s" % (remote, branch),
                                    "the remote has no branch %r" % branch, "Push the branch to this remote."))
    if not present:
        return rows
    local = [sha for sha in set(present.values()) if _has_commit(git, sha)]
    reference = _reference(git, local) if len(local) == len(set(present.values())) else None
    if reference is None and len(set(present.values())) > 1 and len(local) == len(set(present.values())):
        for remote, sha in sorted(present.items()):
            rows.append({"remote": remote, "branch": branch, "head": short(sha), "state": "diverged",
                         "behind_commits": None})
        findings.append(finding(CRITICAL, "Remotes diverged", branch,
                                "heads %s share no common newest commit" % ", ".join(
                                    "%s=%s" % (r, short(s)) for r, s in sorted(present.items())),
                                "Reconcile the remotes (merge or force-push from the authoritative one)."))
        return rows
    if len(set(present.values())) > 1 and reference is None:
        # Some heads are not in the local repository: the remotes differ, by how much is unknown.
        for remote, sha in sorted(present.items()):
            rows.append({"remote": remote, "branch": branch, "head": short(sha), "state": "differs",
                         "behind_commits": None})
        findings.append(finding(WARNING, "Remote heads differ (commit count unknown)", branch,
                                "heads %s; not all of them are in the local repository" % ", ".join(
                                    "%s=%s" % (r, short(s)) for r, s in sorted(present.items())),
                                "Enable fetch to count the commits, or push the branch to every remote."))
        return rows
    for remote, sha in sorted(present.items()):
        row = {"remote": remote, "branch": branch, "head": short(sha), "state": "current", "behind_commits": 0}
        if reference is not None and sha != reference:
            count = int(git.run("rev-list", "--count", "%s..%s" % (sha, reference)).strip() or 0)
            row.update(state="behind", behind_commits=count)
            findings.append(finding(WARNING, "Remote behind", "%s/%s" % (remote, branch),
                                    "head %s is %d commit(s) behind %s" % (short(sha), count, short(reference)),
                                    "Push %s to the remote (git push %s %s)." % (branch, remote, branch)))
        rows.append(row)
    return rows


def check_repositories(git_bin, params, check_mode=False):
    """``backup.git`` checks for every item of ``params["repositories"]``."""
    checks = []
    for index, item in enumerate(params.get("repositories") or []):
        repo = item.get("path")
        if not repo or not os.path.isabs(repo):
            raise ParameterError("repositories[%d].path: must be an absolute path, got %r" % (index, repo))
        branches = item.get("branches") or params.get("branches") or ["main"]
        for branch in branches:
            if not branch or branch.startswith("-") or ".." in branch:
                raise ParameterError("repositories[%d].branches: not a branch name: %r" % (index, branch))
        remotes = item.get("remotes") or params.get("remotes") or None
        for remote in remotes or []:
            if remote.startswith("-"):
                raise ParameterError("repositories[%d].remotes: not a remote name: %r" % (index, remote))
        fetch = item.get("fetch")
        fetch = bool(params.get("fetch")) if fetch is None else fetch
        warning = _pick(item, params, "behind_warning_commits", 1)
        critical = _pick(item, params, "behind_critical_commits", 20)
        checks.append(check_repository(git_bin, os.path.normpath(repo), branches, remotes=remotes, fetch=fetch,
                                       check_mode=check_mode, timeout_s=params.get("timeout_s") or 30,
                                       behind_warning=warning, behind_critical=critical, name=item.get("name")))
    return checks


def _pick(item, params, key, default):
    for value in (item.get(key), params.get(key)):
        if value is not None:
            return value
    return default

