"""upkeep_log_scan and the upkeep_logs role through real ansible-playbook runs on generated logs,
with a Python that has only the standard library as the host's interpreter."""

from __future__ import annotations

import calendar
import gzip
import json
import os
import random
import sys
import time

import pytest

from tests.support.fixtures_logs import host_logs, stdlib_python  # noqa: F401 (fixtures)
from tests.support.playbook import run_tasks
from upkeep.sandbox.extensions import logs as sandbox_logs

pytestmark = pytest.mark.slow

SCAN = "Scan the logs"
ROLE_TASK = "Scan the host's logs for error rate, latency and new error signatures"
PLANTED_SECRET = "pw-9c1e77f3d2"


def _inventory(python, **host_vars):
    return {"all": {"hosts": {"localhost": dict(
        {"ansible_connection": "local", "ansible_python_interpreter": python}, **host_vars)}}}


def _statuses(checks):
    return {(c["id"], c["target"]): c["status"] for c in checks}


def test_module_scans_on_a_bare_python_and_masks_secrets(host_logs, stdlib_python, tmp_path):
    with open(host_logs / "app" / "app.log", "a") as app:
        app.write(json.dumps({"time": "2030-01-01T00:00:00Z", "level": 50,
                              "msg": "db login failed password=%s for app" % PLANTED_SECRET}) + "\n")
    state, report = tmp_path / "state.json", tmp_path / "report.json"
    sources = sandbox_logs.log_sources(str(host_logs))["upkeep_logs_sources"]
    task = {"name": SCAN, "upkeep_log_scan": {"sources": sources, "state_path": str(state),
                                               "report_path": str(report)}}
    run = run_tasks([task], inventory=_inventory(stdlib_python), tmp_path=tmp_path / "run")
    result = run.one(SCAN)
    assert not result.failed, run.stdout[-3000:]
    statuses = _statuses(result.res["checks"])
    assert statuses[("log.errors", "nginx-access")] == "warning"
    assert statuses[("log.latency", "nginx-access")] == "warning"
    assert statuses[("log.signatures", "error signatures")] == "warning"
    assert result.res["changed"] is False and result.res["state_written"] is True
    assert state.exists() and json.loads(report.read_text())["signatures"]
    said = run.stdout + json.dumps([r.res for r in run.results]) + report.read_text() + state.read_text()
    assert PLANTED_SECRET not in said
    assert len(json.dumps(result.res)) < 60000  # the result stays small; detail is in the report file


def test_check_mode_leaves_state_and_report_untouched(host_logs, tmp_path):
    state, report = tmp_path / "state.json", tmp_path / "report.json"
    state.write_text('{"schema": "upkeep.log_scan_state/1", "signatures": {}}')
    os.utime(state, (1000000000, 1000000000))
    sources = sandbox_logs.log_sources(str(host_logs))["upkeep_logs_sources"]
    task = {"name": SCAN, "upkeep_log_scan": {"sources": sources, "state_path": str(state),
                                               "report_path": str(report)}}
    run = run_tasks([task], inventory=_inventory(sys.executable), check=True, tmp_path=tmp_path / "run")
    result = run.one(SCAN)
    assert not result.failed and result.res["changed"] is False and result.res["state_written"] is False
    assert state.stat().st_mtime == 1000000000 and not report.exists()
    signatures = [c for c in result.res["checks"] if c["id"] == "log.signatures"][0]
    assert "check mode" in signatures["summary"] and "detail_path" not in signatures


