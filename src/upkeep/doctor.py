"""``upkeep doctor``: what a run will use, before it runs.

Says which Python interpreter each inventory host will use (interpreter discovery can pick a
pyenv shim of another Python and fail every task: STYLE.md "Pitfalls"), whether the controller
has the libraries the controller-side checks import, whether the external tools are on PATH and
which versions, and whether the report dir is writable. Each line is ok, warn or fail; any fail
makes the exit code 1.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import importlib.util
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

OK, WARN, FAIL = "ok", "warn", "fail"
LIBRARIES = ("httpx", "psycopg", "jinja2")
TOOLS = ("pg_dump", "pg_restore", "npm", "git")
PLAYBOOK_PYTHON = "{{ ansible_playbook_python }}"
TIMEOUT_S = 30


@dataclasses.dataclass
class Line:
    status: str
    topic: str
    text: str


def inventory_hosts(inventory: str, root: pathlib.Path) -> dict[str, dict]:
    """Every host of ``inventory`` with its variables, as ``ansible-inventory --list`` sees them
    (group vars merged, templates left unrendered)."""
    binary = pathlib.Path(sys.executable).parent / "ansible-inventory"
    env = dict(os.environ, ANSIBLE_CONFIG=str(root / "ansible.cfg"))
    proc = subprocess.run([str(binary), "-i", inventory, "--list"], cwd=root, env=env, capture_output=True,
                          text=True, timeout=TIMEOUT_S)
    if proc.returncode != 0:
        raise RuntimeError((proc.stderr.strip().splitlines() or ["ansible-inventory failed"])[-1])
    data = json.loads(proc.stdout)
    hostvars = (data.get("_meta") or {}).get("hostvars") or {}
    hosts = {name: dict(values) for name, values in hostvars.items()}
    for group, body in data.items():
        if group != "_meta" and isinstance(body, dict):
            for name in body.get("hosts") or []:
                hosts.setdefault(name, {})
    if not hosts:
        warnings = [line.strip() for line in proc.stderr.splitlines() if line.strip()]
        raise RuntimeError("no hosts" + (": " + " ".join(warnings)[-300:] if warnings else ""))
    return hosts


def interpreter_line(host: str, hostvars: dict) -> Line:
    connection = hostvars.get("ansible_connection") or ("local" if host in ("localhost", "127.0.0.1") else "ssh")
    configured = hostvars.get("ansible_python_interpreter")
    if not configured:
        return Line(WARN, host, "interpreter discovery (interpreter_python = auto_silent), connection %s: Ansible "
                                "picks the first Python it finds; set ansible_python_interpreter to be sure" % connection)
    if str(configured).strip() == PLAYBOOK_PYTHON:
        if connection == "local":
            return Line(OK, host, "the controller's Python (%s), connection local" % sys.executable)
        return Line(WARN, host, "the controller's Python path (%s) on a %s host: host-side tasks (logs, npm, files, "
                                "git) need that path to exist there; controller-side checks are unaffected"
                    % (sys.executable, connection))
    if connection != "local":
        return Line(OK, host, "%s (set in the inventory; on the remote host, not probed), connection %s"
                    % (configured, connection))
    if "{{" in str(configured):
        return Line(WARN, host, "%s (a template, resolved at run time), connection local" % configured)
    version = _version([str(configured), "--version"])
    if version is None:
        return Line(FAIL, host, "%s does not run on this machine (connection local): every task would fail"
                    % configured)
    return Line(OK, host, "%s (%s), connection local" % (configured, version))


def library_lines() -> list[Line]:
    lines = []
    for name in LIBRARIES:
        if importlib.util.find_spec(name) is None:
            lines.append(Line(FAIL, name, "not importable by %s: pip install %s" % (sys.executable, name)))
            continue
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            version = "version unknown"
        lines.append(Line(OK, name, version))
    return lines


def tool_lines() -> list[Line]:
    lines = []
    for name in TOOLS:
        path = shutil.which(name)
        if path is None:
            lines.append(Line(FAIL, name, "not on PATH (%s)" % os.environ.get("PATH", "")))
            continue
        version = _version([path, "--version"])
        lines.append(Line(OK if version else WARN, name, "%s (%s)" % (path, version or "`--version` failed")))
    return lines


# A run writes four files and a history row (well under a MiB); the margin is for history growth
# and the dashboard, and for the files of the runs after this one.
MIN_FREE_BYTES = 50 * 1024 * 1024
MIN_FREE_INODES = 1000


def report_dir_line(report_dir: pathlib.Path) -> Line:
    """Writable means a file can be created in it (or in the nearest existing parent, where the
    first run will create it); nothing is left behind."""
    existing = report_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return Line(FAIL, "report dir", "%s: %s is not a directory" % (report_dir, existing))
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".upkeep-doctor-"):
            pass
    except OSError as exc:
        return Line(FAIL, "report dir", "%s is not writable: %s" % (existing, exc.strerror or exc))
    created = "" if existing == report_dir else " (will be created under %s)" % existing
    # An empty file can be created on a full filesystem: what a run needs is room and inodes.
    room = os.statvfs(existing)
    free_bytes, free_inodes = room.f_bavail * room.f_frsize, room.f_favail
    space = "%s free" % _size(free_bytes) + (", %d inodes free" % free_inodes if room.f_files else "")
    if free_bytes < MIN_FREE_BYTES or (room.f_files and free_inodes < MIN_FREE_INODES):
        return Line(FAIL, "report dir", "%s is writable but nearly full: %s (a run needs at least %s and %d inodes "
                                        "for its files and history)" % (report_dir, space, _size(MIN_FREE_BYTES),
                                                                         MIN_FREE_INODES))
    return Line(OK, "report dir", "%s writable, %s%s" % (report_dir, space, created))


def _size(count: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return "%d %s" % (count, unit) if unit == "B" else "%.1f %s" % (count, unit)
        count /= 1024.0
    return "%d B" % count


def diagnose(inventory: str | None, report_dir: pathlib.Path, root: pathlib.Path,
             inventory_problem: str | None = None) -> dict[str, list[Line]]:
    """Every section's lines; ``inventory`` None is a fail line saying ``inventory_problem``."""
    sections: dict[str, list[Line]] = {}
    if inventory is None:
        sections["inventory"] = [Line(FAIL, "inventory", inventory_problem or "no inventory: pass -i or run "
                                                                              "`upkeep sandbox up`")]
    else:
        try:
            hosts = inventory_hosts(inventory, root)
            lines = [interpreter_line(h, v) for h, v in sorted(hosts.items())]
            if "localhost" not in hosts:
                # Controller-side checks are delegated to it: Ansible's implicit localhost runs
                # them with the Python that runs ansible-playbook.
                lines.append(Line(OK, "localhost", "implicit: delegated controller-side checks use the controller's "
                                                   "Python (%s)" % sys.executable))
            sections["interpreters"] = lines
        except (RuntimeError, OSError, ValueError, subprocess.TimeoutExpired) as exc:
            sections["inventory"] = [Line(FAIL, "inventory", "%s cannot be read: %s" % (inventory, exc))]
    sections["controller libraries"] = library_lines()
    sections["tools"] = tool_lines()
    sections["report dir"] = [report_dir_line(report_dir)]
    return sections


def render(sections: dict[str, list[Line]]) -> str:
    out = []
    for title, lines in sections.items():
        out.append(title.capitalize())
        out += ["  %-4s  %-16s %s" % (line.status.upper(), line.topic, line.text) for line in lines]
    return "\n".join(out)


def exit_code(sections: dict[str, list[Line]]) -> int:
    return 1 if any(line.status == FAIL for lines in sections.values() for line in lines) else 0


def _version(argv: list[str]) -> str | None:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (proc.stdout.strip() or proc.stderr.strip()).splitlines()
    return text[0] if proc.returncode == 0 and text else None
