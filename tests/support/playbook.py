"""Run real ansible-playbook runs from tests, through ansible-runner, and hand back the task
results (the module's return values) per task and host."""

from __future__ import annotations

import dataclasses
import pathlib
import shlex
import shutil
import sys
import tempfile

import ansible_runner
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]


@dataclasses.dataclass
class TaskResult:
    task: str
    host: str
    event: str  # runner_on_ok | runner_on_failed | runner_on_unreachable | runner_on_skipped
    res: dict

    @property
    def failed(self) -> bool:
        return self.event in ("runner_on_failed", "runner_on_unreachable")


@dataclasses.dataclass
class PlaybookRun:
    rc: int
    status: str
    results: list
    stdout: str
    artifacts_dir: pathlib.Path

    def for_task(self, name: str) -> list:
        return [r for r in self.results if r.task == name]

    def one(self, name: str) -> TaskResult:
        found = self.for_task(name)
        assert len(found) == 1, "expected one result for task %r, got %d: %s" % (name, len(found), self.stdout[-3000:])
        return found[0]


def run_tasks(tasks, hosts="localhost", inventory=None, extra_vars=None, check=False, tmp_path=None, playbook=None,
              verbosity=0):
    """Run ``tasks`` (a list of task dicts) in one play, or a whole ``playbook`` path, with the
    repo's ansible.cfg; return every task result.

    ``inventory`` is a dict in Ansible's YAML inventory shape; by default localhost with the
    test interpreter. ``verbosity`` N adds -v N times (no_log tests look at the most talkative output)."""
    tmp = pathlib.Path(tmp_path or tempfile.mkdtemp(prefix="upkeep-pb-"))
    private = tmp / "runner"
    (private / "project").mkdir(parents=True, exist_ok=True)
    inventory = inventory or {
        "all": {"hosts": {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}
    }
    inv_path = tmp / "inventory.yml"
    inv_path.write_text(yaml.safe_dump(inventory))
    if playbook is None:
        play = [{"name": "Test play", "hosts": hosts, "gather_facts": False, "tasks": tasks}]
        playbook = tmp / "play.yml"
        playbook.write_text(yaml.safe_dump(play, sort_keys=False))
    # With an explicit binary ansible-runner runs in raw mode and leaves the playbook to us.
    args = (["--check"] if check else []) + (["-" + "v" * verbosity] if verbosity else [])
    args += [str(pathlib.Path(playbook).resolve())]
    results = []

    def on_event(event):
        kind = event.get("event", "")
        if kind in ("runner_on_ok", "runner_on_failed", "runner_on_unreachable", "runner_on_skipped"):
            data = event.get("event_data", {})
            results.append(TaskResult(data.get("task", ""), data.get("host", ""), kind, data.get("res", {})))
        return True

    runner = ansible_runner.run(
        private_data_dir=str(private),
        inventory=str(inv_path),
        extravars=extra_vars or {},
        cmdline=shlex.join(args),
        project_dir=str(REPO),
        envvars={"ANSIBLE_CONFIG": str(REPO / "ansible.cfg")},
        event_handler=on_event,
        quiet=True,
        binary=str(pathlib.Path(sys.executable).parent / "ansible-playbook"),
    )
    stdout = runner.stdout.read() if runner.stdout else ""
    return PlaybookRun(runner.rc, runner.status, results, stdout, private / "artifacts")


def cleanup(run: PlaybookRun):
    shutil.rmtree(run.artifacts_dir, ignore_errors=True)