@pytest.mark.parametrize("args, message", [
    ({"sources": [{"name": "a", "format": "json", "paths": ["/x"]}], "window_days": 0},
     "window_days: must be greater than 0"),
    ({"sources": [{"name": "a", "format": "xml", "paths": ["/x"]}]}, "format"),
    ({"sources": [{"name": "a", "format": "json"}]}, "paths"),
    ({"sources": [{"name": "a", "format": "json", "paths": ["/x"]}], "window_end": "last tuesday"},
     "window_end: 'last tuesday' is not an ISO 8601 time"),
    ({"sources": [{"name": "a", "format": "json", "paths": ["/x"]}], "baseline_days": 0},
     "baseline_days: must be greater than 0"),
    ({"sources": [{"name": "a", "format": "custom", "paths": ["/x"], "pattern": "(?P<time>\\S+) (?P<msg>.*)"}]},
     "sources[0].pattern: unknown group name(s) msg"),
    ({"sources": [{"name": "a", "format": "custom", "paths": ["/x"], "pattern": "(?P<time>[0-9"}]},
     "sources[0].pattern: not a valid regular expression"),
    ({"sources": [{"name": "a", "format": "syslog", "paths": ["/x"], "time_format": "%H"}]},
     "sources[0].time_format: only with format custom"),
])
def test_bad_parameters_fail_with_a_clear_message(args, message, tmp_path):
    run = run_tasks([{"name": SCAN, "upkeep_log_scan": args}], tmp_path=tmp_path)
    result = run.one(SCAN)
    assert result.failed and message in result.res["msg"]
    assert "Traceback (most recent call last)" not in run.stdout + json.dumps(result.res)


def test_role_scans_each_host_with_its_sources(host_logs, tmp_path):
    variables = sandbox_logs.log_sources(str(host_logs))
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        "- hosts: all\n  gather_facts: false\n  roles: [upkeep_logs]\n")
    inventory = _inventory(sys.executable, upkeep_logs_sources=variables["upkeep_logs_sources"],
                           upkeep_logs_state_path=str(tmp_path / "state.json"),
                           upkeep_logs_report_path=str(tmp_path / "report.json"))
    run = run_tasks(None, inventory=inventory, playbook=playbook, tmp_path=tmp_path / "run")
    result = run.one(ROLE_TASK)
    assert not result.failed, run.stdout[-3000:]
    assert {c["id"] for c in result.res["checks"]} == {"log.errors", "log.latency", "log.signatures"}
    assert (tmp_path / "state.json").exists() and run.rc == 0


# -- material shaped like real logs, made here ----------------------------------------------------

DAY = 86400
# A fixed past moment: an archived month a person reviews long after it was written.
ARCHIVE_END = calendar.timegm((2025, 3, 14, 23, 0, 0))
PATHS = ["/", "/products", "/products/812", "/api/leads", "/api/availability", "/about"]


def _clf_line(ts, status=200, path="/products", client="198.51.100.7", size=5120, rt=0.042):
    stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(ts))
    return '%s - - [%s] "GET %s HTTP/1.1" %d %d "-" "Mozilla/5.0 (X11; Linux x86_64)" %.3f' % (
        client, stamp, path, status, size, rt)


def _access_day(rng, day_end, count, error_every=0):
    """``count`` requests over the day ending at ``day_end``, in time order, every ``error_every``th a 502."""
    lines = []
    for index in range(count):
        ts = day_end - DAY + 1 + index * (DAY - 2) // count
        status = 502 if error_every and index % error_every == 0 else rng.choice((200, 200, 200, 304, 404))
        lines.append(_clf_line(ts, status, rng.choice(PATHS), "203.0.113.%d" % rng.randint(1, 40),
                               rng.randint(200, 90000), rng.lognormvariate(-3, 0.6)))
    return lines


def _write(path, lines, mtime=None, crlf=False, compress=False):
    text = ("\r\n" if crlf else "\n").join(lines) + ("\r\n" if crlf else "\n")
    data = gzip.compress(text.encode()) if compress else text.encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def _scan(tmp_path, args, name=SCAN, check=False):
    run = run_tasks([{"name": name, "upkeep_log_scan": args}], check=check, tmp_path=tmp_path)
    result = run.one(name)
    assert not result.failed, run.stdout[-3000:]
    return {(c["id"], c["target"]): c for c in result.res["checks"]}, result.res


