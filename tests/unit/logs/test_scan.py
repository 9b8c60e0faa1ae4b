"""scan_logs end to end on real files: generated sandbox logs, two windows with a state file,
broken files, thresholds, and counts checked against an independent awk/grep count."""

from __future__ import annotations

import calendar
import gzip
import json
import os
import pathlib
import random
import subprocess
import sys
import time

import pytest

from ansible.module_utils.upkeep.logs import scan_logs
from ansible.module_utils.upkeep.result import ParameterError
from upkeep.sandbox.extensions import logs as sandbox_logs

NOW = calendar.timegm((2026, 11, 28, 12, 0, 0))
DAY = 86400


def _params(sources, **extra):
    params = {"sources": sources, "window_days": 7, "top_n": 10, "spike_factor": 3.0, "spike_min_count": 10,
              "error_rate_warning_pct": 1.0, "error_rate_critical_pct": 5.0, "latency_warning_ms": 500.0,
              "latency_critical_ms": 3000.0, "state_path": None, "report_path": None, "max_state_signatures": 5000}
    params.update(extra)
    return params


def _by(checks, check_id, target=None):
    found = [c for c in checks if c["id"] == check_id and (target is None or c["target"] == target)]
    assert len(found) == 1, checks
    return found[0]


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    directory = tmp_path_factory.mktemp("hostlogs")
    sandbox_logs.generate(directory, now=NOW)
    return directory


def test_generated_logs_give_the_planted_story(generated, tmp_path):
    sources = sandbox_logs.log_sources(str(generated))["upkeep_logs_sources"]
    report = tmp_path / "report.json"
    checks, extra = scan_logs(_params(sources, report_path=str(report)), now=NOW)
    nginx = _by(checks, "log.errors", "nginx-access")
    assert nginx["status"] == "warning" and 1.0 <= nginx["metrics"]["error_rate_pct"] < 5.0
    assert nginx["metrics"]["previous_error_rate_pct"] < 1.0 and nginx["metrics"]["files_read"] == 14
    latency = _by(checks, "log.latency", "nginx-access")
    assert latency["status"] == "warning" and latency["metrics"]["latency_p95_ms"] > 500
    assert latency["metrics"]["latency_relative_error_pct"] == 1.0
    assert _by(checks, "log.errors", "postgresql")["categories"]["SQLSTATE 23 (integrity_constraint_violation)"] > 0
    signatures = _by(checks, "log.signatures")
    trends = {(s["template"].split(":")[0], s["trend"]) for s in signatures["top_signatures"]}
    assert ("WhatsAppTemplateError", "new") in trends and ("SMTP send failed for <email>", "spiking") in trends
    assert signatures["detail_path"] == str(report)
    detail = json.loads(report.read_text())
    assert len(detail["signatures"]) >= signatures["metrics"]["signatures"]
    assert extra["state_written"] is False
    # Stricter per-source thresholds turn the same logs critical.
    strict = [dict(s, error_rate_critical_pct=2.0) if s["name"] == "nginx-access" else s for s in sources]
    assert _by(scan_logs(_params(strict), now=NOW)[0], "log.errors", "nginx-access")["status"] == "critical"


def test_counts_match_an_independent_awk_count(generated):
    sources = sandbox_logs.log_sources(str(generated))["upkeep_logs_sources"]
    checks, _ = scan_logs(_params(sources, window_days=30), now=NOW)
    files = sorted(str(p) for p in (generated / "nginx").glob("access.log*"))
    awk = subprocess.run("zcat -f %s | awk '{n++} $9 ~ /^5/ {e++} END {print n, e}'" % " ".join(files),
                         shell=True, check=True, capture_output=True, text=True, timeout=30).stdout.split()
    nginx = _by(checks, "log.errors", "nginx-access")
    assert [nginx["metrics"]["requests"], nginx["metrics"]["status_5xx"]] == [int(awk[0]), int(awk[1])]
    pg_errors = subprocess.run(["grep", "-cE", " (ERROR|FATAL):  ", str(generated / "postgresql" / "postgresql.log")],
                               check=True, capture_output=True, text=True, timeout=30).stdout
    assert _by(checks, "log.errors", "postgresql")["metrics"]["errors"] == int(pg_errors)


