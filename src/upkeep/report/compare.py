"""What changed since the previous run of the same cadence: metric trends and new findings.

Every comparison is per (host, check id, target) against the latest earlier record of it in a
run of the same cadence, so a run with ``--limit`` or one cut short compares each check with its
own last sighting rather than with a run that did not look at it. Nothing is invented: a check
with no earlier record gets no ``trend``; its findings are new because nobody has seen them.
"""

from __future__ import annotations

import hashlib
import re
from typing import Protocol

_NUMBER_RE = re.compile(r"\d+(?:[.,:]\d+)*")


class PreviousLookup(Protocol):
    """What comparisons need from the history store (upkeep.history.History has it)."""

    def previous_check(self, cadence: str, host: str, check_id: str, target: str, started_at: str,
                       exclude_run_id: str | None = None, with_findings: bool = False) -> dict | None: ...


def fingerprint(check: dict, item: dict) -> str:
    """A finding's identity across runs: the module's own ``fingerprint`` when it gives one,
    else a hash of check id, host, target, title (numbers masked: "p95 612 ms" is the same
    finding next week at 640 ms) and resource."""
    given = item.get("fingerprint")
    if isinstance(given, str) and given:
        return given
    title = _NUMBER_RE.sub("#", " ".join(str(item.get("title") or "").split()))
    parts = (check.get("id", ""), check.get("host", ""), check.get("target", ""), title, str(item.get("resource") or ""))
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:16]


def trend(current: dict, previous: dict) -> dict:
    """``{metric: {previous, delta, delta_pct}}`` for numeric metrics present in both that
    changed; ``delta_pct`` is None when the previous value was 0."""
    changes = {}
    for name, value in (current or {}).items():
        before = (previous or {}).get(name)
        if not _is_number(value) or not _is_number(before) or value == before:
            continue
        delta = value - before
        if isinstance(delta, float):
            delta = round(delta, 6)
        changes[name] = {"previous": before, "delta": delta,
                         "delta_pct": round(delta * 100.0 / before, 1) if before else None}
    return changes


def is_acknowledged(item: dict) -> bool:
    return bool(item.get("acknowledged"))


def annotate(report: dict, store: PreviousLookup | None) -> dict:
    """Add ``fingerprint`` and ``new`` to every finding, ``trend`` to checks whose metrics
    changed, and ``finding_counts`` and ``comparison`` to the report. ``store`` None (no
    history yet) compares with nothing. Returns ``report``, changed in place."""
    cadence, started_at, run_id = report["cadence"], report["started_at"], report["run_id"]
    compared = 0
    for check in report.get("checks") or []:
        findings = [f for f in check.get("findings") or [] if isinstance(f, dict)]
        for item in findings:
            item["fingerprint"] = fingerprint(check, item)
        if store is None:
            seen = None
        else:
            key = (cadence, check.get("host", ""), check["id"], check.get("target", ""), started_at)
            earlier = store.previous_check(*key, exclude_run_id=run_id)
            if earlier is not None:
                compared += 1
                changes = trend(check.get("metrics") or {}, earlier["metrics"])
                if changes:
                    check["trend"] = changes
            baseline = store.previous_check(*key, exclude_run_id=run_id, with_findings=True)
            seen = baseline["fingerprints"] if baseline is not None else None
        for item in findings:
            item["new"] = seen is None or item["fingerprint"] not in seen
        # New ones first: what changed since last time is what a reader is looking for.
        if findings:
            check["findings"] = sorted(findings, key=lambda f: (is_acknowledged(f), not f["new"]))
    report["finding_counts"] = finding_counts(report.get("checks") or [])
    report["comparison"] = {"checks_compared": compared,
                            "note": None if compared else "no earlier run of this cadence to compare with"}
    return report


def finding_counts(checks: list[dict]) -> dict:
    """Findings of a run: ``total`` and ``new`` count the open ones (acknowledged left out)."""
    counts = {"total": 0, "new": 0, "acknowledged": 0}
    for check in checks:
        for item in check.get("findings") or []:
            if not isinstance(item, dict):
                continue
            if is_acknowledged(item):
                counts["acknowledged"] += 1
                continue
            counts["total"] += 1
            counts["new"] += int(bool(item.get("new")))
    return counts


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
