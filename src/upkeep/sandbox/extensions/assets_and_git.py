"""The sandbox's file and code backups, and the app recovery step of the DR drill.

- Asset trees: ``files/live/public/images`` (real PNG and JPEG files, the web app's own) and
  ``files/live/config`` (an app config and a ``.env`` with a fake secret) with their backup copies
  under ``files/backup/``. Planted: one image missing from the backup, unprotected for three days
  (beyond the 24 h RPO: critical), and one config value changed since the backup (same size, so
  only the content checksum finds it; recent: warning).
- Code: ``files/git/app`` (a working clone with commits on ``main``) and two bare remotes,
  ``origin`` (up to date) and ``backup``, which lags ``LAG_COMMITS`` commits behind.
- App recovery: the recovery command is ``["true"]``, a harmless no-op: the sandbox web app is a
  detached process the manager tracks by pid, and restarting it from a drill would race the
  manager; the drill still measures the command and the time until ``/api/health`` is healthy.

The builders are plain functions so tests make the same trees and repositories.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import time

from upkeep.sandbox import inventory, manager, webapp_content
from upkeep.sandbox.pgcluster import SUPERUSER as PG_SUPERUSER

NAME = "assets_and_git"
LAG_COMMITS = 3
MISSING_IMAGE = "products/rebar-16mm.png"
CHANGED_CONFIG = ".env.production"
FAKE_SECRET = "sandbox-session-secret-7d41c0"
STALE_HOURS = 72

_GIT_ENV = {"GIT_AUTHOR_NAME": "upkeep sandbox", "GIT_AUTHOR_EMAIL": "sandbox@upkeep.invalid",
            "GIT_COMMITTER_NAME": "upkeep sandbox", "GIT_COMMITTER_EMAIL": "sandbox@upkeep.invalid",
            "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0"}


def _write(path: pathlib.Path, data: bytes, mtime: float | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def _config_files(log_level: str) -> dict[str, bytes]:
    return {
        "app.json": b'{"siteName": "Al Mazahir Trading", "locale": "en", "itemsPerPage": 24}\n',
        CHANGED_CONFIG: ("NODE_ENV=production\nLOG_LEVEL=%s\nSESSION_SECRET=%s\n" % (log_level, FAKE_SECRET)).encode(),
    }


def make_asset_trees(base: pathlib.Path, now: float | None = None) -> list[dict]:
    """Live trees and their backup copies under ``base`` with the planted differences; returns
    the tree items (name, source, copy) the files-backup role takes."""
    now = time.time() if now is None else now
    live, backup = base / "live", base / "backup"
    images = {path.split("/images/", 1)[1]: data for path, (_, data) in webapp_content.IMAGES.items()}
    for relative, data in images.items():
        stale = relative == MISSING_IMAGE
        _write(live / "public/images" / relative, data, now - STALE_HOURS * 3600 if stale else now - 7200)
        if not stale:
            _write(backup / "public/images" / relative, data, now - 3600)
    for relative, data in _config_files("warn").items():
        _write(live / "config" / relative, data, now - 1800)
    # Same length as the live value: only the checksum tells them apart.
    for relative, data in _config_files("info").items():
        _write(backup / "config" / relative, data, now - 3600)
    return [{"name": "public-images", "source": str(live / "public/images"), "copy": str(backup / "public/images")},
            {"name": "app-config", "source": str(live / "config"), "copy": str(backup / "config")}]


def git(*args: str, cwd: pathlib.Path | None = None) -> str:
    env = dict(os.environ, **_GIT_ENV)
    proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=True)
    return proc.stdout.strip()


def commit(repo: pathlib.Path, name: str, text: str) -> str:
    (repo / name).write_text(text)
    git("add", name, cwd=repo)
    git("commit", "-q", "-m", "Update %s" % name, cwd=repo)
    return git("rev-parse", "HEAD", cwd=repo)


def make_git_repos(base: pathlib.Path, lag: int = LAG_COMMITS, commits: int = 5) -> dict:
    """A working repository with remotes ``origin`` (current) and ``backup`` (``lag`` commits
    behind on main); returns the repository item the files-backup role takes."""
    work = base / "app"
    remotes = {name: base / "remotes" / ("%s.git" % name) for name in ("origin", "backup")}
    for path in remotes.values():
        path.mkdir(parents=True, exist_ok=True)
        git("init", "-q", "--bare", "-b", "main", str(path))
    work.mkdir(parents=True, exist_ok=True)
    git("init", "-q", "-b", "main", cwd=work)
    for name, path in remotes.items():
        git("remote", "add", name, path.as_uri(), cwd=work)
    for number in range(commits):
        commit(work, "CHANGELOG.md", "release %d\n" % number)
        if number == commits - 1 - lag:
            git("push", "-q", "backup", "main", cwd=work)
    git("push", "-q", "origin", "main", cwd=work)
    return {"name": "app-code", "path": str(work), "branches": ["main"]}


def provision(layout: manager.Layout, state: dict) -> None:
    base = layout.dir / "files"
    record = state.setdefault("artifacts", {}).get(NAME)
    if record and all(pathlib.Path(item["source"]).is_dir() for item in record["trees"]) and \
            pathlib.Path(record["git"]["path"], ".git").is_dir():
        return
    if base.exists():
        shutil.rmtree(base)  # half made or moved: start afresh
    state["artifacts"][NAME] = {"trees": make_asset_trees(base), "git": make_git_repos(base / "git")}


def host_vars(state: dict) -> dict:
    record = state.get("artifacts", {}).get(NAME)
    if not record:
        return {}
    web, pg = state["components"]["webapp"], state["components"]["postgres"]
    secrets = state["secrets"]
    return {
        "upkeep_files_backup_trees": record["trees"],
        "upkeep_files_backup_git_repos": [record["git"]],
        "upkeep_dr_drill_recovery_command": ["true"],
        "upkeep_dr_drill_health_url": web["url"].rstrip("/") + "/api/health",
        "upkeep_dr_drill_health_ca_file": state["ca_file"],
        "upkeep_dr_drill_poll_interval_s": 1,
        # The sandbox has one PostgreSQL server: it doubles as staging. The drill restores only into
        # a new upkeep_scratch_ database there (upkeep_restore_verify refuses the source) and reads
        # the source to prove it is not the target. The backup path comes from the backups extension.
        "upkeep_dr_drill_staging_server": {
            "name": "sandbox-staging", "host": pg["host"], "port": pg["port"], "user": PG_SUPERUSER,
            "password": inventory.secret_lookup(secrets["pg_superuser_password"]), "database": "postgres"},
        "upkeep_dr_drill_source": {
            "name": "app-db", "host": pg["host"], "port": pg["port"], "user": pg["user"],
            "password": inventory.secret_lookup(secrets["db_password"]), "database": pg["database"]},
    }


manager.PROVISIONERS[NAME] = provision
inventory.HOST_VARS[NAME] = host_vars