def test_an_archived_log_is_unknown_for_now_and_reviewed_at_its_own_window_end(tmp_path):
    """Item 1: all lines older than the window is unknown with what the file holds; window_end and
    baseline_days ask for "the last day of the archive against the day before"."""
    rng = random.Random(1)
    before, last = _access_day(rng, ARCHIVE_END - DAY, 400), _access_day(rng, ARCHIVE_END, 500, error_every=10)
    log = _write(tmp_path / "logs" / "access.log.1", before + last, mtime=ARCHIVE_END + 60, crlf=True)
    source = {"name": "web", "format": "combined", "paths": [str(tmp_path / "logs" / "access.log*")]}
    checks, _ = _scan(tmp_path / "now", {"sources": [source]})
    errors = checks[("log.errors", "web")]
    assert errors["status"] == "unknown" and "no entries in the window" in errors["summary"]
    assert "2025-03-14T22:5" in errors["summary"]  # the newest line, as read from the end of the file
    assert checks[("log.signatures", "error signatures")]["status"] == "unknown"

    checks, res = _scan(tmp_path / "then", {"sources": [source], "window_end": "2025-03-14T23:00:00Z",
                                             "window_days": 1, "baseline_days": 1})
    errors = checks[("log.errors", "web")]
    # Counted independently: every 10th request of the last day is a 502.
    assert errors["metrics"]["requests"] == 500 and errors["metrics"]["errors"] == 50
    assert errors["metrics"]["baseline_entries"] == 400 and errors["status"] == "critical"
    assert res["window"]["end"] == ARCHIVE_END and res["window"]["baseline_days"] == 1
    assert log.stat().st_mtime == ARCHIVE_END + 60


def test_files_are_chosen_by_their_newest_line_not_their_mtime(tmp_path):
    """Item 2: a current log copied with an old mtime is read; a rotated archive whose newest line
    is older than the baseline is skipped, and the reason says which line; gzip too."""
    now = time.time()
    rng = random.Random(2)
    logs = tmp_path / "logs"
    _write(logs / "access.log", _access_day(rng, now - 60, 300, error_every=50), mtime=now - 400 * DAY)
    _write(logs / "access.log.1", _access_day(rng, now - 20 * DAY, 200), mtime=now, compress=False)
    _write(logs / "access.log.2.gz", _access_day(rng, now - 30 * DAY, 200), mtime=now, compress=True)
    source = {"name": "web", "format": "combined", "paths": [str(logs / "access.log*")]}
    checks, _ = _scan(tmp_path / "run", {"sources": [source]})
    errors = checks[("log.errors", "web")]
    assert errors["metrics"]["requests"] == 300 and errors["metrics"]["files_read"] == 1
    skipped = {item["path"].rsplit("/", 1)[-1]: item for item in errors["files"] if "skipped" in item}
    assert sorted(skipped) == ["access.log.1", "access.log.2.gz"]
    newest = skipped["access.log.1"]["newest_line_epoch"]
    assert 0 <= (now - 20 * DAY) - newest < 900 and "older than the baseline window" in skipped["access.log.1"]["skipped"]


def _syslog_line(ts, host, program, message):
    # rsyslog's traditional format: local time, no year.
    return "%s %s %s: %s" % (time.strftime("%b %e %H:%M:%S", time.localtime(ts)), host, program, message)


def test_year_less_syslog_of_an_archived_december_gets_its_own_years(tmp_path):
    """Item 3: a December-into-January syslog archive, written in 2025: its December lines are
    2024's, its January lines 2025's, and the evidence says the years were inferred."""
    start = time.mktime((2024, 12, 30, 8, 0, 0, 0, 0, -1))
    lines = []
    for index in range(48):
        ts = start + index * 3600
        lines.append(_syslog_line(ts, "app-1", "node[812]", "Error: connect ECONNREFUSED 10.0.0.5:6379"
                                  if index % 6 == 0 else "GET /api/health 200"))
    last = start + 47 * 3600
    _write(tmp_path / "logs" / "syslog.1", lines, mtime=last + 120)
    source = {"name": "app", "format": "syslog", "paths": [str(tmp_path / "logs" / "syslog*")]}
    checks, res = _scan(tmp_path / "run", {"sources": [source], "window_end": int(last + 60), "window_days": 3})
    errors = checks[("log.errors", "app")]
    assert errors["metrics"]["entries"] == 48 and errors["metrics"]["errors"] == 8
    assert "2024, 2025" in errors["files"][0]["year_inferred"]
    assert "modification time" in errors["files"][0]["year_inferred"]


