"""The access-log block path (logs_combined_fast) against the line parser, on the same files.

The line parser is the reference: each test scans a file once as shipped and once with the
block path switched off (BlockCounter.count answering "not this block", which sends every block
to the line parser), and the checks must be identical. Small read chunks give many blocks, so
clean blocks take the block path (a spy counts them: a test where it never ran proves nothing)
and blocks with odd lines fall back beside them.
"""

from __future__ import annotations

import calendar
import json
import pathlib
import random
import subprocess
import sys
import time

import pytest

from ansible.module_utils.upkeep import logs_combined_fast, logs_files
from ansible.module_utils.upkeep.logs import scan_logs
from ansible.module_utils.upkeep.logs_files import FileReport, read_blocks

NOW = calendar.timegm((2026, 11, 28, 12, 0, 0))
DAY = 86400
ROUTES = ["/", "/products/%d", "/api/products/%d", "/api/leads", "/api/health", "/static/%d.js"]


def _params(path, **source):
    return {"sources": [dict({"name": "web", "format": "combined", "paths": [str(path)]}, **source)],
            "window_days": 7, "top_n": 10, "spike_factor": 3.0, "spike_min_count": 10, "state_path": None,
            "report_path": None, "max_state_signatures": 5000}


def _stamp(ts, zone="+0000"):
    sign = 1 if zone[0] == "+" else -1
    local = ts + sign * (int(zone[1:3]) * 3600 + int(zone[3:5]) * 60)
    return time.strftime("%d/%b/%Y:%H:%M:%S ", time.gmtime(local)) + zone


def _line(rng, ts, zone="+0000", odd=None):
    status = rng.choice([200] * 30 + [301, 304, 404, 429, 500, 502, 503])
    route = rng.choice(ROUTES)
    route = route % rng.randint(1, 50) if "%d" in route else route
    tail = " %.3f" % rng.lognormvariate(-2.5, 0.8)
    request = "GET %s HTTP/1.1" % route
    if odd == "upstream":
        tail += " 0.%03d" % rng.randint(0, 999)
    elif odd == "keyed":
        tail = " rt=%.3f urt=\"0.010\"" % rng.random()
    elif odd == "no_time":
        tail = ""
    elif odd == "dash_time":
        tail = " -"
    elif odd == "escaped":
        request = 'GET /api/a\\"b HTTP/1.1'
    elif odd == "no_method":
        request = "/api/leads"
    elif odd == "tls_probe":  # as nginx logs a TLS handshake sent to its HTTP port
        request, status = "\\x16\\x03\\x01\\x00\\xCA\\x01\\x00\\x00\\xC6\\x03\\x03", 400
    elif odd == "garbage":
        return "\x16\x03\x01 scanner junk %d" % rng.randint(0, 9)
    elif odd == "crlf":
        tail += "\r"
    elif odd == "status_600":
        status = 600
    elif odd == "query":
        request = "GET /api/products?sort=price&start=%d&cart=1 HTTP/1.1" % rng.randint(0, 99)
    elif odd == "request_time_keyed":
        tail = " request_time=%.3f" % rng.random()
    elif odd == "keyed_quoted":
        tail = ' rt=%.3f uct="0.000" urt="0.%03d"' % (rng.random(), rng.randint(0, 999))
    user, referer, prefix = "-", "-", ""
    if odd == "user_space":
        user = "john doe"
    elif odd == "referer_rt":
        referer = "https://evil.example/?rt=3600"
    elif odd == "syslog":
        prefix = "Nov 28 11:00:00 web1 nginx: "
    elif odd == "vhost":
        prefix = "shop.example:443 "
    # What the access review reads: the client (IPv6 too), the size ("-" or junk is none).
    client = "2001:db8::%x" % rng.randint(1, 4) if odd == "ipv6" else "203.0.113.%d" % rng.randint(1, 254)
    size = "-" if odd == "dash_size" else "%dk" % rng.randint(1, 9) if odd == "size_junk" else str(rng.randint(10, 5000))
    if odd == "not_found_query":
        request, status = "GET /wp-login.php?redirect_to=%%2Fadmin&x=%d HTTP/1.1" % rng.randint(0, 9), 404
    line = '%s%s - %s [%s] "%s" %d %s "%s" "Mozilla/5.0"%s' % (
        prefix, client, user, _stamp(ts, zone), request, status, size, referer, tail)
    return line


