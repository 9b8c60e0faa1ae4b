"""A report as a Nagios plugin's output: one status line with performance data, and the Nagios
exit code (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN), for Nagios, Icinga, Zabbix and anything
else that runs plugins.

Performance data follows the Nagios plugin guidelines: ``'label'=value[UOM];[warn];[crit];[min];[max]``,
the label quoted (a quote inside doubled, ``=`` and ``|`` replaced since parsers split at them), a unit
only from the guidelines' list (s, ms, us, %, B, KB, MB, TB; nothing for a plain number), and
thresholds as ranges: ``500`` alerts above 500; when a lower value is worse (warning above
critical, as for a cache hit ratio) ``99:`` alerts below 99.
"""

from __future__ import annotations

import math

from .summary import STATUSES, problems

EXIT_CODES = {"ok": 0, "warning": 1, "critical": 2, "unknown": 3}
# Metric name suffix -> the guidelines' unit of measurement (the contract puts the unit in the name).
_UNITS = (("_ms", "ms"), ("_us", "us"), ("_seconds", "s"), ("_s", "s"), ("_pct", "%"), ("_percent", "%"),
          ("_bytes", "B"), ("_kb", "KB"), ("_mb", "MB"), ("_tb", "TB"))
# How many problems the status line names before "and N more" (the line must stay readable).
SHOWN_PROBLEMS = 3


def render(report: dict) -> tuple[str, int]:
    """(the plugin's output line, its exit code)."""
    status = report.get("status") if report.get("status") in EXIT_CODES else "unknown"
    counts = report.get("counts") or {}
    text = "UPKEEP %s %s - %s (run %s)" % (
        str(report.get("cadence") or "").upper(), status.upper(),
        ", ".join("%d %s" % (counts.get(s, 0), s) for s in reversed(STATUSES)), report.get("run_id", "?"))
    if report.get("partial"):
        text += " PARTIAL: %s" % report.get("partial_reason")
    elif (report.get("run") or {}).get("error"):
        text += " RUN FAILED: %s" % report["run"]["error"]
    needing = problems(report)
    if needing:
        named = ["%s %s %s %s" % (c["status"].upper(), c.get("host", ""), c["id"], c.get("target", ""))
                 for c in needing[:SHOWN_PROBLEMS]]
        more = len(needing) - SHOWN_PROBLEMS
        text += ": " + "; ".join(named) + (" and %d more" % more if more > 0 else "")
    # "|" separates text from performance data: a summary holding one would cut the line wrong.
    text = " ".join(text.replace("|", "/").split())
    perf = perfdata(report)
    return (text + (" | " + " ".join(perf) if perf else "")), EXIT_CODES[status]


def perfdata(report: dict) -> list[str]:
    items, seen = [], set()
    for check in report.get("checks") or []:
        thresholds = check.get("thresholds") or {}
        for metric, value in (check.get("metrics") or {}).items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or math.isinf(value):
                continue
            label = ";".join(str(part) for part in (check.get("id", ""), check.get("host", ""),
                                                     check.get("target", ""), metric))
            if label in seen:
                continue
            seen.add(label)
            unit = next((uom for suffix, uom in _UNITS if str(metric).endswith(suffix)), "")
            warn, crit = _ranges(thresholds.get(metric))
            bounds = ("0", "100") if unit == "%" else ("", "")
            fields = [_quote(label) + "=" + _number(value) + unit, warn, crit, *bounds]
            items.append(";".join(fields).rstrip(";"))
    return items


def _ranges(limits) -> tuple[str, str]:
    if not isinstance(limits, dict):
        return "", ""
    warning, critical = limits.get("warning"), limits.get("critical")
    numbers = [v for v in (warning, critical) if isinstance(v, (int, float)) and not isinstance(v, bool)]
    lower_is_worse = len(numbers) == 2 and warning > critical
    suffix = ":" if lower_is_worse else ""

    def one(value) -> str:
        return _number(value) + suffix if value in numbers else ""
    return one(warning), one(critical)


def _quote(label: str) -> str:
    # "|" would end the text part early for parsers that split at every bar.
    return "'%s'" % label.replace("=", "_").replace("|", "/").replace("'", "''")


def _number(value) -> str:
    # No exponent: Nagios parsers read plain decimals only.
    text = ("%.6f" % value).rstrip("0").rstrip(".") if isinstance(value, float) else str(value)
    return text if text not in ("-0", "") else "0"
