"""Turn task results into the report DESIGN.md promises ("The run and its outputs").

One collector serves two sources with the same calls: the wrapper feeds it ansible-runner
events (:meth:`Collector.feed_event`), the callback plugin feeds it Ansible's callback hooks
(:meth:`Collector.task_result`, :meth:`Collector.stats`). Neither source is trusted to finish:
a run that times out or is interrupted has no final stats, and :meth:`Collector.report` still
builds a (partial) report from what was seen.
"""

from __future__ import annotations

import datetime
import re
from typing import Any, Callable, Iterable

SCHEMA = "upkeep.report/1"

# Same order as module_utils/upkeep/result.py STATUSES (a unit test keeps them equal): unknown
# ranks highest because exit code 3 means "unknown or the run itself failed".
STATUSES = ("ok", "warning", "critical", "unknown")
_RANK = {status: rank for rank, status in enumerate(STATUSES)}

OK_EVENT, FAILED_EVENT, SKIPPED_EVENT, UNREACHABLE_EVENT = "ok", "failed", "skipped", "unreachable"
_RUNNER_EVENTS = {
    "runner_on_ok": OK_EVENT,
    "runner_on_failed": FAILED_EVENT,
    "runner_on_skipped": SKIPPED_EVENT,
    "runner_on_unreachable": UNREACHABLE_EVENT,
}

# The summary role fails the play on purpose when the worst status reaches upkeep_fail_on
# (roles/upkeep_summary): that failure is the verdict, not a task that could not evaluate.
VERDICT_PREFIX = "upkeep verdict:"

SUMMARY_MAX = 300
DETAIL_MAX = 2000


def worst(statuses: Iterable[str]) -> str:
    """The most severe status (ok for none)."""
    return max(statuses, key=_RANK.__getitem__, default="ok")


def exit_code_for(status: str) -> int:
    return _RANK[status]


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def shorten(text: Any, limit: int = SUMMARY_MAX) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", (text or "").lower()).strip("_")
    return slug or "unnamed"


def counts_of(checks: Iterable[dict]) -> dict:
    counts = {status: 0 for status in STATUSES}
    for item in checks:
        counts[item["status"]] += 1
    return counts


