"""Drive one ansible-playbook run through ansible-runner.

The wrapper owns the run: a fresh private data dir (removed afterwards), the ansible-playbook
next to this Python (never whatever is first on PATH), the repo's ansible.cfg, its own timeout
and cancellation. Events are the source of truth: every one goes to ``on_event`` as it arrives.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pathlib
import re
import shlex
import shutil
import signal
import sys
import tempfile
import threading
import time
from typing import Callable, Iterator

import ansible_runner
import yaml

from .cadences import repo_root

# How often (s) ansible-runner's loop wakes up to look at the cancel flag and the timeout; its
# default of 5 s would make Ctrl-C and --timeout feel broken.
POLL_S = 0.2


@dataclasses.dataclass
class RunRequest:
    playbook: pathlib.Path
    inventory: str
    limit: str | None = None
    check: bool = False
    tags: str | None = None
    skip_tags: str | None = None
    extravars: dict = dataclasses.field(default_factory=dict)
    # ``-e @file`` stays a file reference on the command line: its content (often secrets) is
    # read by ansible-playbook and never copied into the runner's env/ directory.
    extravar_files: list[pathlib.Path] = dataclasses.field(default_factory=list)
    timeout_s: int = 3600
    keep_artifacts: pathlib.Path | None = None


@dataclasses.dataclass
class RunOutcome:
    rc: int | None
    status: str  # ansible-runner's: successful, failed, timeout, canceled
    timed_out: bool
    interrupted: bool
    artifacts: pathlib.Path | None  # where they were kept, if asked


def ansible_playbook_binary() -> pathlib.Path:
    return pathlib.Path(sys.executable).parent / "ansible-playbook"


@contextlib.contextmanager
def interrupt_guard() -> Iterator[threading.Event]:
    """Turn SIGINT/SIGTERM into a flag for the duration (ansible-runner polls it and kills the
    playbook's process group), so the wrapper survives to write a partial report."""
    flag = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda number, frame: flag.set())
    try:
        yield flag
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_playbook(request: RunRequest, on_event: Callable[[dict], None],
                 cancel: threading.Event | None = None) -> RunOutcome:
    """Run ``request`` to the end, the timeout or ``cancel``; ``on_event`` sees every event."""
    cancel = cancel or threading.Event()
    root = repo_root()
    private = pathlib.Path(tempfile.mkdtemp(prefix="upkeep-run-"))
    args = (["--check"] if request.check else [])
    for path in request.extravar_files:
        args += ["-e", "@" + str(pathlib.Path(path).resolve())]
    args.append(str(request.playbook.resolve()))
    deadline = time.monotonic() + request.timeout_s
    stop = {"reason": None}

    def handler(event: dict) -> bool:
        on_event(event)
        return True  # False would make ansible-runner drop the event

    def should_stop() -> bool:
        # The timeout is ours, not ansible-runner's: its timeout SIGKILLs the playbook's process
        # group, but Ansible's workers run in their own sessions and would outlive it.
        if stop["reason"] is None and (cancel.is_set() or time.monotonic() > deadline):
            stop["reason"] = "interrupted" if cancel.is_set() else "timeout"
            stop_children()
        return stop["reason"] is not None

    try:
        runner = ansible_runner.run(
            private_data_dir=str(private),
            binary=str(ansible_playbook_binary()),
            # With an explicit binary ansible-runner runs in raw mode and leaves the playbook to us.
            cmdline=shlex.join(args),
            inventory=request.inventory,
            limit=request.limit or None,
            tags=request.tags or None,
            skip_tags=request.skip_tags or None,
            extravars=dict(request.extravars),
            project_dir=str(root),
            envvars={
                "ANSIBLE_CONFIG": str(root / "ansible.cfg"),
                # The report callback plugin stands down: the wrapper writes the report.
                "UPKEEP_WRAPPER": "1",
                # A module Ansible writes to disk holds its arguments, passwords included, and a
                # run that is killed leaves it there: every temp file of the run goes into the
                # run's private 0700 directory, which is removed on every way out (pipelining, in
                # ansible.cfg, already keeps most modules off the disk).
                "ANSIBLE_LOCAL_TEMP": str(private / "tmp" / "local"),
                "ANSIBLE_REMOTE_TEMP": str(private / "tmp" / "remote"),
            },
            settings={"pexpect_timeout": POLL_S},
            event_handler=handler,
            cancel_callback=should_stop,
            quiet=True,
        )
        kept = _keep(private, request.keep_artifacts) if request.keep_artifacts else None
        return RunOutcome(rc=runner.rc, status=runner.status, timed_out=stop["reason"] == "timeout",
                          interrupted=stop["reason"] == "interrupted", artifacts=kept)
    finally:
        shutil.rmtree(private, ignore_errors=True)


