"""``upkeep report --format nagios``: one plugin line whose performance data follows the Nagios
plugin guidelines, and the plugin exit code."""

from __future__ import annotations

import re

import pytest

from upkeep.report import nagios

from tests.support.sample_report import make_report

# The guidelines' grammar: 'label'=value[UOM];[warn];[crit];[min];[max], a quote in a label doubled,
# UOM one of s ms us % B KB MB TB c, thresholds as ranges ([@][start:][end]).
_RANGE = r"@?(?:~|-?[0-9.]+)?:?(?:-?[0-9.]+)?"
PERF = re.compile(r"^'(?:[^'=|]|'')+'=-?[0-9.]+(?:s|ms|us|%|B|KB|MB|TB|c)?(?:;" + _RANGE + r"){0,2}(?:;-?[0-9.]*){0,2}$")


def perf_items(line: str) -> list[str]:
    assert line.count("|") == 1, line
    return re.findall(r"'(?:[^']|'')+'=\S+", line.split("|", 1)[1])


def test_status_line_perfdata_and_exit_code():
    report = make_report()
    report["checks"][0]["metrics"].update({"cache_hit_pct": 97.5, "rows": 12, "free_bytes": 1024, "up": True})
    report["checks"][0]["thresholds"]["cache_hit_pct"] = {"warning": 99, "critical": 95}  # lower is worse
    line, code = nagios.render(report)
    assert code == 3  # the sample run failed a task: unknown
    assert line.startswith("UPKEEP DAILY UNKNOWN - 1 unknown, 1 critical, 1 warning, 1 ok (run daily-")
    assert ": CRITICAL web2 http.page https://web2/<b>; UNKNOWN web3 task.upkeep_smtp Probe; WARNING web2 pg.ping db |" in line
    assert "\n" not in line
    items = perf_items(line)
    assert all(PERF.match(item) for item in items), items
    assert "'http.health;web1;https://web1/api/health;latency_p95_ms'=12ms;500;2000" in items
    assert "'http.health;web1;https://web1/api/health;cache_hit_pct'=97.5%;99:;95:;0;100" in items
    assert "'http.health;web1;https://web1/api/health;free_bytes'=1024B" in items
    assert "'http.health;web1;https://web1/api/health;rows'=12" in items
    assert "'pg.ping;web2;db;query_ms'=250.5ms" in items
    assert not any(";up'" in item for item in items)  # a boolean is not performance data


@pytest.mark.parametrize("status, code", [("ok", 0), ("warning", 1), ("critical", 2), ("unknown", 3)])
def test_exit_code_is_the_reports_status(status, code):
    report = make_report()
    report["status"] = status
    assert nagios.render(report)[1] == code
    assert nagios.render(report)[0].startswith("UPKEEP DAILY %s - " % status.upper())


def test_hostile_text_cannot_break_the_line():
    report = make_report()
    report["checks"] = [dict(report["checks"][1], target="a|b 'c'=d", status="critical",
                             metrics={"latency_ms": 1e-7, "big": 1e20})]
    report["status"] = "critical"
    line, code = nagios.render(report)
    assert code == 2 and line.count("|") == 1
    items = perf_items(line)
    assert items == ["'http.page;web2;a/b ''c''_d;latency_ms'=0ms", "'http.page;web2;a/b ''c''_d;big'=100000000000000000000"]
    assert all(PERF.match(item) for item in items)
