"""The disaster-recovery section of a report, from the run's ``dr.*`` checks.

The shape a drill check carries (one check per phase; documented for the drill's authors):

    - id: dr.database_recovery        # dr.<phase>
      target: staging-db               # what was recovered
      status: ok | warning | critical | unknown
      summary: "restored and verified in 14 min (objective 60 min)"
      metrics: {measured_s: 840.2, objective_s: 3600}
      dr:                              # optional; each key falls back as noted
        phase: "Database recovery"     # default: the id's part after "dr.", underscores as spaces
        measured_s: 840.2              # default: metrics.measured_s (or measured_ms / 1000); null = not measured
        objective_s: 3600              # default: metrics.objective_s (or objective_ms / 1000); null = no objective
        passed: true                   # default: measured <= objective when both known, else null
        configured: true               # false = the phase is not set up (never counted as passed)
        evidence: ["restore log: /var/lib/upkeep/drill/restore.log", "row counts match the manifest"]
                                       # default: the summary and detail_path

A phase's verdict: ``pass`` / ``fail`` from ``passed``; ``not configured`` when ``configured``
is false; ``not measured`` otherwise. The drill passes only when every phase passes.
"""

from __future__ import annotations

PASS, FAIL, NOT_CONFIGURED, NOT_MEASURED = "pass", "fail", "not configured", "not measured"


def _number(value):
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _seconds(metrics: dict, name: str):
    """``<name>_s`` from metrics, else ``<name>_ms`` in seconds, else None."""
    if _number(metrics.get(name + "_s")) is not None:
        return metrics[name + "_s"]
    value = _number(metrics.get(name + "_ms"))
    return None if value is None else round(value / 1000.0, 3)


def phase_of(check: dict) -> dict:
    """One row of the DR section from one ``dr.*`` check."""
    spec = check.get("dr") if isinstance(check.get("dr"), dict) else {}
    metrics = check.get("metrics") or {}
    measured = _number(spec["measured_s"]) if "measured_s" in spec else _seconds(metrics, "measured")
    objective = _number(spec["objective_s"]) if "objective_s" in spec else _seconds(metrics, "objective")
    configured = spec.get("configured", True) is not False
    passed = spec.get("passed")
    if passed is None and configured and measured is not None and objective is not None:
        passed = measured <= objective
    if not configured:
        verdict = NOT_CONFIGURED
    elif passed is None:
        verdict = NOT_MEASURED
    else:
        verdict = PASS if passed else FAIL
    evidence = spec.get("evidence")
    if evidence is None:
        evidence = [text for text in (check.get("summary"), check.get("detail_path")) if text]
    elif isinstance(evidence, str):
        evidence = [evidence]
    name = spec.get("phase") or check["id"].split(".", 1)[-1].replace("_", " ").capitalize()
    return {"phase": str(name), "id": check["id"], "host": check.get("host", ""), "target": check.get("target", ""),
            "status": check.get("status"), "measured_s": measured, "objective_s": objective,
            "verdict": verdict, "evidence": [str(e) for e in evidence]}


def dr_section(checks: list[dict]) -> dict | None:
    """``{verdict, phases}`` for the run's ``dr.*`` checks, or None when it has none."""
    phases = [phase_of(c) for c in checks if str(c.get("id", "")).startswith("dr.")]
    if not phases:
        return None
    verdict = PASS if all(p["verdict"] == PASS for p in phases) else (
        FAIL if any(p["verdict"] == FAIL for p in phases) else "incomplete")
    return {"verdict": verdict, "phases": phases}
