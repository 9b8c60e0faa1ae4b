"""Log scan speed and memory for the formats other than the combined access log, against grep.

    .venv/bin/python benchmarks/log_scan_formats.py --mb 1024 --repeats 1

For each of JSON lines (pino, what a Node app writes), BSD syslog, Apache 2.4 and nginx error
logs and a custom format (a WSGI service's request lines, described by one regex), generates
about ``--mb`` MB (seeded, every line inside the scan window, about 2 % errors), puts it in the
page cache and times in the same run:

- ``LC_ALL=C grep -c`` of the format's error marker (the floor),
- upkeep's scan (``scan_logs``, every core) in a fresh process, as the module runs on a host,

checks upkeep's entry and error counts against an independent count (awk, or jq for JSON),
records the scanning process's peak RSS and writes benchmarks/results/log_scan_formats.json.
The target of issue 9 item 18 is at most 5x grep and under 150 MB for each format; the record
says for each whether it is met.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
TARGET_RATIO = 5.0
TARGET_RSS_MB = 150.0
ROUTES = ["/api/products/%d", "/api/availability/%d", "/api/leads", "/products/%d", "/"]
WSGI_PATTERN = (r'(?P<time>\S+ \S+) \d+ (?P<level>[A-Z]+) \S+ \[[^\]]*\] (?:(?P<client>\S+) "(?P<method>[A-Z]+) '
                r'(?P<path>\S+) [^"]*" status: (?P<status>\d+) len: (?P<bytes>\d+) time: (?P<duration>[0-9.]+)'
                r'|(?P<message>.*))')


def _route(rng):
    route = rng.choice(ROUTES)
    return route % rng.randint(1, 5000) if "%d" in route else route


def _json(rng, ts, error):
    if error:
        return json.dumps({"level": 50, "time": int(ts * 1000), "pid": 812, "hostname": "app-1",
                           "err": {"type": "TypeError", "message": "Cannot read properties of undefined"},
                           "msg": "TypeError: Cannot read properties of undefined (reading 'price')"})
    return json.dumps({"level": 30, "time": int(ts * 1000), "pid": 812, "hostname": "app-1",
                       "req": {"method": "GET", "url": _route(rng)}, "res": {"statusCode": 200},
                       "responseTime": rng.randint(2, 900), "msg": "request completed"})


def _syslog(rng, ts, error):
    stamp = time.strftime("%b %e %H:%M:%S", time.localtime(ts))
    if error:
        return "%s app-1 node[812]: ERROR connect ECONNREFUSED 10.0.0.5:6379" % stamp
    return "%s app-1 node[812]: GET %s 200 %d ms" % (stamp, _route(rng), rng.randint(2, 900))


def _apache(rng, ts, error):
    stamp = time.strftime("%a %b %d %H:%M:%S", time.localtime(ts)) + ".%06d %d" % (
        rng.randint(0, 999999), time.localtime(ts).tm_year)
    if error:
        return ("[%s] [proxy:error] [pid %d:tid 1402] (111)Connection refused: [client 203.0.113.%d:%d] AH00957: "
                "HTTP: attempt to connect to 127.0.0.1:3000 (localhost) failed" % (stamp, rng.randint(100, 999),
                                                                                   rng.randint(1, 254),
                                                                                   rng.randint(1024, 65535)))
    return ("[%s] [ssl:info] [pid %d:tid 1401] [client 198.51.100.%d:%d] AH01964: Connection to child %d "
            "established (server shop.example:443)" % (stamp, rng.randint(100, 999), rng.randint(1, 254),
                                                       rng.randint(1024, 65535), rng.randint(0, 99)))


def _nginx(rng, ts, error):
    stamp = time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(ts))
    if error:
        return ('%s [error] 1234#1234: *%d upstream timed out (110: Connection timed out) while reading response '
                'header from upstream, client: 198.51.100.%d, server: shop, request: "GET %s HTTP/1.1", upstream: '
                '"http://127.0.0.1:3000%s", host: "shop.example"' % (stamp, rng.randint(1, 10 ** 6),
                                                                     rng.randint(1, 254), _route(rng), _route(rng)))
    return '%s [info] 1234#1234: *%d client 198.51.100.%d closed keepalive connection' % (
        stamp, rng.randint(1, 10 ** 6), rng.randint(1, 254))


def _wsgi(rng, ts, error):
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) + ".%03d" % rng.randint(0, 999)
    return '%s 2931 INFO api.wsgi [req-%08x] 10.0.0.%d "GET %s HTTP/1.1" status: %d len: %d time: %.4f' % (
        stamp, rng.getrandbits(32), rng.randint(1, 254), _route(rng), 503 if error else 200, rng.randint(200, 9000),
        rng.uniform(0.005, 0.9))


# name: (line maker, source options, grep's error marker, awk or jq counting [entries, errors])
FORMATS = {
    "json": (_json, {"format": "json"}, '"level":50',
             ["jq", "-rn", "[inputs] | [length, (map(select(.level >= 50)) | length)] | @tsv"]),
    "syslog": (_syslog, {"format": "syslog"}, " ERROR ",
               ["awk", "{n++} / ERROR / {e++} END {print n, e + 0}"]),
    "apache_error": (_apache, {"format": "apache_error"}, ":error] ",
                     ["awk", "{n++} /:error\\] / {e++} END {print n, e + 0}"]),
    "nginx_error": (_nginx, {"format": "nginx_error"}, " [error] ",
                    ["awk", "{n++} / \\[error\\] / {e++} END {print n, e + 0}"]),
    "custom": (_wsgi, {"format": "custom", "pattern": WSGI_PATTERN, "time_format": "%Y-%m-%d %H:%M:%S.%f",
                       "duration_unit": "s"}, " status: 5",
               ["awk", "{n++} / status: 5[0-9][0-9] / {e++} END {print n, e + 0}"]),
}


def generate(path, make, megabytes, now):
    rng = random.Random(1)
    target = megabytes * 1024 * 1024
    written = lines = 0
    start = now - 6 * 86400
    # Spread over the last six days: the line count is estimated from a sample of the format's lines.
    sample = [make(random.Random(2), now, index % 50 == 0) for index in range(500)]
    step = 6 * 86400 / (target / (sum(map(len, sample)) / 500.0 + 1))
    with open(path, "w") as out:
        while written < target:
            batch = [make(rng, start + (lines + i) * step, rng.random() < 0.02) for i in range(10000)]
            text = "\n".join(batch) + "\n"
            out.write(text)
            written += len(text)
            lines += len(batch)
    return lines


def scan_child(path, now, workers, options):
    """Runs in a fresh process: import the module code, scan, print what the parent records."""
    started = time.perf_counter()
    import ansible.module_utils
    ansible.module_utils.__path__.append(str(REPO / "module_utils"))
    from ansible.module_utils.upkeep.logs import scan_logs
    params = {"sources": [dict({"name": "bench", "paths": [path]}, **json.loads(options))], "window_days": 7,
              "top_n": 10, "spike_factor": 3.0, "spike_min_count": 10, "workers": workers}
    checks, _ = scan_logs(params, now=now)
    errors = next(c for c in checks if c["id"] == "log.errors")
    print(json.dumps({"process_s": time.perf_counter() - started, "status": errors["status"],
                      "entries": errors["metrics"].get("entries", errors["metrics"].get("requests")),
                      "errors": errors["metrics"].get("errors"), "unparsed": errors["metrics"].get("unparsed_lines"),
                      # The largest of the scanning process and its workers (byte ranges run in children).
                      "maxrss_mb": max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                                       resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024}))


def main():
    if len(sys.argv) == 6 and sys.argv[1] == "--scan-child":
        scan_child(sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--output", default=str(REPO / "benchmarks" / "results" / "log_scan_formats.json"))
    args = parser.parse_args()
    workers = os.cpu_count() or 1
    c_env = dict(os.environ, LC_ALL="C")
    results = {"machine": {"cpus": workers, "python": platform.python_version(), "platform": platform.platform()},
               "target": {"ratio_to_grep": TARGET_RATIO, "peak_rss_mb": TARGET_RSS_MB}, "formats": {}}
    for name in args.formats.split(","):
        make, options, marker, counter = FORMATS[name]
        work = pathlib.Path(tempfile.mkdtemp(prefix="upkeep-logbench-"))
        try:
            now = time.time()
            path = work / ("%s.log" % name)
            lines = generate(path, make, args.mb, now)
            with open(path, "rb") as handle:  # into the page cache, for every contender alike
                while handle.read(1 << 24):
                    pass
            with open(path, "rb") as handle:
                independent = [int(x) for x in subprocess.run(counter, stdin=handle, env=c_env, capture_output=True,
                                                              text=True, check=True).stdout.split()]
            grep_runs, scans = [], []
            for _ in range(args.repeats):
                start = time.perf_counter()
                subprocess.run(["grep", "-c", marker, str(path)], env=c_env, capture_output=True, check=False)
                grep_runs.append(time.perf_counter() - start)
                out = subprocess.run([sys.executable, __file__, "--scan-child", str(path), repr(now), str(workers),
                                      json.dumps(options)], capture_output=True, text=True, check=True).stdout
                scans.append(json.loads(out.strip().splitlines()[-1]))
            scan = statistics.median(s["process_s"] for s in scans)
            grep = statistics.median(grep_runs)
            last = scans[-1]
            ratio = scan / grep
            peak = max(s["maxrss_mb"] for s in scans)
            record = {"file_mb": round(path.stat().st_size / 2 ** 20, 1), "lines": lines, "grep_s": round(grep, 2),
                      "upkeep_s": round(scan, 2), "ratio_to_grep": round(ratio, 1), "peak_rss_mb": round(peak, 1),
                      "entries": last["entries"], "errors": last["errors"], "unparsed": last["unparsed"],
                      "independent_entries_errors": independent,
                      "counts_match": [last["entries"], last["errors"]] == independent,
                      "target_met": ratio <= TARGET_RATIO and peak <= TARGET_RSS_MB}
            results["formats"][name] = record
            print(name, json.dumps(record), flush=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    out = pathlib.Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    if not all(r["counts_match"] for r in results["formats"].values()):
        raise SystemExit("upkeep's counts differ from the independent count: see %s" % out)


if __name__ == "__main__":
    main()