class _Counted(list):
    """Regions of the blocks the block path counted, and their lines in ``lines``."""

    def __init__(self):
        super().__init__()
        self.lines = []


@pytest.fixture
def small_blocks(monkeypatch):
    """4 KiB reads: a few dozen lines a block."""
    monkeypatch.setattr(logs_files, "CHUNK_BYTES", 4096)


@pytest.fixture
def block_path_runs(monkeypatch):
    """Counts the blocks the block path counted (a spy: the real method runs)."""
    counted = _Counted()
    counted_lines = counted.lines
    original = logs_combined_fast.BlockCounter.count

    def spy(self, block):
        tally = original(self, block)
        if tally is not None:
            counted.append(tally.region)
            counted_lines.append(tally.lines)
        return tally



    monkeypatch.setattr(logs_combined_fast.BlockCounter, "count", spy)
    return counted


def _without_block_path(params, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(logs_combined_fast.BlockCounter, "count", lambda self, block: None)
        return _strip(scan_logs(params, now=NOW)[0])


def _strip(checks):
    return [{k: v for k, v in c.items() if k != "duration_ms"} for c in checks]


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n")


def test_every_window_and_boundary_gives_the_line_parsers_figures(tmp_path, small_blocks, block_path_runs,
                                                                  monkeypatch):
    """Three weeks of traffic: blocks older than both windows, in the previous window, in the
    current one, and the blocks holding each boundary."""
    rng = random.Random(7)
    start = NOW - 20 * DAY
    log = tmp_path / "access.log"
    _write(log, [_line(rng, start + i * 90) for i in range(20 * DAY // 90)])
    params = _params(log, latency_path_prefix="/api/")
    fast = _strip(scan_logs(params, now=NOW)[0])
    assert {"current", "previous", "outside"} <= set(block_path_runs)
    assert fast == _without_block_path(params, monkeypatch)
    assert fast[0]["metrics"]["requests"] == 7 * DAY // 90 and fast[0]["metrics"]["errors"] > 0


ODD_KINDS = ["upstream", "keyed", "no_time", "dash_time", "escaped", "no_method", "garbage", "crlf", "status_600",
             "query", "request_time_keyed", "keyed_quoted", "user_space", "referer_rt", "syslog", "vhost", "tls_probe",
             "ipv6", "dash_size", "size_junk", "not_found_query"]


@pytest.mark.parametrize("odd", ODD_KINDS)
@pytest.mark.parametrize("prefix", [None, "/api/"])
def test_odd_lines_among_ordinary_ones_give_the_line_parsers_figures(tmp_path, small_blocks, block_path_runs,
                                                                     monkeypatch, odd, prefix):
    rng = random.Random(hash(odd) % 1000)
    lines = []
    for i in range(3000):
        lines.append(_line(rng, NOW - 2 * DAY + i * 20, odd=odd if rng.random() < 0.01 else None))
    log = tmp_path / "access.log"
    _write(log, lines)
    params = _params(log, latency_path_prefix=prefix)
    fast = _strip(scan_logs(params, now=NOW)[0])
    assert block_path_runs, "some blocks had only ordinary lines"
    assert fast == _without_block_path(params, monkeypatch)


def test_zones_hours_out_of_order_and_sparse_blocks(tmp_path, small_blocks, block_path_runs, monkeypatch):
    rng = random.Random(3)
    lines = [_line(rng, NOW - 3 * DAY + i * 11, zone="-0700") for i in range(1500)]
    lines += [_line(rng, NOW - DAY + i * 11, zone="+0530") for i in range(1500)]
    lines[700], lines[1200] = lines[1200], lines[700]  # an hour out of order inside a block
    lines += [_line(rng, NOW - DAY + i * 4 * 3600) for i in range(6)]  # days in a block
    log = tmp_path / "access.log"
    _write(log, lines)
    params = _params(log)
    fast = _strip(scan_logs(params, now=NOW)[0])
    assert block_path_runs
    assert fast == _without_block_path(params, monkeypatch)


def test_writers_in_different_zones_around_each_boundary(tmp_path, small_blocks, block_path_runs, monkeypatch):
    """Lines of one file stamped in two zones (two servers logging to one place), across both
    window boundaries and far from them: the block path may skip the zone test only where no
    zone could move a line across a boundary."""
    rng = random.Random(5)
    zones = ["+0000"] * 18 + ["+0030", "-0045"]  # hour keys of the others shifted within reach
    lines = [_line(rng, NOW - 15 * DAY + i * 60, zone=rng.choice(zones)) for i in range(15 * DAY // 60)]
    log = tmp_path / "access.log"
    _write(log, lines)
    params = _params(log)
    fast = _strip(scan_logs(params, now=NOW)[0])
    assert {"current", "previous"} <= set(block_path_runs)
    assert fast == _without_block_path(params, monkeypatch)


def test_a_line_from_another_zone_is_not_moved_across_the_boundary(tmp_path, monkeypatch):
    """The case the zone test exists for: every hour key of the block reads "after the window
    start", but one line, logged in +0030 ten minutes before the start, is before it."""
    rng = random.Random(9)
    start = NOW - 7 * DAY
    lines = [_line(rng, start + 300 + i) for i in range(200)]
    lines.insert(100, _line(rng, start - 600, zone="+0030"))
    log = tmp_path / "access.log"
    _write(log, lines)
    params = _params(log)
    fast = _strip(scan_logs(params, now=NOW)[0])
    assert fast == _without_block_path(params, monkeypatch)
    assert fast[0]["metrics"]["requests"] == 200


def test_property_block_path_equals_line_parser(tmp_path_factory, monkeypatch):
    hypothesis = pytest.importorskip("hypothesis")
    strategies = hypothesis.strategies
    odd_kinds = [None] * 8 + ODD_KINDS
    monkeypatch.setattr(logs_files, "CHUNK_BYTES", 2048)

    @hypothesis.settings(max_examples=40, deadline=None)
    @hypothesis.given(strategies.integers(0, 2 ** 32), strategies.integers(1, 600), strategies.integers(1, 4000),
                      strategies.sampled_from([None, "/api/"]), strategies.sampled_from(["s", "ms"]))
    def same(seed, count, step, prefix, unit):
        rng = random.Random(seed)
        start = NOW - rng.randint(0, 16 * DAY)
        lines = [_line(rng, start + i * step + rng.randint(-5, 5), odd=rng.choice(odd_kinds)) for i in range(count)]
        log = tmp_path_factory.mktemp("prop") / "access.log"
        _write(log, lines)
        params = _params(log, latency_path_prefix=prefix, request_time_unit=unit)
        assert _strip(scan_logs(params, now=NOW)[0]) == _without_block_path(params, monkeypatch)

    same()


def test_whole_files_of_prefixed_lines_and_queries_keep_the_block_path(tmp_path, small_blocks, block_path_runs,
                                                                        monkeypatch):
    """nginx logging through syslog, Apache's vhost_combined and shop traffic full of ?sort= are
    read as requests, by both paths, and the query strings do not push blocks to the line parser."""
    rng = random.Random(2)
    for odd in ("syslog", "vhost", "query"):
        log = tmp_path / ("%s.log" % odd)
        _write(log, [_line(rng, NOW - DAY + i * 30, odd=odd) for i in range(2000)])
        params = _params(log, latency_path_prefix="/api/")
        del block_path_runs[:]
        fast = _strip(scan_logs(params, now=NOW)[0])
        assert fast == _without_block_path(params, monkeypatch)
        assert fast[0]["metrics"]["requests"] == 2000 and fast[0]["metrics"]["unparsed_lines"] == 0
        assert len(block_path_runs) > 10, odd


def test_a_few_scanner_lines_cost_the_block_path_only_themselves(tmp_path, block_path_runs, monkeypatch):
    """Full-size blocks (1 MiB reads) with a TLS handshake or probe logged as a request every
    thousand lines: the lines around them are still counted whole. Junk lines without a stamp
    send their blocks to the line parser, with the same figures."""
    for odd, unparsed in (("tls_probe", 0), ("garbage", 30)):
        rng = random.Random(6)
        lines = [_line(rng, NOW - DAY + i, odd=odd if i % 1000 == 500 else None) for i in range(30000)]
        log = tmp_path / ("%s.log" % odd)
        _write(log, lines)
        params = _params(log, latency_path_prefix="/api/")
        del block_path_runs.lines[:]
        fast = _strip(scan_logs(params, now=NOW)[0])
        assert fast == _without_block_path(params, monkeypatch)
        assert fast[0]["metrics"]["unparsed_lines"] == unparsed and fast[0]["metrics"]["requests"] == 30000 - unparsed
        if odd == "tls_probe":  # lines with no stamp at all are rarer: their blocks go line by line
            assert sum(block_path_runs.lines) >= 29000


def test_a_client_cannot_write_the_request_time(tmp_path, small_blocks, monkeypatch):
    rng = random.Random(4)
    log = tmp_path / "access.log"
    _write(log, [_line(rng, NOW - DAY + i * 30, odd="referer_rt") for i in range(500)])
    params = _params(log)
    fast = _strip(scan_logs(params, now=NOW)[0])
    assert fast == _without_block_path(params, monkeypatch)
    assert fast[1]["metrics"]["latency_max_ms"] < 100000  # the generated times, not the referer's 3600 s


def test_byte_ranges_read_every_line_exactly_once(tmp_path):
    rng = random.Random(11)
    lines = [("x" * rng.choice([0, 1, 5, 40, 300, 5000])) + str(i) for i in range(2000)]
    data = "\n".join(lines).encode()
    log = tmp_path / "access.log"
    log.write_bytes(data)
    for cuts in ([0, len(data)], sorted({0, len(data)} | {rng.randrange(1, len(data)) for _ in range(9)}),
                 list(range(0, len(data), 997)) + [len(data)]):
        seen = []
        for start, end in zip(cuts, cuts[1:]):
            for block in read_blocks(str(log), FileReport(str(log)), (start, end)):
                seen.extend(block.decode().split("\n"))
        assert seen == lines, cuts


def test_byte_ranges_on_two_processes_give_the_serial_figures(tmp_path):
    """Ranges forced on a small file by lowering the size floor (a switch, not a mock), in a
    fresh interpreter as on a host (forking pytest, whose fixtures run threads, can deadlock)."""
    rng = random.Random(8)
    lines = [_line(rng, NOW - DAY + i * 5) for i in range(6000)]
    for index in (10, 2500, 3001, 5999):
        lines[index] = "garbage line %d" % index
    log = tmp_path / "access.log"
    _write(log, lines)
    script = """
import json, sys
import ansible.module_utils
ansible.module_utils.__path__.append(sys.argv[1])
from ansible.module_utils.upkeep import logs, logs_parallel
params, now = json.loads(sys.argv[2]), float(sys.argv[3])
serial, _ = logs.scan_logs(dict(params, workers=1), now=now)
logs_parallel.PARALLEL_MIN_BYTES = 0
tasks = logs_parallel.plan_tasks(params["sources"][0]["paths"], 2, True)
parallel, _ = logs.scan_logs(dict(params, workers=2), now=now)
strip = lambda checks: [{k: v for k, v in c.items() if k != "duration_ms"} for c in checks]
print(json.dumps({"ranges": len(tasks), "same": strip(parallel) == strip(serial),
                  "samples": [s["line"] for s in parallel[0]["unparsed_samples"]]}))
"""
    repo = pathlib.Path(__file__).resolve().parents[3]
    proc = subprocess.run([sys.executable, "-c", script, str(repo / "module_utils"), json.dumps(_params(log)),
                           str(NOW)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    outcome = json.loads(proc.stdout.strip().splitlines()[-1])
    assert outcome["ranges"] >= 2 and outcome["same"]
    assert outcome["samples"] == [11, 2501, 3002, 6000]


def test_oversized_lines_are_found_in_jumps():
    limit = logs_files.MAX_LINE_BYTES
    assert not logs_combined_fast._has_oversized_line(b"a" * limit + b"\n" + b"b" * limit)
    assert logs_combined_fast._has_oversized_line(b"a\n" + b"b" * (limit + 1) + b"\nc")
    assert logs_combined_fast._has_oversized_line(b"a\n" + b"b" * (limit + 1))
    assert not logs_combined_fast._has_oversized_line(b"short\nlines\n" * 20000)
