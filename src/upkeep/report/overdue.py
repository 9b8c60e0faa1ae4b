"""Missed runs: a cadence that has not completed within its period plus a grace time is itself a
finding, ``schedule.overdue`` (the dead man's switch idea: silence is a failure).

"Completed" is a run recorded in history that reached the end of its playbook (not partial),
whatever its verdict: a run that found problems reported them itself; what this check catches
is the run that never happened. Late by more than the allowance is a warning, by more than
twice the allowance (a second run missed too) critical.

A cadence that never ran is measured from when its schedule was installed; with no schedule
installed it is ``unknown`` ("never ran") in ``upkeep schedule status`` and not a finding in
reports (nothing said it should have run). Reports carry the check only for the cadences of an
installed schedule (``REPORT_DIR/schedule.json``), other than the report's own.

``UPKEEP_NOW`` (ISO 8601) replaces the clock; only tests set it.
"""

from __future__ import annotations

import dataclasses
import datetime
import os

from ..schedule import format_duration
from .collector import counts_of, exit_code_for, iso, worst

NOW_ENV = "UPKEEP_NOW"
CHECK_ID = "schedule.overdue"
# The controller: where the schedule and the history live.
CHECK_HOST = "localhost"


def now() -> datetime.datetime:
    given = os.environ.get(NOW_ENV)
    if given:
        return parse_time(given)
    return datetime.datetime.now(datetime.timezone.utc)


def parse_time(text: str) -> datetime.datetime:
    moment = datetime.datetime.fromisoformat(text.strip())
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)


@dataclasses.dataclass
class Lateness:
    cadence: str
    status: str  # ok | warning | critical | unknown
    last_run: dict | None  # the last completed run's history row
    age_s: float | None  # since the last completion (or the install, when it never ran)
    overdue_after_s: int
    text: str

    @property
    def late_by_s(self) -> float:
        return max(0.0, (self.age_s or 0.0) - self.overdue_after_s)


def last_completed(store, cadence: str) -> dict | None:
    """The newest run of ``cadence`` that reached its end, or None."""
    if store is None:
        return None
    return next((run for run in store.runs(cadence=cadence, limit=200) if not run["partial"]), None)


def evaluate(store, cadences: dict[str, int], at: datetime.datetime,
             installed_at: datetime.datetime | None = None) -> list[Lateness]:
    """How late each cadence (name -> overdue after, seconds) is at ``at``."""
    result = []
    for cadence, allowed in cadences.items():
        last = last_completed(store, cadence)
        allowance = format_duration(allowed)
        if last is not None:
            finished = last.get("finished_at") or last["started_at"]
            age = (at - parse_time(finished)).total_seconds()
            since = "last completed %s (%s ago, %s)" % (finished, format_duration(age), last["status"])
        elif installed_at is not None:
            age = (at - installed_at).total_seconds()
            since = "never ran since the schedule was installed %s (%s ago)" % (iso(installed_at), format_duration(age))
        else:
            result.append(Lateness(cadence, "unknown", None, None, allowed,
                                   "%s never ran (no completed run in history)" % cadence))
            continue
        if age <= allowed:
            status, text = "ok", "%s %s; allowed %s" % (cadence, since, allowance)
        else:
            status = "warning" if age <= 2 * allowed else "critical"
            text = "%s overdue by %s: %s; allowed %s" % (cadence, format_duration(age - allowed), since, allowance)
        result.append(Lateness(cadence, status, last, age, allowed, text))
    return result


def as_check(late: Lateness) -> dict:
    """One ``schedule.overdue`` check of the report contract."""
    allowed_h = round(late.overdue_after_s / 3600.0, 2)
    check = {
        "id": CHECK_ID, "host": CHECK_HOST, "target": late.cadence, "status": late.status, "summary": late.text,
        "metrics": {"last_completed_age_h": round(late.age_s / 3600.0, 2), "overdue_by_h": round(late.late_by_s / 3600.0, 2)}
        if late.age_s is not None else {},
        "thresholds": {"last_completed_age_h": {"warning": allowed_h, "critical": round(2 * allowed_h, 2)}},
        "findings": [], "duration_ms": None,
    }
    if late.status in ("warning", "critical"):
        check["findings"].append({
            "severity": late.status, "title": "%s has not completed within %s" % (late.cadence,
                                                                             format_duration(late.overdue_after_s)),
            "resource": "schedule %s" % late.cadence, "detail": late.text,
            "remediation": "See why the %s run did not happen or did not finish (`upkeep schedule status`, "
                           "`systemctl list-timers 'upkeep-*'` or the cron log, `journalctl -u upkeep-%s.service`); "
                           "run `upkeep run %s` to catch up." % (late.cadence, late.cadence, late.cadence)})
    return check


def add_to_report(report: dict, store, state: dict | None, at: datetime.datetime | None = None) -> None:
    """Add a ``schedule.overdue`` check per installed cadence other than the report's own, and
    bring the report's counts, hosts, status and exit code up to date with them."""
    if not state or not state.get("cadences"):
        return
    watched = {name: int(info["overdue_after_s"]) for name, info in state["cadences"].items()
               if name != report.get("cadence")}
    if not watched:
        return
    installed = parse_time(state["installed_at"]) if state.get("installed_at") else None
    checks = [as_check(late) for late in evaluate(store, watched, at or now(), installed)]
    report.setdefault("checks", []).extend(checks)
    everything = report["checks"]
    report["counts"] = counts_of(everything)
    hosts = report.setdefault("hosts", {})
    own = [c for c in everything if c.get("host") == CHECK_HOST]
    hosts[CHECK_HOST] = {"status": worst(c["status"] for c in own), "counts": counts_of(own)}
    # A run that failed stays unknown; otherwise a missed cadence raises the verdict like any check.
    if not (report.get("run") or {}).get("error"):
        report["status"] = worst([report.get("status", "ok")] + [c["status"] for c in checks])
        report.setdefault("run", {})["exit_code"] = exit_code_for(report["status"])