def _json_log(path, entries):
    """entries: (epoch, message); one pino-style error line each."""
    path.write_text("".join(json.dumps({"time": int(ts * 1000), "level": 50, "msg": msg}) + "\n" for ts, msg in entries))


def test_new_regressed_and_spiking_across_windows_with_a_state_file(tmp_path):
    state = tmp_path / "state" / "signatures.json"
    log = tmp_path / "app.log"
    source = [{"name": "app", "format": "json", "paths": [str(log)]}]
    # Run 1 at NOW: "steady" in both windows, "flaky" in the current one only.
    _json_log(log, [(NOW - 10 * DAY + i, "steady failure %d" % i) for i in range(5)]
              + [(NOW - 2 * DAY + i, "steady failure %d" % i) for i in range(5)]
              + [(NOW - 6 * DAY, "flaky cache miss for key 77")])
    checks, extra = scan_logs(_params(source, state_path=str(state)), now=NOW)
    top = {s["template"]: s["trend"] for s in _by(checks, "log.signatures")["top_signatures"]}
    assert top == {"steady failure <n>": "known", "flaky cache miss for key <n>": "new"} and extra["state_written"]
    # Run 2, two weeks later: "flaky" returns after a quiet window, "steady" spikes, "fresh" is new.
    later = NOW + 14 * DAY
    _json_log(log, [(later - 10 * DAY + i, "steady failure %d" % i) for i in range(5)]
              + [(later - 2 * DAY + i, "steady failure %d" % i) for i in range(20)]
              + [(later - 1 * DAY, "flaky cache miss for key 78"), (later - 3600, "fresh TypeError in checkout")])
    before = state.read_bytes()
    checks, extra = scan_logs(_params(source, state_path=str(state)), now=later, check_mode=True)
    assert state.read_bytes() == before and extra["state_written"] is False
    signatures = _by(checks, "log.signatures")
    top = {s["template"]: s["trend"] for s in signatures["top_signatures"]}
    assert top == {"steady failure <n>": "spiking", "flaky cache miss for key <n>": "regressed",
                   "fresh TypeError in checkout": "new"}
    assert signatures["status"] == "warning" and "check mode" in signatures["summary"]
    assert signatures["metrics"]["signatures_regressed"] == 1 and signatures["metrics"]["signatures_spiking"] == 1
    # Without the state file, "flaky" would look new: the state is what tells regressed from new.
    checks, _ = scan_logs(_params(source), now=later)
    assert {s["template"]: s["trend"] for s in _by(checks, "log.signatures")["top_signatures"]}[
        "flaky cache miss for key <n>"] == "new"


def _access(ts, status=200):
    return '198.51.100.%d - - [%s] "GET /api/x HTTP/1.1" %d 12 "-" "curl" 0.050\n' % (
        ts % 200, time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(ts)), status)


def test_truncated_gzip_binary_and_unreadable_files_do_not_stop_the_scan(tmp_path):
    good = tmp_path / "access.log"
    good.write_text("".join(_access(NOW - 3600 + i) for i in range(100)))
    whole = gzip.compress("".join(_access(NOW - DAY - i) for i in range(3000)).encode())
    (tmp_path / "access.log.1.gz").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "access.log.2").write_bytes(bytes(random.Random(1).getrandbits(8) for _ in range(5000)) + b"\x00")
    (tmp_path / "access.log.3.gz").write_bytes(b"\x1f\x8bnot really gzip")
    for path in tmp_path.iterdir():
        os.utime(path, (NOW, NOW))
    checks, _ = scan_logs(_params([{"name": "web", "format": "combined", "paths": [str(tmp_path / "access.log*")]}]),
                          now=NOW)
    errors = _by(checks, "log.errors", "web")
    problems = {pathlib.Path(f["path"]).name: f.get("problem", "") for f in errors["files"]}
    assert "truncated" in problems["access.log.1.gz"] and "binary" in problems["access.log.2"]
    assert problems["access.log.3.gz"] and problems["access.log"] == ""
    assert 100 < errors["metrics"]["requests"] < 3100  # the good file and the readable part of the truncated one
    assert errors["metrics"]["files_with_problems"] == 3 and errors["status"] == "ok"


