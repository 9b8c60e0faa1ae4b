"""Summaries come from servers, assertions and inventories: the terminal summary prints them as
text, never as rich markup (a "[/beta]" in a summary used to raise MarkupError after the report
was written, turning the run's exit code into 3)."""

from __future__ import annotations

import io

from rich.console import Console

from upkeep.progress import print_summary

HOSTILE = 'Assertion failed: tags contains "[/beta]" [bold]'


def test_hostile_text_is_printed_verbatim():
    counts = {"ok": 0, "warning": 0, "critical": 1, "unknown": 0}
    report = {
        "status": "critical", "cadence": "daily", "run_id": "daily-x", "counts": counts, "run": {"exit_code": 2},
        "hosts": {"web[/x]": {"status": "critical", "counts": counts}},
        "checks": [{"status": "critical", "host": "web[/x]", "id": "http.health", "target": "api[/y]",
                    "summary": HOSTILE}],
    }
    console = Console(file=io.StringIO(), width=400, color_system=None)
    print_summary(report, console)
    out = console.file.getvalue()
    assert HOSTILE in out and "web[/x]" in out and "api[/y]" in out