def test_a_first_run_records_a_baseline_and_the_next_finds_what_is_new(tmp_path):
    """Item 8: nothing is "new" against a baseline window without lines; with the state of the
    first run, a signature that appears later is."""
    now = time.time()
    state = tmp_path / "state.json"
    app = tmp_path / "logs" / "app.log"
    lines = [json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 3 * 3600 + i * 60)),
                         "level": 50 if i % 5 == 0 else 30, "msg": "Payment webhook failed for order %d" % (9000 + i)
                         if i % 5 == 0 else "request completed"}) for i in range(60)]
    _write(app, lines)
    source = {"name": "app", "format": "json", "paths": [str(app)]}
    checks, _ = _scan(tmp_path / "first", {"sources": [source], "state_path": str(state)})
    signatures = checks[("log.signatures", "error signatures")]
    assert signatures["status"] == "ok" and signatures["metrics"]["signatures_new"] == 0
    assert signatures["metrics"]["signatures_baseline"] == 1 and "baseline recorded for app" in signatures["summary"]
    assert signatures["top_signatures"][0]["trend"] == "baseline"

    lines.append(json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 30)), "level": 50,
                             "msg": "TypeError: Cannot read properties of undefined (reading 'price')"}))
    _write(app, lines)
    checks, _ = _scan(tmp_path / "second", {"sources": [source], "state_path": str(state)})
    signatures = checks[("log.signatures", "error signatures")]
    trends = {s["template"][:9]: s["trend"] for s in signatures["top_signatures"]}
    assert trends == {"Payment w": "known", "TypeError": "new"} and signatures["status"] == "warning"


def _apache_stamp(ts, fraction=True):
    moment = time.localtime(ts)
    text = time.strftime("%a %b %d %H:%M:%S", moment)
    return "%s%s %d" % (text, ".%06d" % (int(ts * 1e6) % 1000000) if fraction else "", moment.tm_year)


def test_error_logs_and_a_custom_service_format_are_read_and_judged(tmp_path):
    """Item 4: an Apache 2.4 error log (and its 2.2-era rotation, gzipped) with format auto, and a
    WSGI service log described in one line of inventory: their errors count (no "0.0 %" beside
    an ok), the detected format is named, and a log no format reads is unknown."""
    now = time.time() - 3600
    rng = random.Random(4)
    apache = []
    for index in range(200):
        ts = now - index * 300
        if index % 4 == 0:
            apache.append("[%s] [proxy:error] [pid %d:tid 1402] (111)Connection refused: [client 203.0.113.%d:%d] "
                          "AH00957: HTTP: attempt to connect to 127.0.0.1:3000 (localhost) failed"
                          % (_apache_stamp(ts), 900 + index, index % 50, 40000 + index))
        else:
            apache.append("[%s] [mpm_event:notice] [pid 1:tid 1400] AH00489: Apache/2.4.58 (Unix) configured -- "
                          "resuming normal operations" % _apache_stamp(ts))
    apache.reverse()
    old = ["[%s] [error] [client 198.51.100.%d] File does not exist: /var/www/html/wp-login.php"
           % (_apache_stamp(now - 2 * DAY - i * 600, fraction=False), i) for i in range(20)]
    logs = tmp_path / "logs"
    _write(logs / "apache2" / "error.log", apache)
    _write(logs / "apache2" / "error.log.2.gz", old[::-1], compress=True)
    wsgi = []
    for index in range(300):
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now - 3 * DAY + index * 600)) + ".%03d" % (index % 1000)
        status = 503 if index % 10 == 0 else 200
        wsgi.append('%s 2931 INFO nova.osapi_compute.wsgi.server [req-%08x - - - -] 10.0.0.%d "GET /v2.1/servers/detail '
                    'HTTP/1.1" status: %d len: %d time: %.7f' % (stamp, rng.getrandbits(32), index % 9, status,
                                                                 rng.randint(300, 9000), rng.uniform(0.01, 0.4)))
        if status == 503:
            wsgi.append("%s 2931 ERROR nova.api.openstack.wsgi [req-%08x - - - -] Unexpected exception in API method: "
                        "MessagingTimeout: Timed out waiting for a reply to message ID %032x"
                        % (stamp, rng.getrandbits(32), rng.getrandbits(128)))
            wsgi.append("  Traceback (most recent call last):")
    _write(logs / "nova" / "nova-api.log", wsgi)
    _write(logs / "mystery.log", ["<%d> lorem ipsum %d" % (i, i) for i in range(50)])
    pattern = (r'(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) \d+ (?P<level>[A-Z]+) \S+ \[[^\]]*\] '
               r'(?:(?P<client>\S+) "(?P<method>[A-Z]+) (?P<path>\S+) [^"]*" status: (?P<status>\d+) len: '
               r'(?P<bytes>\d+) time: (?P<duration>[0-9.]+)|(?P<message>.*))')
    sources = [{"name": "apache", "format": "auto", "paths": [str(logs / "apache2" / "error.log*")]},
               {"name": "nova-api", "format": "custom", "paths": [str(logs / "nova" / "nova-api.log*")],
                "pattern": pattern, "time_format": "%Y-%m-%d %H:%M:%S.%f", "duration_unit": "s"},
               {"name": "mystery", "format": "auto", "paths": [str(logs / "mystery.log")]}]
    checks, _ = _scan(tmp_path / "run", {"sources": sources})
    apache_errors = checks[("log.errors", "apache")]
    assert apache_errors["format"] == "apache_error" and apache_errors["format_detected"] is True
    assert "format detected: apache_error" in apache_errors["summary"]
    assert apache_errors["metrics"]["entries"] == 220 and apache_errors["metrics"]["errors"] == 70
    assert apache_errors["status"] == "critical" and apache_errors["categories"]["AH00957"] == 50
    nova = checks[("log.errors", "nova-api")]
    assert nova["metrics"]["requests"] == 330 and nova["metrics"]["status_5xx"] == 30
    assert nova["metrics"]["errors"] == 60 and nova["metrics"]["unparsed_lines"] == 0
    assert checks[("log.latency", "nova-api")]["metrics"]["latency_samples"] == 300
    mystery = checks[("log.errors", "mystery")]
    assert mystery["status"] == "unknown" and "format not recognised" in mystery["summary"]
    signatures = checks[("log.signatures", "error signatures")]
    assert signatures["status"] == "unknown" and "mystery" in signatures["summary"]
    templates = " | ".join(s["template"] for s in signatures["top_signatures"])
    assert "AH00957" in templates and "MessagingTimeout" in templates