def test_unparseable_and_huge_lines_are_counted_and_sampled(tmp_path):
    log = tmp_path / "access.log"
    log.write_text(_access(NOW - 60) + "garbage line token=abcdefgh12345678\n" + "x" * 200000 + "\n" + _access(NOW - 30, 503))
    checks, _ = scan_logs(_params([{"name": "web", "format": "combined", "paths": [str(log)]}]), now=NOW)
    errors = _by(checks, "log.errors", "web")
    assert errors["metrics"]["requests"] == 2 and errors["metrics"]["unparsed_lines"] == 1
    assert errors["unparsed_samples"] == [{"path": str(log), "line": 2, "text": "garbage line token=<secret>"}]
    assert errors["files"][0]["oversized_lines"] == 1 and errors["status"] == "critical"  # 1 of 2 is 5xx


def test_a_source_in_another_format_is_unknown_not_recognised(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("".join(_access(NOW - i) for i in range(20)))
    checks, _ = scan_logs(_params([{"name": "app", "format": "json", "paths": [str(log)]}]), now=NOW)
    errors = _by(checks, "log.errors", "app")
    assert errors["status"] == "unknown" and "format not recognised" in errors["summary"]
    assert _by(checks, "log.signatures")["status"] == "unknown"  # never ok beside a source it could not read


def test_a_few_percent_unparsed_lines_warn_with_their_line_numbers(tmp_path):
    log = tmp_path / "access.log"
    lines = [_access(NOW - i) for i in range(90)]
    for index in (10, 40, 70, 80, 85, 89):
        lines[index] = "upstream sent garbage\n"
    log.write_text("".join(lines))
    checks, _ = scan_logs(_params([{"name": "web", "format": "combined", "paths": [str(log)]}]), now=NOW)
    errors = _by(checks, "log.errors", "web")
    title = [f for f in errors["findings"] if "do not parse" in f["title"]]
    assert errors["status"] == "warning" and title and "access.log:11" in title[0]["detail"]
    assert errors["metrics"]["unparsed_pct"] > 5


def test_entries_without_timestamps_count_in_the_current_window(tmp_path):
    log = tmp_path / "app.log"
    log.write_text('{"level": "error", "msg": "no clock here 1"}\n{"level": "info", "msg": "fine"}\n')
    state = tmp_path / "state.json"
    checks, _ = scan_logs(_params([{"name": "app", "format": "json", "paths": [str(log)]}], state_path=str(state)),
                          now=NOW)
    assert _by(checks, "log.errors", "app")["metrics"]["errors"] == 1
    assert json.loads(state.read_text())["signatures"]


def test_unwritable_state_and_report_are_findings_not_failures(tmp_path):
    log = tmp_path / "app.log"
    log.write_text('{"level": "error", "msg": "boom"}\n')
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    checks, extra = scan_logs(_params([{"name": "app", "format": "json", "paths": [str(log)]}],
                                      state_path=str(blocker / "state.json"), report_path=str(blocker / "r.json")),
                              now=NOW)
    signatures = _by(checks, "log.signatures")
    assert {f["title"] for f in signatures["findings"]} >= {"State file not written", "Report file not written"}
    assert "detail_path" not in signatures and extra["state_written"] is False


def test_no_matching_file_is_unknown_not_a_failure(tmp_path):
    checks, _ = scan_logs(_params([{"name": "gone", "format": "syslog", "paths": [str(tmp_path / "nope*")]}]), now=NOW)
    assert _by(checks, "log.errors", "gone")["status"] == "unknown"


@pytest.mark.parametrize("change, message", [
    ({"sources": [{"name": "a", "format": "xml", "paths": ["/x"]}]}, "sources[0].format: must be one of"),
    ({"sources": [{"name": "a", "format": "json", "paths": []}]}, "sources[0].paths"),
    ({"sources": [{"name": "a", "format": "json", "paths": ["/x"]}, {"name": "a", "format": "json", "paths": ["/y"]}]},
     "sources[1].name: 'a' is used twice"),
    ({"sources": [{"name": "a", "format": "json", "paths": ["/x"], "fields": {"colour": "c"}}]},
     "sources[0].fields: unknown field role(s) colour"),
    ({"window_days": 0}, "window_days: must be greater than 0"),
    ({"spike_factor": 1}, "spike_factor"),
])
def test_bad_parameters_name_the_parameter(change, message):
    params = _params([{"name": "a", "format": "json", "paths": ["/nonexistent"]}])
    params.update(change)
    with pytest.raises(ParameterError) as caught:
        scan_logs(params, now=NOW)
    assert message in str(caught.value)


FORMATS = ("combined", "json", "syslog", "postgres", "postgres_csv")


def _scan_bytes(tmp_path, data, name):
    path = tmp_path / name
    path.write_bytes(data)
    os.utime(path, (NOW, NOW))
    return scan_logs(_params([{"name": fmt, "format": fmt, "paths": [str(path)]} for fmt in FORMATS]), now=NOW)


def test_arbitrary_bytes_never_raise(tmp_path):
    """Seeded fuzzing over random and near-valid input; the hypothesis version is below."""
    rng = random.Random(2026)
    seeds = [_access(NOW).encode(), b'{"level":50,"msg":"x"}\n', b"2026-11-28 10:00:00 UTC [1] ERROR:  x\n",
             b'2026-11-28 10:00:00 UTC,,,1,,a,1,,,,0,ERROR,23505,"m\n']
    for case in range(150):
        data = bytearray(rng.choice(seeds) * rng.randint(1, 3))
        for _ in range(rng.randint(0, 8)):
            data[rng.randrange(len(data))] = rng.getrandbits(8)
        if case % 3 == 0:
            data = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 400)))
        checks, _ = _scan_bytes(tmp_path, bytes(data), "fuzz.log")
        assert checks[-1]["id"] == "log.signatures"