def stop_children(grace_s: float = 3.0) -> None:
    """Stop ansible-playbook the way Ansible expects: SIGTERM, which it forwards to its workers
    (each in its own session) and they to their modules; SIGKILL whatever outlives ``grace_s``."""
    tree = _descendants(os.getpid())
    direct = _children(os.getpid())
    for pid in direct:
        _signal(pid, signal.SIGTERM)
    end = time.monotonic() + grace_s
    while time.monotonic() < end and any(_alive(pid) for pid in tree):
        time.sleep(0.05)
    for pid in tree:
        if _alive(pid):
            _signal(pid, signal.SIGKILL)


def _process_table() -> dict[int, int]:
    """pid -> parent pid of every live (non-zombie) process; empty without /proc."""
    table = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return table
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as handle:
                data = handle.read()
        except OSError:
            continue
        fields = data[data.rindex(")") + 2:].split()  # the command name may hold spaces and parens
        if fields[0] != "Z":
            table[int(entry)] = int(fields[1])
    return table


def _children(pid: int) -> list[int]:
    return [child for child, parent in _process_table().items() if parent == pid]


def _descendants(pid: int) -> list[int]:
    table = _process_table()
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        for child, its_parent in table.items():
            if its_parent == parent:
                found.append(child)
                frontier.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        with open("/proc/%d/stat" % pid) as handle:
            data = handle.read()
    except OSError:
        return False
    return data[data.rindex(")") + 2:].split()[0] != "Z"


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _keep(private: pathlib.Path, destination: pathlib.Path) -> pathlib.Path:
    """Copy the run's artifacts (events, stdout, rc); env/ is left out because -e values live there.

    ansible-runner's ``command`` file records the whole process environment (PGPASSWORD, vault
    password variables, tokens read with lookup('env')): it is kept without its ``env``.
    """
    destination.mkdir(parents=True, exist_ok=True)
    target = pathlib.Path(tempfile.mkdtemp(prefix="run-", dir=destination))
    source = private / "artifacts"
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True)
    for command in target.rglob("command"):
        try:
            recorded = json.loads(command.read_text())
        except (OSError, ValueError):
            command.unlink(missing_ok=True)  # unreadable: drop it rather than risk keeping secrets
            continue
        if isinstance(recorded, dict):
            recorded.pop("env", None)
            command.write_text(json.dumps(recorded))
        else:
            command.unlink(missing_ok=True)
    os.chmod(target, 0o700)
    return target


# -- validating the inputs before Ansible starts -----------------------------------------------

class UsageError(ValueError):
    """Bad input named in one line (exit 64)."""


_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_YAML_SUFFIXES = (".yml", ".yaml", ".json")


def resolve_inventory(given: str | None, root: pathlib.Path) -> pathlib.Path:
    """The inventory to use (``given``, else the sandbox's), checked enough that Ansible will not
    silently run against nothing: it exists, is readable, and a YAML one is a mapping of groups."""
    if not given:
        sandbox = root / ".sandbox" / "inventory.yml"
        if not sandbox.is_file():
            raise UsageError("no inventory: pass -i or run `upkeep sandbox up`")
        given = str(sandbox)
    path = pathlib.Path(given)
    if not path.exists():
        raise UsageError("inventory %s does not exist" % given)
    if path.is_dir():
        return path.resolve()
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise UsageError("inventory %s cannot be read: %s" % (given, exc.strerror)) from None
    if text.startswith(b"$ANSIBLE_VAULT"):
        return path.resolve()
    if path.suffix in _YAML_SUFFIXES:
        _check_yaml_inventory(given, text)
    elif not os.access(path, os.X_OK):
        try:
            text.decode("utf-8")
        except UnicodeDecodeError:
            raise UsageError("inventory %s is not a text file" % given) from None
    return path.resolve()