def test_access_review_per_status_paths_clients_bytes_and_hours(tmp_path):
    """Item 6: what GoAccess shows first, from a current log and its gzipped rotation, counted
    independently here; a log without request times says so instead of leaving latency out."""
    now = time.time() - 600
    rng = random.Random(6)
    expected = {"codes": {}, "404": {}, "5xx": {}, "clients": {}, "bytes": 0, "hours": {}}
    files = {"access.log": [], "access.log.1.gz": []}
    for index in range(3000):
        ts = now - index * 97  # about 3.4 days, newest first
        roll = rng.random()
        status, path = (404, rng.choice(["/wp-login.php", "/.env", "/favicon.ico"])) if roll < 0.08 else \
            (502, "/api/leads") if roll < 0.11 else (500, "/api/availability/%d" % rng.randint(1, 9)) if roll < 0.12 \
            else (rng.choice([200, 200, 200, 301, 304]), rng.choice(PATHS))
        client = "203.0.113.%d" % min(int(rng.paretovariate(1.2)), 250)
        size = 0 if status == 304 else rng.randint(150, 80000)
        line = '%s - - [%s] "GET %s?utm=%d HTTP/1.1" %d %s "-" "Mozilla/5.0"' % (
            client, time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(ts)), path, index, status,
            size if size else "-")
        files["access.log" if index < 1800 else "access.log.1.gz"].insert(0, line)
        expected["codes"][str(status)] = expected["codes"].get(str(status), 0) + 1
        bucket = "404" if status == 404 else "5xx" if status >= 500 else None
        if bucket:
            expected[bucket][path.split("?")[0]] = expected[bucket].get(path, 0) + 1
        expected["clients"][client] = expected["clients"].get(client, 0) + 1
        expected["bytes"] += size
        hour = time.strftime("%Y-%m-%dT%H:00Z", time.gmtime(ts))
        expected["hours"][hour] = expected["hours"].get(hour, 0) + 1
    logs = tmp_path / "logs"
    _write(logs / "access.log", files["access.log"])
    _write(logs / "access.log.1.gz", files["access.log.1.gz"], compress=True)
    checks, _ = _scan(tmp_path / "run", {"sources": [{"name": "web", "format": "combined",
                                                      "paths": [str(logs / "access.log*")]}], "top_n": 3})
    errors = checks[("log.errors", "web")]
    assert errors["status_codes"] == dict(sorted(expected["codes"].items()))
    top = lambda counts, key: [{key: k, "requests": v} for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3]]
    assert errors["top_404_paths"] == top(expected["404"], "path")
    assert errors["top_5xx_paths"] == top(expected["5xx"], "path") and errors["top_5xx_paths"][0]["path"] == "/api/leads"
    assert errors["top_clients"] == top(expected["clients"], "client")
    metrics = errors["metrics"]
    assert metrics["distinct_clients"] == len(expected["clients"]) and metrics["served_bytes"] == expected["bytes"]
    assert errors["requests_per_hour"] == dict(sorted(expected["hours"].items()))
    assert metrics["requests_per_hour_peak"] == max(expected["hours"].values())
    latency = checks[("log.latency", "web")]
    assert latency["status"] == "unknown" and "no response times in this log" in latency["summary"]


