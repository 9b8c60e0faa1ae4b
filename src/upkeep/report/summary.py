"""The run's closing summary as plain text: the verdict line, findings, hosts, the problems and
the actions a check ran or would run. Standard library only: the callback plugin prints it in an
AWX execution environment that has none of the wrapper's console libraries."""

from __future__ import annotations

STATUSES = ("ok", "warning", "critical", "unknown")

# How an action's status reads to a person (pg_maintenance and later actions use these).
ACTION_VERBS = {"would_run": "would run", "ran": "ran"}


def verdict_line(report: dict) -> str:
    counts = report.get("counts") or {}
    line = "%s: upkeep %s %s, %s (exit %s)" % (
        report["status"].upper(), report.get("cadence", ""), report.get("run_id", ""),
        ", ".join("%d %s" % (counts.get(s, 0), s) for s in reversed(STATUSES)),
        (report.get("run") or {}).get("exit_code"))
    if report.get("partial"):
        line += " PARTIAL: %s" % report.get("partial_reason")
    elif (report.get("run") or {}).get("error"):
        line += " RUN FAILED: %s" % report["run"]["error"]
    return line


def findings_line(report: dict) -> str | None:
    """``Findings: 5 open, 2 new since last run, 1 acknowledged`` (None before findings were counted)."""
    counts = report.get("finding_counts")
    if not counts:
        return None
    line = "Findings: %d open, %d new since last run" % (counts.get("total", 0), counts.get("new", 0))
    if counts.get("acknowledged"):
        line += ", %d acknowledged (not counted)" % counts["acknowledged"]
    return line


def problems(report: dict) -> list[dict]:
    order = {"critical": 0, "unknown": 1, "warning": 2}
    return sorted((c for c in report.get("checks") or [] if c["status"] != "ok"),
                  key=lambda c: (order.get(c["status"], 3), c.get("host", ""), c["id"]))


def summary_text(report: dict) -> str:
    """The summary as plain text (logs, pipes, ``upkeep report --format summary`` off a terminal)."""
    lines = [verdict_line(report)]
    if findings_line(report):
        lines.append(findings_line(report))
    lines += ["", "%-30s %-9s %4s %4s %4s %4s" % ("HOST", "STATUS", "OK", "WARN", "CRIT", "UNKN")]
    for host, info in (report.get("hosts") or {}).items():
        c = info["counts"]
        lines.append("%-30s %-9s %4d %4d %4d %4d" % (host, info["status"], c["ok"], c["warning"], c["critical"], c["unknown"]))
    needing = problems(report)
    if needing:
        lines += ["", "Needs attention:"]
        lines += ["  %-8s %s %s %s  %s" % (c["status"].upper(), c.get("host", ""), c["id"], c.get("target", ""),
                                           c.get("summary", "")) for c in needing]
    acting = [c for c in report.get("checks") or [] if action_lines(c)]
    if acting:
        lines += ["", "Actions%s:" % (" (check mode: nothing was run)" if (report.get("run") or {}).get("check_mode") else "")]
        for c in acting:
            lines.append("  %s %s %s" % (c.get("host", ""), c["id"], c.get("target", "")))
            lines += ["    %s" % line for line in action_lines(c)]
    return "\n".join(lines)


def action_lines(check: dict) -> list[str]:
    """``would run: VACUUM (ANALYZE) "public"."cart_sessions"`` for each action a check ran or, in
    check mode, would run: the plan a person approves is the statement itself, not a count."""
    lines = []
    for action in check.get("actions") or []:
        if not isinstance(action, dict):
            continue
        status = str(action.get("status") or "planned")
        what = action.get("statement") or action.get("description") or action.get("kind") or "action"
        lines.append("%s: %s" % (ACTION_VERBS.get(status, status.replace("_", " ")), what))
    return lines