def _check_yaml_inventory(name: str, text: bytes) -> None:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = " at line %d" % (mark.line + 1) if mark else ""
        raise UsageError("inventory %s is not valid YAML%s: %s" % (name, where, getattr(exc, "problem", None) or exc)) from None
    if not isinstance(data, dict) or not data:
        raise UsageError("inventory %s must be a YAML mapping of groups (like `all: {hosts: ...}`), got %s"
                         % (name, "nothing" if not data else type(data).__name__))
    if "plugin" in data:
        return  # an inventory plugin's configuration, not a static inventory
    for group, body in data.items():
        if body is not None and not isinstance(body, dict):
            raise UsageError("inventory %s: group %r must be a mapping (hosts, vars, children), got %s"
                             % (name, group, type(body).__name__))
        for key in ("hosts", "children", "vars"):
            value = (body or {}).get(key)
            if value is not None and not isinstance(value, dict):
                raise UsageError("inventory %s: %s.%s must be a mapping, got %s" % (name, group, key, type(value).__name__))


_PLUGIN_FAILURE = re.compile(r"Failed to parse inventory with '(\w+)' plugin: (.*)")
# The plugin whose complaint names the real problem for a file of this kind.
_PLUGIN_FOR_SUFFIX = {".yml": "yaml", ".yaml": "yaml", ".json": "yaml", ".ini": "ini", "": "ini", ".cfg": "ini"}


def check_inventory_parses(inventory: pathlib.Path, limit: str | None) -> int:
    """Parse ``inventory`` with Ansible's own loader and return how many hosts ``limit`` (or all)
    selects; raise UsageError when it cannot be parsed or selects nothing.

    Ansible itself only warns about an inventory it cannot parse and then runs against no hosts,
    which would turn a typo into a report that says "no checks ran". A vault-encrypted inventory
    needs the vault secret, which only the run has: it is left to Ansible.
    """
    if inventory.is_file() and inventory.read_bytes()[:14] == b"$ANSIBLE_VAULT":
        return -1
    import contextlib
    import io

    from ansible import constants as C
    from ansible.errors import AnsibleError
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader

    C.INVENTORY_ANY_UNPARSED_IS_FAILED = True  # this process only parses; the run has its own
    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said):
            manager = InventoryManager(loader=DataLoader(), sources=[str(inventory)])
            hosts = manager.get_hosts(limit or "all")
    except AnsibleError as exc:
        complaints = dict(_PLUGIN_FAILURE.findall(said.getvalue()))
        reason = complaints.get(_PLUGIN_FOR_SUFFIX.get(inventory.suffix, "")) or next(iter(complaints.values()), None)
        raise UsageError("inventory %s cannot be parsed: %s" % (inventory, reason or str(exc).splitlines()[0])) from None
    if not hosts:
        if limit:
            raise UsageError("--limit %s matches no host of inventory %s" % (limit, inventory))
        raise UsageError("inventory %s has no hosts" % inventory)
    return len(hosts)


def parse_extra_vars(items: list[str]) -> tuple[dict, list[pathlib.Path]]:
    """``-e`` values: KEY=VALUE (VALUE parsed as YAML: true, 3, [a, b]) or @FILE (a YAML mapping,
    passed on as a file reference so its content never lands in the runner's env/)."""
    variables: dict = {}
    files: list[pathlib.Path] = []
    for item in items:
        if item.startswith("@"):
            path = pathlib.Path(item[1:])
            try:
                text = path.read_bytes()
            except OSError as exc:
                raise UsageError("-e %s: cannot read %s: %s" % (item, path, exc.strerror)) from None
            if not text.startswith(b"$ANSIBLE_VAULT"):
                try:
                    data = yaml.safe_load(text)
                except yaml.YAMLError:
                    raise UsageError("-e %s: %s is not valid YAML" % (item, path)) from None
                if not isinstance(data, dict):
                    raise UsageError("-e %s: %s must hold a YAML mapping of variables" % (item, path))
            files.append(path)
            continue
        key, sep, raw = item.partition("=")
        if not sep or not _KEY_RE.match(key):
            raise UsageError("-e %r: expected KEY=VALUE with KEY a variable name, or @FILE" % item)
        try:
            value = yaml.safe_load(raw) if raw.strip() else raw
        except yaml.YAMLError:
            value = raw
        variables[key] = value
    return variables, files
