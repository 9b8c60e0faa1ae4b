"""Live progress of a run and the closing summary.

On a terminal: coloured lines with rich as each check arrives, then a summary table. Piped or
redirected (cron, CI logs), or with ``--quiet``: plain lines without escape codes, one per check
(quiet: none), so logs stay greppable.
"""

from __future__ import annotations

import sys
from typing import TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

STYLE = {"ok": "green", "warning": "yellow", "critical": "bold red", "unknown": "magenta"}
STATUSES = ("ok", "warning", "critical", "unknown")


class Progress:
    """Receives checks as they are filed and the final report; prints accordingly."""

    def __init__(self, quiet: bool = False, stream: TextIO | None = None):
        self.stream = stream or sys.stdout
        self.quiet = quiet
        self.rich = not quiet and self.stream.isatty()
        self.console = Console(file=self.stream, highlight=False, soft_wrap=True) if self.rich else None

    def _plain(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def start(self, cadence: str, playbook: str, inventory: str) -> None:
        if self.quiet:
            return
        message = "upkeep %s: %s on %s" % (cadence, playbook, inventory)
        if self.console:
            self.console.print(Text(message, style="bold"))
        else:
            self._plain(message)

    def check(self, check: dict) -> None:
        if self.quiet:
            return
        status = check.get("status", "unknown")
        if self.console:
            line = Text()
            line.append("%-9s" % status.upper(), style=STYLE.get(status, ""))
            line.append(" %s " % check.get("host", ""), style="bold")
            line.append(check.get("id", ""), style="cyan")
            if check.get("target"):
                line.append(" %s" % check["target"], style="dim")
            line.append("  " + str(check.get("summary", "")))
            self.console.print(line)
        else:
            self._plain("%-8s %s %s %s  %s" % (status.upper(), check.get("host", ""), check.get("id", ""),
                                               check.get("target", ""), check.get("summary", "")))

    def finish(self, report: dict, run_dir: str | None) -> None:
        if self.console:
            self.console.print()
            print_summary(report, self.console)
        elif not self.quiet:
            self._plain("")
            self._plain(summary_text(report))
        else:
            self._plain(verdict_line(report))
        if run_dir:
            self._plain("Report: %s/report.html" % run_dir)
            self._plain("        %s/report.json" % run_dir)


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


def _problems(report: dict) -> list[dict]:
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
    problems = _problems(report)
    if problems:
        lines += ["", "Needs attention:"]
        lines += ["  %-8s %s %s %s  %s" % (c["status"].upper(), c.get("host", ""), c["id"], c.get("target", ""),
                                           c.get("summary", "")) for c in problems]
    return "\n".join(lines)


def print_summary(report: dict, console: Console) -> None:
    """The summary as rich tables (a terminal)."""
    status = report["status"]
    console.print(Text(verdict_line(report), style=STYLE.get(status, "")))
    if findings_line(report):
        console.print(Text(findings_line(report)))
    # Every value goes in as Text: hosts, targets and summaries come from servers and inventories,
    # and rich would read "[/beta]" in a summary as markup (and raise on it).
    table = Table(title="Hosts", title_justify="left")
    table.add_column("Host", style="bold")
    table.add_column("Status")
    for s in STATUSES:
        table.add_column(s, justify="right")
    for host, info in (report.get("hosts") or {}).items():
        table.add_row(Text(host), Text(info["status"], style=STYLE[info["status"]]),
                      *[str(info["counts"][s]) for s in STATUSES])
    console.print(table)
    problems = _problems(report)
    if problems:
        attention = Table(title="Needs attention", title_justify="left")
        for column in ("Status", "Host", "Check", "Target", "Summary"):
            attention.add_column(column, overflow="fold")
        for c in problems:
            attention.add_row(Text(c["status"], style=STYLE[c["status"]]), Text(c.get("host", "")), Text(c["id"]),
                              Text(c.get("target", "")), Text(str(c.get("summary", ""))))
        console.print(attention)