def test_role_passes_the_window_to_the_module(tmp_path):
    """The role's upkeep_logs_window_end and upkeep_logs_baseline_days reach the module."""
    rng = random.Random(11)
    _write(tmp_path / "logs" / "access.log.1", _access_day(rng, ARCHIVE_END - DAY, 100) +
           _access_day(rng, ARCHIVE_END, 120, error_every=4))
    playbook = tmp_path / "play.yml"
    playbook.write_text("- hosts: all\n  gather_facts: false\n  roles: [upkeep_logs]\n")
    inventory = _inventory(sys.executable, upkeep_logs_sources=[
        {"name": "web", "format": "auto", "paths": [str(tmp_path / "logs" / "access.log*")]}],
        upkeep_logs_window_end="2025-03-14T23:00:00Z", upkeep_logs_window_days=1, upkeep_logs_baseline_days=1,
        upkeep_logs_state_path="", upkeep_logs_report_path="")
    run = run_tasks(None, inventory=inventory, playbook=playbook, tmp_path=tmp_path / "run")
    result = run.one(ROLE_TASK)
    assert not result.failed, run.stdout[-3000:]
    errors = next(c for c in result.res["checks"] if c["id"] == "log.errors")
    assert errors["metrics"]["requests"] == 120 and errors["metrics"]["baseline_entries"] == 100
    assert errors["format"] == "combined" and errors["format_detected"] is True
    assert result.res["window"] == {"start": ARCHIVE_END - DAY, "end": ARCHIVE_END, "days": 1.0,
                                    "baseline_start": ARCHIVE_END - 2 * DAY, "baseline_days": 1.0, "end_given": True}


def test_p99_across_a_gap_in_real_response_times_keeps_the_stated_bound(tmp_path):
    """Item 7 through the module: nginx request times with a gap before the slowest 1 %; the
    reported p50/p95/p99 are within the stated 1 % of numpy's default (linear interpolation)."""
    now = time.time() - 600
    rng = random.Random(7)
    # 2000 requests, the slowest 20 past a gap: p99's rank (0.99 * 1999) falls between the last fast
    # one and the first slow one, where reading the lower neighbour alone is off by tens of percent.
    times = [round(rng.lognormvariate(-3.2, 0.35), 3) for _ in range(1980)] + \
        [round(rng.uniform(2.5, 4.0), 3) for _ in range(20)]
    rng.shuffle(times)
    lines = [_clf_line(now - 4000 + index * 2, 200, "/api/availability", rt=rt) for index, rt in enumerate(times)]
    _write(tmp_path / "logs" / "access.log", lines)
    checks, _ = _scan(tmp_path / "run", {"sources": [{"name": "web", "format": "combined",
                                                      "paths": [str(tmp_path / "logs" / "access.log")]}]})
    latency = checks[("log.latency", "web")]
    ordered = sorted(t * 1000 for t in times)

    def exact(q):  # numpy.percentile's default, written out
        position = q * (len(ordered) - 1)
        low = int(position)
        return ordered[low] + (position - low) * (ordered[min(low + 1, len(ordered) - 1)] - ordered[low])
    for q, key in ((0.5, "latency_p50_ms"), (0.95, "latency_p95_ms"), (0.99, "latency_p99_ms")):
        # The module rounds to 0.01 ms.
        assert abs(latency["metrics"][key] - exact(q)) <= 0.01 * exact(q) + 0.005, (key, exact(q))
    assert "linear interpolation" in latency["estimate"]
