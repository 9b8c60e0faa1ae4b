#!/usr/bin/env python3
"""Benchmark: the daily cadence over N sandbox-like hosts against a plain three-task playbook.

For each fleet size N it builds an inventory of N hosts (local connection), each with its own
HTTPS endpoints (five: API health, two pages, WhatsApp API with a bearer token, email status),
its own SMTP server entry and its own PostgreSQL database (ping and health), all served on
loopback by real servers: the sandbox's own (`upkeep sandbox up`), with one database per host.
Then, in the same run and on the same inventory, it times:

- baseline: a plain playbook of three ``ansible.builtin.command: true`` tasks;
- daily: ``ansible-playbook playbooks/daily.yml``;
- wrapper: ``upkeep run daily`` (ansible-runner, events, reports, history).

Each is run ``--repeats`` times; the median wall time is recorded with the ratio to the
baseline. Every daily run must have evaluated all N * 17 checks with none unknown or critical
(a warning from a loaded server is an honest result), so a run that skipped work cannot pass
for a fast one; the last run's counts are recorded. Results go to
benchmarks/results/daily_fleet.json and a Markdown table on stdout.

    .venv/bin/python benchmarks/daily_fleet.py [--sizes 1,10,100] [--repeats 3]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import yaml

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from upkeep.sandbox import manager  # noqa: E402
from upkeep.sandbox.inventory import build_inventory  # noqa: E402
from upkeep.sandbox.pgcluster import PgCluster  # noqa: E402

BIN = pathlib.Path(sys.executable).parent
CHECKS_PER_HOST = 17  # five HTTP endpoints, one SMTP server, one database (ping and ten health checks)
# What each benchmark host carries: its endpoints, mail server and database. The sandbox's other
# planted targets (backups, logs, npm ...) are one set of files shared by the sandbox host; copying
# them to every host would measure 100 restores of the same dump, not upkeep.
HOST_KEYS = ("ansible_connection", "ansible_python_interpreter", "upkeep_environment",
             "upkeep_http_endpoints", "upkeep_smtp_servers", "upkeep_postgres_databases")

BASELINE_PLAYBOOK = [{
    "name": "Baseline: three trivial commands per host",
    "hosts": "all",
    "gather_facts": False,
    "tasks": [
        {"name": "Run true %d" % i, "ansible.builtin.command": "true", "changed_when": False}
        for i in (1, 2, 3)
    ],
}]


class Servers:
    """The sandbox's own servers (separate processes, as `upkeep sandbox up` runs them), with one
    database per benchmark host in its PostgreSQL cluster."""

    def __init__(self, work: pathlib.Path, max_hosts: int):
        self.root = work
        manager.up(work)
        self.layout = manager.Layout(work)
        self.state = json.loads(self.layout.state_file.read_text())
        owner = self.state["components"]["postgres"]["user"]
        self.databases = ["bench_%03d" % i for i in range(max_hosts)]
        with PgCluster(self.layout.pg).connect() as conn:
            for name in self.databases:
                conn.execute('CREATE DATABASE "%s" OWNER "%s"' % (name, owner))

    def host_vars(self, index: int) -> dict:
        state = json.loads(json.dumps(self.state))
        state["components"]["postgres"]["database"] = self.databases[index]
        (host_vars,) = build_inventory(state, str(BIN / "python"))["all"]["children"]["platform"]["hosts"].values()
        host_vars = {key: value for key, value in host_vars.items() if key in HOST_KEYS}
        # The sandbox's deliberately slow endpoint measures its own sleep, not upkeep: left out.
        host_vars["upkeep_http_endpoints"] = [
            e for e in host_vars["upkeep_http_endpoints"] if not e["url"].endswith("/api/slow")
        ]
        return host_vars

    def stop(self):
        manager.down(self.root, purge=True)


def timed(argv, env=None) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True)
    return time.perf_counter() - start, proc


def check_report(report_dir: pathlib.Path, hosts: int) -> dict:
    """The run's counts, after making sure every check of every host was evaluated: a warning
    from a loaded server is an honest result, a missing or unknown check is not."""
    report = json.loads((report_dir / "latest" / "report.json").read_text())
    expected = hosts * CHECKS_PER_HOST
    counts = report["counts"]
    if sum(counts.values()) != expected or counts["unknown"] or counts["critical"]:
        bad = collections.Counter((c["id"], c["status"]) for c in report["checks"] if c["status"] in ("critical", "unknown"))
        raise SystemExit("daily run did not evaluate everything: expected %d checks, got %s; critical/unknown: %s; "
                         "e.g. %s" % (expected, counts, dict(bad), [(c["host"], c["id"], c["summary"]) for c in
                                                                    report["checks"] if c["status"] == "critical"][:5]))
    warnings = sorted({"%s: %s" % (c["target"], c["summary"]) for c in report["checks"] if c["status"] == "warning"})
    return dict(counts, warning_examples=warnings[:5])


def bench_size(servers: Servers, work: pathlib.Path, hosts: int, repeats: int) -> dict:
    # The benchmark's databases are fresh: their buffer-cache statistics are those of the seeding,
    # not of an application's working set, so the cache-hit ratio is not judged (still queried).
    inventory = {"all": {"vars": {"upkeep_postgres_health_cache_hit_min_blocks": 10 ** 12},
                         "children": {"platform": {"hosts": {
                             "app-%03d" % i: servers.host_vars(i) for i in range(hosts)}}}}}
    inv = work / ("inventory-%d.yml" % hosts)
    inv.write_text(yaml.safe_dump(inventory, sort_keys=False, width=1000))
    baseline_pb = work / "baseline.yml"
    baseline_pb.write_text(yaml.safe_dump(BASELINE_PLAYBOOK, sort_keys=False))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    env.pop("UPKEEP_REPORT_DIR", None)
    times = {"baseline": [], "daily": [], "wrapper": []}
    counts = {}
    for _ in range(repeats):
        elapsed, proc = timed([str(BIN / "ansible-playbook"), "-i", str(inv), str(baseline_pb)], env)
        if proc.returncode != 0:
            raise SystemExit("baseline failed:\n" + proc.stdout[-3000:])
        times["baseline"].append(elapsed)

        report_dir = work / ("reports-%d" % hosts)
        elapsed, proc = timed([str(BIN / "ansible-playbook"), "-i", str(inv), "playbooks/daily.yml"],
                              dict(env, UPKEEP_REPORT_DIR=str(report_dir)))
        if proc.returncode != 0:
            raise SystemExit("daily playbook failed:\n" + proc.stdout[-3000:])
        counts["daily"] = check_report(report_dir, hosts)
        times["daily"].append(elapsed)

        wrapper_dir = work / ("wrapper-reports-%d" % hosts)
        elapsed, proc = timed([str(BIN / "upkeep"), "run", "daily", "-i", str(inv), "--quiet",
                               "--report-dir", str(wrapper_dir)], env)
        if proc.returncode not in (0, 1, 2):  # 1, 2: some check warned or failed, see check_report
            raise SystemExit("upkeep run daily exited %d:\n%s%s" % (proc.returncode, proc.stdout[-3000:], proc.stderr[-2000:]))
        counts["wrapper"] = check_report(wrapper_dir, hosts)
        times["wrapper"].append(elapsed)
    median = {name: statistics.median(values) for name, values in times.items()}
    return {
        "hosts": hosts,
        "repeats": repeats,
        "median_s": {name: round(value, 2) for name, value in median.items()},
        "all_s": {name: [round(v, 2) for v in values] for name, values in times.items()},
        "last_counts": counts,
        "ratio_to_baseline": {name: round(median[name] / median["baseline"], 3) for name in ("daily", "wrapper")},
    }


def machine() -> dict:
    cpu = ""
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ansible_version = subprocess.run([str(BIN / "ansible"), "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    return {"cpus": os.cpu_count(), "cpu_model": cpu, "python": platform.python_version(),
            "ansible": ansible_version, "platform": platform.platform()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,10,100", help="comma-separated fleet sizes (default 1,10,100)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement; the median is kept")
    parser.add_argument("--output", default=str(REPO / "benchmarks" / "results" / "daily_fleet.json"))
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if not sizes or min(sizes) < 1 or args.repeats < 1:
        parser.error("--sizes must list positive integers and --repeats must be >= 1")

    with tempfile.TemporaryDirectory(prefix="upkeep-bench-") as tmp:
        work = pathlib.Path(tmp)
        os.chmod(work, 0o755)  # the PostgreSQL cluster runs as an unprivileged user when we are root
        servers = Servers(work, max(sizes))
        try:
            rows = [bench_size(servers, work, n, args.repeats) for n in sizes]
        finally:
            servers.stop()

    result = {"benchmark": "daily_fleet", "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "machine": machine(), "results": rows}
    out = pathlib.Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print("| hosts | baseline (3 x command) | daily.yml | ratio | upkeep run daily | ratio |")
    print("|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        m, r = row["median_s"], row["ratio_to_baseline"]
        print("| %d | %.2f s | %.2f s | %.2f | %.2f s | %.2f |"
              % (row["hosts"], m["baseline"], m["daily"], r["daily"], m["wrapper"], r["wrapper"]))
    print("\nwritten to %s" % out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
