"""Render a report dict (schema upkeep.report/1) as JSON, Markdown, HTML and JUnit, and find
stored runs. Writing a run's directory is the end of a run's job (``publish.py``).

Markdown and HTML come from the jinja2 templates next to this
file (found by path, so the callback plugin renders from an AWX checkout without the package
installed); JSON is ``json.dumps`` (a template adds nothing there but ways to get quoting
wrong); JUnit is built with ElementTree in junit.py so it is well-formed whatever a summary says.
"""

from __future__ import annotations

import json
import os
import pathlib

import jinja2

from .junit import render_junit
from .summary import action_lines

TEMPLATES = pathlib.Path(__file__).resolve().parent / "templates"
FILES = ("report.json", "report.md", "report.html", "junit.xml")
LATEST = "latest"

# "What is wrong first": critical, then could-not-evaluate, then warning, then ok.
_ATTENTION = {"critical": 0, "unknown": 1, "warning": 2, "ok": 3}


def render_json(report: dict) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False) + "\n"


def render_markdown(report: dict) -> str:
    return _environment(autoescape=False).get_template("report.md.j2").render(**_view(report))


def render_html(report: dict) -> str:
    return _environment(autoescape=True).get_template("report.html.j2").render(**_view(report))


RENDERERS = {
    "report.json": render_json,
    "report.md": render_markdown,
    "report.html": render_html,
    "junit.xml": render_junit,
}


def find_run(report_dir: str | os.PathLike, which: str = "last") -> pathlib.Path:
    """The directory of run ``which`` (a run id, or ``last``/``latest``); FileNotFoundError if none."""
    base = pathlib.Path(report_dir)
    path = base / (LATEST if which in ("last", "latest") else which)
    if os.sep in which or which.startswith(".") or not (path / "report.json").is_file():
        raise FileNotFoundError("no report %r in %s" % (which, base))
    return path.resolve()


def load_report(run_dir: str | os.PathLike) -> dict:
    return json.loads((pathlib.Path(run_dir) / "report.json").read_text())


def attention_order(checks: list[dict]) -> list[dict]:
    return sorted(checks, key=lambda c: (_ATTENTION.get(c["status"], 1), c.get("host", ""), c["id"], c.get("target", "")))


def metric_text(check: dict) -> list[str]:
    """``name value (warn W / crit C) Δ +D (+P%)`` per metric, for tables; Δ is the change
    since the previous run of the cadence, shown only when there is one."""
    out = []
    limits = check.get("thresholds") or {}
    trends = check.get("trend") or {}
    for name, value in (check.get("metrics") or {}).items():
        text = "%s %s" % (name, _number(value))
        limit = limits.get(name) or {}
        bounds = [label + " " + _number(limit[key]) for key, label in (("warning", "warn"), ("critical", "crit"))
                  if key in limit]
        if bounds:
            text += " (%s%s)" % (" / ".join(bounds), ", below" if limit.get("direction") == "below" else "")
        if name in trends:
            text += " " + trend_text(trends[name])
        out.append(text)
    return out


def trend_text(change: dict) -> str:
    """``Δ +200 (+20%)``: the change since the previous run."""
    delta = change.get("delta") or 0
    text = "Δ %s%s" % ("+" if delta > 0 else "", _number(delta))
    if change.get("delta_pct") is not None:
        text += " (%s%s%%)" % ("+" if change["delta_pct"] > 0 else "", _number(change["delta_pct"]))
    return text


def quantity(value, unit: str) -> str:
    """A KPI or DR value with its unit, or "no data"."""
    if value is None:
        return "no data"
    if unit == "s" and value >= 120:
        return "%s min" % _number(round(value / 60.0, 1))
    return "%s %s" % (_number(value), unit) if unit != "%" else "%s%%" % _number(value)


def _number(value) -> str:
    if isinstance(value, float):
        return ("%.2f" % value).rstrip("0").rstrip(".")
    return str(value)


def _ack_text(ack) -> str:
    """``reason (by X, until D)`` from a finding's ``acknowledged`` entry."""
    if not isinstance(ack, dict):
        return "acknowledged"
    text = str(ack.get("reason") or "acknowledged")
    extra = [label + " " + str(ack[key]) for key, label in (("by", "by"), ("expires", "until")) if ack.get(key)]
    return text + (" (%s)" % ", ".join(extra) if extra else "")


def _md(text) -> str:
    """One-line, table-safe Markdown text: no pipes or newlines breaking rows, no raw HTML."""
    text = " ".join(str("" if text is None else text).split())
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _open_findings(check: dict) -> list[dict]:
    return [f for f in check.get("findings") or [] if isinstance(f, dict) and not f.get("acknowledged")]


def _view(report: dict) -> dict:
    checks = report.get("checks") or []
    by_host: dict[str, list] = {host: [] for host in report.get("hosts") or {}}
    for check in checks:
        by_host.setdefault(check.get("host", ""), []).append(check)
    ordered = attention_order(checks)
    return {
        "r": report,
        "run": report.get("run") or {},
        "attention": [c for c in ordered if c["status"] != "ok"],
        "by_host": {host: attention_order(items) for host, items in by_host.items()},
        "statuses": ("ok", "warning", "critical", "unknown"),
        "fc": report.get("finding_counts"),
        # New since last run, and those whose acknowledgement expired: what needs a look again.
        "new_findings": [(c, f) for c in ordered for f in _open_findings(c)
                         if f.get("new") or f.get("acknowledgement_expired")],
        "acknowledged": [(c, f) for c in ordered for f in c.get("findings") or []
                         if isinstance(f, dict) and f.get("acknowledged")],
        "acting": [c for c in checks if action_lines(c)],
        "kpis": report.get("kpis"),
        "dr": report.get("dr"),
    }


def _environment(autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=autoescape,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["md"] = _md
    env.filters["metric_text"] = metric_text
    env.filters["num"] = _number
    env.filters["open_findings"] = _open_findings
    env.filters["quantity"] = quantity
    env.filters["ack_text"] = _ack_text
    env.filters["action_lines"] = action_lines
    return env
