"""Log scan speed and memory against grep and GoAccess, measured in the same run on the same file.

    .venv/bin/python benchmarks/log_scan.py --mb 1024 --repeats 3

Generates an nginx combined access log of about ``--mb`` MB (varied IPs, paths, agents, 10 % of
the URLs with a query string, ~2 % 5xx, a scanner's TLS handshake logged as a 400 every 5,000
lines, a logged-in user on 1 %, request time as the last field, all inside the scan window;
seeded, so the same bytes every run), puts it in the page cache, and times on it:

- ``LC_ALL=C grep -c ' 5[0-9][0-9] '`` (the issue's floor), interleaved with
- upkeep's scan (``scan_logs`` with the full analysis: status classes, 5xx signatures, p95 of
  the API routes; ``workers`` = the machine's cores), each in a fresh process as the module
  runs on a host, timed from the process's start to its end (interpreter and imports included,
  as grep's time includes its own start); the scan alone is recorded beside it;
- once each: upkeep with one worker, a naive Python pass (a regex per line), and GoAccess
  writing its JSON report, when ``goaccess`` is installed (``apt-get install goaccess``), with
  upkeep again, both on the first ``--goaccess-mb`` MB of the file: GoAccess's memory grows with
  the distinct visitors and its time with it (on the whole 1 GB here it had not finished after
  18 minutes, 2.6 GB RSS), so the comparison is made on a slice it can finish.

It checks upkeep's request and 5xx counts against an independent awk count, records the peak
RSS of the scanning process and of its largest worker, and writes
benchmarks/results/log_scan.json.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
PATHS = ["/", "/products", "/products/%d", "/api/products/%d", "/api/availability/%d", "/api/leads", "/api/health",
         "/categories/%d", "/static/chunks/%d.js", "/images/p%d.webp"]
AGENTS = ["Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
          "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
          "WhatsApp/2.24.23.78 A", "Googlebot/2.1 (+http://www.google.com/bot.html)", "curl/8.5.0"]
GOACCESS_FORMAT = '%h %^[%d:%t %^] "%r" %s %b "%R" "%u" %T'


def generate(path: pathlib.Path, megabytes: int, now: float) -> int:
    rng = random.Random(1)
    target = megabytes * 1024 * 1024
    written = lines = 0
    start = now - 6 * 86400
    with open(path, "w") as out:
        while written < target:
            batch = []
            for _ in range(10000):
                ts = start + lines * 0.01
                status = 500 + rng.randint(0, 4) if rng.random() < 0.02 else (404 if rng.random() < 0.03 else 200)
                route = rng.choice(PATHS)
                if "%d" in route:
                    route = route % rng.randint(1, 5000)
                if rng.random() < 0.1:  # listings with sorting and paging
                    route += "?sort=price&page=%d" % rng.randint(1, 40)
                request = "GET %s HTTP/1.1" % route
                if rng.random() < 0.0002:  # a scanner's TLS handshake on the HTTP port
                    request, status = "\\x16\\x03\\x01\\x00\\xCA\\x01\\x00\\x00\\xC6\\x03\\x03", 400
                user = "admin" if rng.random() < 0.01 else "-"
                batch.append('%d.%d.%d.%d - %s [%s] "%s" %d %d "-" "%s" %.3f\n' % (
                    rng.randint(1, 223), rng.randint(0, 255), rng.randint(0, 255), rng.randint(1, 254), user,
                    time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(ts)), request, status,
                    rng.randint(200, 60000), rng.choice(AGENTS), rng.lognormvariate(-2.5, 0.8)))
                lines += 1
            text = "".join(batch)
            out.write(text)
            written += len(text)
    return lines


def scan_child(path: str, now: float, workers: int) -> None:
    """Runs in a fresh process: import the module code, scan, print what the parent records."""
    started = time.perf_counter()
    import ansible.module_utils
    ansible.module_utils.__path__.append(str(REPO / "module_utils"))
    from ansible.module_utils.upkeep.logs import scan_logs
    imported = time.perf_counter()
    params = {"sources": [{"name": "bench", "format": "combined", "paths": [path], "latency_path_prefix": "/api/"}],
              "window_days": 7, "top_n": 10, "spike_factor": 3.0, "spike_min_count": 10, "workers": workers}
    checks, _ = scan_logs(params, now=now)
    done = time.perf_counter()
    errors = next(c for c in checks if c["id"] == "log.errors")
    latency = next(c for c in checks if c["id"] == "log.latency")
    print(json.dumps({
        "scan_s": done - imported, "import_s": imported - started,
        "requests": errors["metrics"]["requests"], "status_5xx": errors["metrics"]["status_5xx"],
        "p95_ms": latency["metrics"]["latency_p95_ms"], "signatures": len(checks[-1]["top_signatures"]),
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "worker_maxrss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))


def upkeep(path, now, workers):
    start = time.perf_counter()
    out = subprocess.run([sys.executable, __file__, "--scan-child", str(path), repr(now), str(workers)],
                         capture_output=True, text=True, check=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]), process_s=time.perf_counter() - start)


def timed(argv, **kwargs):
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)
    return time.perf_counter() - start, proc


def naive_python(path):
    """A regex per line: status, 5xx count and request times, the shape of a quick script."""
    line_re = re.compile(rb'^(\S+) \S+ \S+ \[([^\]]+)\] "([^"]*)" (\d{3}) \S+ "[^"]*" "[^"]*" ([0-9.]+)$')
    start = time.perf_counter()
    errors, times = 0, []
    with open(path, "rb") as handle:
        for line in handle:
            match = line_re.match(line.rstrip(b"\n"))
            if match:
                if match.group(4)[:1] == b"5":
                    errors += 1
                times.append(float(match.group(5)))
    times.sort()
    return time.perf_counter() - start


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--scan-child":
        scan_child(sys.argv[2], float(sys.argv[3]), int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-goaccess", action="store_true", help="skip GoAccess")
    parser.add_argument("--goaccess-mb", type=int, default=100, help="size of the slice GoAccess and upkeep both read")
    parser.add_argument("--output", default=str(REPO / "benchmarks" / "results" / "log_scan.json"))
    args = parser.parse_args()
    work = pathlib.Path(tempfile.mkdtemp(prefix="upkeep-logbench-"))
    workers = os.cpu_count() or 1
    try:
        now = time.time()
        path = work / "access.log"
        lines = generate(path, args.mb, now)
        with open(path, "rb") as handle:  # into the page cache, for every contender alike
            while handle.read(1 << 24):
                pass
        c_env = dict(os.environ, LC_ALL="C")
        awk = subprocess.run(["awk", "{n++} $9 ~ /^5/ {e++} END {print n, e}", str(path)], env=c_env,
                             capture_output=True, text=True, check=True).stdout.split()
        grep_runs, upkeep_runs = [], []
        for _ in range(args.repeats):
            seconds, proc = timed(["grep", "-c", " 5[0-9][0-9] ", str(path)], env=c_env)
            grep_runs.append(seconds)
            upkeep_runs.append(upkeep(path, now, workers))
        one_worker = upkeep(path, now, 1)
        naive_s = naive_python(path)
        goaccess_s = slice_upkeep = None
        if not args.no_goaccess and shutil.which("goaccess"):
            piece = work / "slice.log"
            with open(path, "rb") as src, open(piece, "wb") as dst:
                data = src.read(args.goaccess_mb * 1024 * 1024)
                dst.write(data[:data.rfind(b"\n") + 1])
                del data
            goaccess_s, proc = timed(["goaccess", str(piece), "--log-format=" + GOACCESS_FORMAT,
                                      "--date-format=%d/%b/%Y", "--time-format=%T", "--no-global-config",
                                      "--no-progress", "-o", str(work / "goaccess.json")])
            if proc.returncode != 0 or not (work / "goaccess.json").stat().st_size:
                raise SystemExit("goaccess failed: %s" % proc.stderr[-500:])
            slice_upkeep = upkeep(piece, now, workers)["process_s"]
        scan = statistics.median(run["process_s"] for run in upkeep_runs)
        grep = statistics.median(grep_runs)
        last = upkeep_runs[-1]
        if [last["requests"], last["status_5xx"]] != [int(awk[0]), int(awk[1])]:
            raise SystemExit("upkeep counted %s requests / %s 5xx, awk %s" % (last["requests"], last["status_5xx"], awk))
        result = {
            "machine": {"cpus": workers, "python": platform.python_version(), "platform": platform.platform()},
            "file_mb": round(path.stat().st_size / 2 ** 20, 1), "lines": lines, "repeats": args.repeats,
            "grep_s": round(grep, 2), "grep_runs_s": [round(s, 2) for s in grep_runs],
            "upkeep_s": round(scan, 2), "upkeep_runs_s": [round(r["process_s"], 2) for r in upkeep_runs],
            "upkeep_scan_only_s": round(statistics.median(r["scan_s"] for r in upkeep_runs), 2),
            "upkeep_import_s": round(last["import_s"], 2), "upkeep_workers": workers,
            "ratio_to_grep": round(scan / grep, 2),
            "upkeep_one_worker_s": round(one_worker["process_s"], 2),
            "naive_python_s": round(naive_s, 2),
            "goaccess_slice_mb": args.goaccess_mb if goaccess_s else None,
            "goaccess_slice_s": round(goaccess_s, 1) if goaccess_s else None,
            "upkeep_slice_s": round(slice_upkeep, 2) if goaccess_s else None,
            "goaccess_over_upkeep": round(goaccess_s / slice_upkeep, 1) if goaccess_s else None,
            "requests": last["requests"], "status_5xx": last["status_5xx"], "awk_requests_5xx": [int(x) for x in awk],
            "p95_ms": last["p95_ms"],
            "peak_rss_mb": round(max(r["maxrss_mb"] for r in upkeep_runs), 1),
            "peak_worker_rss_mb": round(max(r["worker_maxrss_mb"] for r in upkeep_runs), 1),
        }
        print(json.dumps(result, indent=1))
        out = pathlib.Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
