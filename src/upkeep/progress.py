"""Live progress of a run and the closing summary.

On a terminal: coloured lines with rich as each check arrives, then a summary table. Piped or
redirected (cron, CI logs), or with ``--quiet``: plain lines without escape codes, one per check
(quiet: none), so logs stay greppable.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .report.summary import STATUSES, action_lines, findings_line, problems, summary_text, verdict_line

STYLE = {"ok": "green", "warning": "yellow", "critical": "bold red", "unknown": "magenta"}


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

    def start(self, cadence: str, playbook: str, inventory: str, report_dir: str = "") -> None:
        if self.quiet:
            return
        message = "upkeep %s: %s on %s" % (cadence, playbook, inventory)
        if report_dir:
            message += " (reports: %s)" % report_dir
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
        for line in action_lines(check):
            if self.console:
                self.console.print(Text("          " + line, style="dim"))
            else:
                self._plain("         " + line)

    def finish(self, report: dict, run_dir: os.PathLike | str | None,
               written: tuple[str, ...] | list[str] = ("report.html", "report.json")) -> None:
        if self.console:
            self.console.print()
            print_summary(report, self.console)
        elif not self.quiet:
            self._plain("")
            self._plain(summary_text(report))
        else:
            self._plain(verdict_line(report))
        shown = [name for name in ("report.html", "report.json") if name in written]
        for number, name in enumerate(shown):
            self._plain("%s%s/%s" % ("Report: " if number == 0 else "        ", run_dir, name))
        if not shown:
            self._plain("Report: not written (see the errors above); the verdict above is the run's")


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
    needing = problems(report)
    if needing:
        attention = Table(title="Needs attention", title_justify="left")
        for column in ("Status", "Host", "Check", "Target", "Summary"):
            attention.add_column(column, overflow="fold")
        for c in needing:
            attention.add_row(Text(c["status"], style=STYLE[c["status"]]), Text(c.get("host", "")), Text(c["id"]),
                              Text(c.get("target", "")), Text(str(c.get("summary", ""))))
        console.print(attention)
    acting = [c for c in report.get("checks") or [] if action_lines(c)]
    if acting:
        check_mode = (report.get("run") or {}).get("check_mode")
        actions = Table(title="Actions" + (" (check mode: nothing was run)" if check_mode else ""), title_justify="left")
        for column in ("Host", "Check", "Target", "Action"):
            actions.add_column(column, overflow="fold")
        for c in acting:
            for line in action_lines(c):
                actions.add_row(Text(c.get("host", "")), Text(c["id"]), Text(c.get("target", "")), Text(line))
        console.print(actions)