def test_arbitrary_bytes_never_raise_property(tmp_path_factory):
    hypothesis = pytest.importorskip("hypothesis")
    strategies = hypothesis.strategies

    @hypothesis.settings(max_examples=80, deadline=None)
    @hypothesis.given(strategies.binary(max_size=2000), strategies.booleans())
    def scan_never_raises(data, compress):
        tmp = tmp_path_factory.mktemp("prop")
        checks, _ = _scan_bytes(tmp, gzip.compress(data) if compress else data, "prop.log")
        assert all(c["status"] in ("ok", "warning", "critical", "unknown") for c in checks)

    scan_never_raises()



def test_files_scanned_on_two_processes_give_the_serial_numbers(generated):
    """The parallel path is forced on small files by lowering its size floor (a switch, not a mock).

    It runs in a fresh interpreter, as the module does on a host: forking this pytest process,
    whose fixtures run server threads, can deadlock a child on a lock a thread held at fork."""
    script = """
import json, sys
import ansible.module_utils
ansible.module_utils.__path__.append(sys.argv[1])
from ansible.module_utils.upkeep import logs, logs_parallel
params, now = json.loads(sys.argv[2]), float(sys.argv[3])
serial, _ = logs.scan_logs(dict(params, workers=1), now=now)
logs_parallel.PARALLEL_MIN_BYTES = 0
used = []
original = logs_parallel.map_in_processes
logs.map_in_processes = lambda *a: used.append(1) or original(*a)
parallel, _ = logs.scan_logs(dict(params, workers=2), now=now)
strip = lambda checks: [{k: v for k, v in c.items() if k != "duration_ms"} for c in checks]
print(json.dumps({"used": bool(used), "same": strip(parallel) == strip(serial), "checks": len(serial)}))
"""
    sources = sandbox_logs.log_sources(str(generated))["upkeep_logs_sources"]
    repo = pathlib.Path(__file__).resolve().parents[3]
    proc = subprocess.run([sys.executable, "-c", script, str(repo / "module_utils"), json.dumps(_params(sources)),
                           str(NOW)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    outcome = json.loads(proc.stdout.strip().splitlines()[-1])
    assert outcome["used"], "the parallel path ran"
    assert outcome["same"] and outcome["checks"] > 0

def test_byte_ranges_of_other_formats_give_the_serial_figures(tmp_path):
    """JSON lines, syslog, Apache error logs (with indented continuation lines) and a custom
    format cut into byte ranges on two processes count what one pass counts, unparsed lines'
    numbers included; csvlog is never cut (a quoted field may hold newlines). Fresh interpreter,
    as in the test above."""
    rng = random.Random(12)
    logs = {}
    json_lines = [json.dumps({"level": 50 if i % 37 == 0 else 30, "time": (NOW - DAY + i * 7) * 1000,
                              "msg": "boom %d" % (i % 5) if i % 37 == 0 else "ok", "responseTime": rng.randint(1, 900)})
                  for i in range(4000)]
    json_lines[1234] = "not json at all"
    logs["json"] = json_lines
    logs["syslog"] = ["%s app-1 node[1]: %s" % (time.strftime("%b %e %H:%M:%S", time.localtime(NOW - DAY + i * 7)),
                                                "Error: connect ECONNREFUSED" if i % 41 == 0 else "GET / 200")
                      for i in range(4000)]
    apache = []
    for i in range(3000):
        moment = time.localtime(NOW - DAY + i * 9)
        apache.append("[%s %d] [%s] [pid 7:tid 9] AH0%04d: message %d" % (
            time.strftime("%a %b %d %H:%M:%S.000001", moment), moment.tm_year,
            "php7:error" if i % 29 == 0 else "core:notice", i % 50, i % 3))
        if i % 29 == 0:
            apache.append("  thrown in /var/www/app/index.php on line %d" % (i % 40))
    logs["apache_error"] = apache
    logs["custom"] = ["%s %s %d" % (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - DAY + i * 7)),
                                    "ERROR" if i % 31 == 0 else "INFO", i) for i in range(4000)]
    sources = []
    for name, lines in logs.items():
        (tmp_path / name).write_text("\n".join(lines) + "\n")
        source = {"name": name, "format": name, "paths": [str(tmp_path / name)]}
        if name == "custom":
            source["pattern"] = r"(?P<time>\S+) (?P<level>[A-Z]+) (?P<message>.*)"
        sources.append(source)
    script = """
import json, sys
import ansible.module_utils
ansible.module_utils.__path__.append(sys.argv[1])
from ansible.module_utils.upkeep import logs, logs_parallel
params, now = json.loads(sys.argv[2]), float(sys.argv[3])
serial, _ = logs.scan_logs(dict(params, workers=1), now=now)
logs_parallel.PARALLEL_MIN_BYTES = 0
logs_parallel.RANGE_BYTES = 40000
ranges = {s["name"]: len(logs_parallel.plan_tasks(s["paths"], 2, True)) for s in params["sources"]}
used = []
original = logs_parallel.map_in_processes
logs.map_in_processes = lambda *a: used.append(len(a[1])) or original(*a)
parallel, _ = logs.scan_logs(dict(params, workers=2), now=now)
strip = lambda checks: [{k: v for k, v in c.items() if k != "duration_ms"} for c in checks]
print(json.dumps({"ranges": ranges, "used": used, "same": strip(parallel) == strip(serial),
                  "errors": [c["metrics"]["errors"] for c in serial if c["id"] == "log.errors"],
                  "unparsed": [c["unparsed_samples"] for c in serial if c["id"] == "log.errors"][0],
                  "csv_cut": "postgres_csv" not in logs.UNSPLITTABLE_FORMATS}))
"""
    repo = pathlib.Path(__file__).resolve().parents[3]
    proc = subprocess.run([sys.executable, "-c", script, str(repo / "module_utils"), json.dumps(_params(sources)),
                           str(NOW)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    outcome = json.loads(proc.stdout.strip().splitlines()[-1])
    assert min(outcome["ranges"].values()) >= 3 and outcome["same"] and not outcome["csv_cut"]
    assert outcome["used"] and min(outcome["used"]) >= 3  # every source went through the ranges
    assert all(outcome["errors"]) and outcome["unparsed"][0]["line"] == 1235
