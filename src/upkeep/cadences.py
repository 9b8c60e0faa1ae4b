"""Where the project lives and which cadences (playbooks) and checks it has.

The repo root is ``$UPKEEP_HOME`` or the checkout this package sits in (src/upkeep/../..).
The playbooks dir is ``<root>/playbooks``; ``$UPKEEP_PLAYBOOK_DIR`` points elsewhere (a test
and advanced knob: tests run the wrapper against test-only playbooks with it).
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re

import yaml

# The guide's four cadences: always "known", so a missing file is reported as a missing
# playbook rather than an unknown cadence.
STANDARD = ("daily", "weekly", "monthly", "quarterly")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]*$")


class CadenceError(ValueError):
    """A cadence that cannot be run; the message says what is wrong (a usage error)."""


def repo_root() -> pathlib.Path:
    env = os.environ.get("UPKEEP_HOME")
    if env:
        return pathlib.Path(env).resolve()
    return pathlib.Path(__file__).resolve().parents[2]


def default_report_dir() -> pathlib.Path:
    """Where reports and history live unless told otherwise: the checkout's ``reports/`` (the
    directory its ansible.cfg names for plain ansible-playbook runs too), or, for an installed
    package without a checkout, ``$XDG_STATE_HOME/upkeep/reports`` (``~/.local/state/upkeep/reports``)."""
    root = repo_root()
    if (root / "ansible.cfg").is_file() and (root / "playbooks").is_dir():
        return root / "reports"
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return pathlib.Path(state) / "upkeep" / "reports"


def playbooks_dir() -> pathlib.Path:
    env = os.environ.get("UPKEEP_PLAYBOOK_DIR")
    return pathlib.Path(env).resolve() if env else repo_root() / "playbooks"


def known_cadences(directory: pathlib.Path | None = None) -> list[str]:
    directory = directory or playbooks_dir()
    found = {p.stem for p in directory.glob("*.yml") if _NAME_RE.match(p.stem)} if directory.is_dir() else set()
    return list(STANDARD) + sorted(found - set(STANDARD))


def playbook_for(cadence: str, directory: pathlib.Path | None = None) -> pathlib.Path:
    """The playbook of ``cadence``; CadenceError for an unknown cadence or a missing file."""
    directory = directory or playbooks_dir()
    known = known_cadences(directory)
    if cadence not in known:
        raise CadenceError("unknown cadence %r (known: %s)" % (cadence, ", ".join(known)))
    path = directory / (cadence + ".yml")
    if not path.is_file():
        raise CadenceError("missing playbook for cadence %r: %s does not exist" % (cadence, path))
    return path


@dataclasses.dataclass
class RoleInfo:
    name: str
    checks: list[dict]  # [{id, description}] from meta/upkeep_checks.yml


@dataclasses.dataclass
class CadenceInfo:
    name: str
    playbook: pathlib.Path
    exists: bool
    roles: list[RoleInfo]
    error: str | None = None


def describe(directory: pathlib.Path | None = None) -> list[CadenceInfo]:
    """Every known cadence with its roles and the checks each role can emit."""
    directory = directory or playbooks_dir()
    result = []
    for name in known_cadences(directory):
        path = directory / (name + ".yml")
        if not path.is_file():
            result.append(CadenceInfo(name, path, False, []))
            continue
        try:
            roles = [RoleInfo(role, role_checks(role, directory)) for role in roles_of(path)]
            result.append(CadenceInfo(name, path, True, roles))
        except (OSError, yaml.YAMLError) as exc:
            result.append(CadenceInfo(name, path, True, [], error=str(exc).splitlines()[0]))
    return result


def roles_of(playbook: pathlib.Path) -> list[str]:
    """Role names a playbook uses (``roles:`` and include_role/import_role tasks), in order."""
    plays = yaml.safe_load(playbook.read_text()) or []
    names: list[str] = []

    def add(name):
        if isinstance(name, str) and name and name not in names:
            names.append(name)

    def walk_tasks(tasks):
        for task in tasks or []:
            if not isinstance(task, dict):
                continue
            for key in ("include_role", "import_role", "ansible.builtin.include_role", "ansible.builtin.import_role"):
                if isinstance(task.get(key), dict):
                    add(task[key].get("name"))
            for key in ("block", "rescue", "always"):
                walk_tasks(task.get(key))

    for play in plays if isinstance(plays, list) else []:
        if not isinstance(play, dict):
            continue
        for role in play.get("roles") or []:
            add(role if isinstance(role, str) else (role or {}).get("role") or (role or {}).get("name"))
        for key in ("pre_tasks", "tasks", "post_tasks"):
            walk_tasks(play.get(key))
    return names


def role_checks(role: str, directory: pathlib.Path | None = None) -> list[dict]:
    """The checks a role declares in meta/upkeep_checks.yml (empty when it declares none)."""
    directory = directory or playbooks_dir()
    for base in (directory / "roles", repo_root() / "roles"):
        meta = base / role / "meta" / "upkeep_checks.yml"
        if meta.is_file():
            data = yaml.safe_load(meta.read_text()) or {}
            return [c for c in data.get("checks") or [] if isinstance(c, dict) and c.get("id")]
    return []