class Collector:
    """Accumulates checks of one run; ``on_check`` is called with every check as it is filed."""

    def __init__(self, cadence: str, on_check: Callable[[dict], None] | None = None,
                 started_at: datetime.datetime | None = None):
        self.cadence = cadence
        self.started_at = started_at or utc_now()
        self.checks: list[dict] = []
        self.hosts: list[str] = []  # every host seen, in order of appearance
        self.saw_stats = False
        self.errors: list[str] = []  # playbook-level error lines (syntax, no hosts matched ...)
        self.verdict: str | None = None  # the summary role's upkeep_fail_on message, when it failed the play
        self._on_check = on_check

    # -- sources ---------------------------------------------------------------------------

    def feed_event(self, event: dict) -> None:
        """One ansible-runner event (the dict its event_handler receives)."""
        kind = event.get("event", "")
        data = event.get("event_data") or {}
        if kind in _RUNNER_EVENTS:
            self.task_result(_RUNNER_EVENTS[kind], data.get("host") or "", data.get("task") or "",
                             data.get("role") or "", data.get("res") or {})
        elif kind == "playbook_on_stats":
            hosts = set()
            for key in ("ok", "failures", "dark", "skipped", "changed", "processed", "rescued", "ignored"):
                hosts.update((data.get(key) or {}).keys())
            self.stats(sorted(hosts))
        elif kind in ("verbose", "error"):
            # Errors Ansible prints outside any task: a playbook syntax error, an unmatched --limit.
            for line in (event.get("stdout") or "").splitlines():
                line = re.sub(r"\x1b\[[0-9;]*m", "", line).strip()
                if line.startswith(("ERROR!", "[ERROR]")):
                    self.errors.append(shorten(line, DETAIL_MAX))
                elif line.startswith("Origin:") and self.errors:
                    self.errors[-1] = shorten(self.errors[-1] + " (" + line + ")", DETAIL_MAX)

    def task_result(self, outcome: str, host: str, task: str, role: str, res: dict) -> None:
        """One task result on one host: ``outcome`` is ok, failed, skipped or unreachable."""
        self._see_host(host)
        if outcome == SKIPPED_EVENT or not isinstance(res, dict):
            return
        if outcome == FAILED_EVENT and str(res.get("msg") or "").startswith(VERDICT_PREFIX):
            self.verdict = str(res["msg"])
            return
        if outcome == UNREACHABLE_EVENT:
            self._file(_task_unknown("host.reachable", host, host, res.get("msg") or "host unreachable",
                                     "Check that the host is up and reachable over SSH from the controller "
                                     "(address, port, key, firewall)."))
            return
        loop_items = [sub for sub in res.get("results") or [] if isinstance(sub, dict)]
        if loop_items and not res.get("checks"):
            # A loop: judge each item, so one failed item does not hide its siblings' checks.
            for sub in loop_items:
                self._file_result(host, task, role, sub, failed=bool(sub.get("failed")))
            if outcome == FAILED_EVENT and not any(sub.get("failed") for sub in loop_items):
                self._file_result(host, task, role, {"msg": res.get("msg")}, failed=True)
        else:
            self._file_result(host, task, role, res, failed=outcome == FAILED_EVENT)

    def _file_result(self, host: str, task: str, role: str, res: dict, failed: bool) -> None:
        checks = [item for item in res.get("checks") or [] if isinstance(item, dict) and item.get("id")]
        for item in checks:
            filed = dict(item)
            filed["host"] = str(item.get("host") or host)
            filed.setdefault("target", "")
            self._file(filed)
        if failed and not checks:
            check_id = "task." + _slug(role or task)
            self._file(_task_unknown(check_id, host, task, res.get("msg") or "task failed without a message",
                                     "The check could not be evaluated: fix the parameter or install the "
                                     "tool the message names, then re-run."))

    def stats(self, hosts: Iterable[str]) -> None:
        """The final stats: the playbook ran to its end (hosts with no task result included)."""
        self.saw_stats = True
        for host in hosts:
            self._see_host(host)

    # -- result ----------------------------------------------------------------------------

    def report(self, *, ansible_rc: int | None, timed_out: bool = False, interrupted: bool = False,
               timeout_s: float | None = None, run: dict | None = None,
               finished_at: datetime.datetime | None = None, run_id: str | None = None) -> dict:
        """The report dict (schema upkeep.report/1) for what was collected so far."""
        finished = finished_at or utc_now()
        partial_reason = None
        if interrupted:
            partial_reason = "interrupted before the playbook finished"
        elif timed_out:
            partial_reason = "timed out after %ss before the playbook finished" % _number(timeout_s)
        elif not self.saw_stats and (self.checks or self.hosts):
            partial_reason = "ansible-playbook stopped before its final stats (killed or crashed)"
        failure = partial_reason
        if failure is None and ansible_rc not in (0, None) and not self._explains_failure():
            failure = "ansible-playbook exited with %s" % ansible_rc
        elif failure is None and not self.saw_stats:
            failure = "ansible-playbook ended without running the play"
        elif failure is None and not self.checks:
            failure = "no checks ran (check --limit, --tags and the inventory)"
        if failure and self.errors:
            failure += ": " + "; ".join(self.errors[-3:])

        status = "unknown" if failure else worst(c["status"] for c in self.checks)
        exit_code = exit_code_for(status)
        hosts = {}
        for host in sorted(self.hosts):
            own = [c for c in self.checks if c["host"] == host]
            hosts[host] = {"status": worst(c["status"] for c in own), "counts": counts_of(own)}
        run_info = dict(run or {})
        run_info.update({"exit_code": exit_code, "ansible_rc": ansible_rc, "error": failure})
        return {
            "schema": SCHEMA,
            "run_id": run_id or run_id_for(self.cadence, self.started_at),
            "cadence": self.cadence,
            "started_at": iso(self.started_at),
            "finished_at": iso(finished),
            "duration_s": round((finished - self.started_at).total_seconds(), 1),
            "status": status,
            "counts": counts_of(self.checks),
            "hosts": hosts,
            "checks": list(self.checks),
            "partial": partial_reason is not None,
            "partial_reason": partial_reason,
            "run": run_info,
        }

    # -- internals -------------------------------------------------------------------------

    def _explains_failure(self) -> bool:
        """A nonzero ansible rc is explained when a failed task or unreachable host was filed, or
        when the summary role failed the play with its verdict."""
        return self.verdict is not None or any(c["status"] == "unknown" and c["id"].startswith(("task.", "host.")) for c in self.checks)

    def _see_host(self, host: str) -> None:
        if host and host not in self.hosts:
            self.hosts.append(host)

    def _file(self, item: dict) -> None:
        if item.get("status") not in _RANK:
            item = dict(item, status="unknown",
                        summary=shorten("invalid status %r: %s" % (item.get("status"), item.get("summary", ""))))
        self._see_host(item["host"])
        self.checks.append(item)
        if self._on_check:
            self._on_check(item)


def run_versions() -> dict:
    """upkeep and ansible-core versions, recorded in every report's ``run``."""
    from importlib import metadata
    try:
        upkeep_version = metadata.version("upkeep")
    except metadata.PackageNotFoundError:
        upkeep_version = "unknown"
    try:
        from ansible.release import __version__ as ansible_version
    except ImportError:
        ansible_version = "unknown"
    return {"upkeep_version": upkeep_version, "ansible_version": ansible_version}


def run_id_for(cadence: str, started_at: datetime.datetime) -> str:
    return "%s-%s" % (cadence, started_at.astimezone(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ"))


def _number(value: float | None) -> str:
    if value is None:
        return "?"
    return str(int(value)) if float(value).is_integer() else str(value)


def _task_unknown(check_id: str, host: str, target: str, message: str, remediation: str) -> dict:
    return {
        "id": check_id,
        "target": target,
        "status": "unknown",
        "summary": shorten(message),
        "metrics": {},
        "thresholds": {},
        "findings": [{"severity": "warning", "title": "Could not be evaluated", "resource": target,
                      "detail": shorten(message, DETAIL_MAX), "remediation": remediation}],
        "duration_ms": None,
        "host": host,
    }
