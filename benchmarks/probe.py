#!/usr/bin/env python3
"""Benchmark: one ``upkeep probe`` run (the minute probe) against its budget of 1 CPU-second and
2 s wall, for ten HTTPS endpoints and one PostgreSQL database on loopback.

The servers are the sandbox's own (`upkeep sandbox up` under a temporary root: the HTTPS web
app, PostgreSQL, SMTP, each its own process). The inventory gives one host ten endpoints (API
health with a JSON assertion and nine pages and API routes, all answering 200, two through a
redirect) and the sandbox's database (its password a file lookup, as the sandbox writes it);
a second inventory adds the SMTP server (banner and STARTTLS). In the same run:

- baseline: ``python -c pass`` (the interpreter's own start);
- probe, plan from the inventory: ``upkeep probe --refresh`` (reads the inventory with Ansible
  in-process, as the first run after an inventory change does);
- probe, cached plan: ``upkeep probe`` (every other minute: no Ansible);
- for reference, ``ansible-playbook`` of a one-task playbook on localhost (the start-up cost a
  playbook-per-minute probe would pay before any check).

CPU time is user + system of the child (resource.getrusage(RUSAGE_CHILDREN) around each run),
wall time the parent's clock. Each is run ``--repeats`` times; median and max are recorded. Every
probe run must have recorded one sample per target, none critical or unknown. Results go to
benchmarks/results/probe.json and a Markdown table on stdout.

    .venv/bin/python benchmarks/probe.py [--repeats 10]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import resource
import shutil
import sqlite3
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

BIN = pathlib.Path(sys.executable).parent
PAGES = ["/", "/index.html", "/products", "/about", "/contact", "/api/products", "/email/status", "/catalogue",
         "/home"]
BUDGET_CPU_S, BUDGET_WALL_S = 1.0, 2.0


def inventory(state: dict, with_smtp: bool) -> dict:
    (host,) = build_inventory(state, str(BIN / "python"))["all"]["children"]["platform"]["hosts"].values()
    base = state["components"]["webapp"]["url"].rstrip("/")
    endpoints = [{"name": "api-health", "url": base + "/api/health", "check": "health",
                  "json_assertions": ['status == "healthy"'], "ca_file": state["ca_file"]}]
    endpoints += [{"name": "page%s" % path.replace("/", "-").rstrip("-"), "url": base + path, "check": "page",
                   "ca_file": state["ca_file"]} for path in PAGES]
    variables = {"upkeep_http_endpoints": endpoints, "upkeep_postgres_databases": host["upkeep_postgres_databases"]}
    if with_smtp:
        variables["upkeep_smtp_servers"] = host["upkeep_smtp_servers"]
    return {"all": {"hosts": {"platform": variables}}}


def timed(argv: list[str], env: dict) -> tuple[float, float, subprocess.CompletedProcess]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall, proc


def summary(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 3), "max": round(max(values), 3),
            "min": round(min(values), 3)}


def bench(name: str, argv: list[str], env: dict, repeats: int, check=None) -> dict:
    cpu, wall = [], []
    for _ in range(repeats):
        c, w, proc = timed(argv, env)
        if check is not None:
            check(proc)
        cpu.append(c)
        wall.append(w)
        time.sleep(1.05)  # one sample per target and second: the store's key
    return {"name": name, "cpu_s": summary(cpu), "wall_s": summary(wall), "runs": repeats}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    work = pathlib.Path(tempfile.mkdtemp(prefix="upkeep-bench-probe-"))
    manager.up(work)
    try:
        state = json.loads(manager.Layout(work).state_file.read_text())
        env = {k: v for k, v in os.environ.items() if k not in ("UPKEEP_REPORT_DIR",)}
        rows, checks = [], {}
        rows.append(bench("baseline: python -c pass", [str(BIN / "python"), "-c", "pass"], env, args.repeats))
        playbook = work / "one-task.yml"
        playbook.write_text(yaml.safe_dump([{"name": "One task", "hosts": "localhost", "gather_facts": False,
                                             "tasks": [{"name": "Do nothing", "ansible.builtin.meta": "noop"}]}]))
        rows.append(bench("reference: ansible-playbook, one no-op task", [str(BIN / "ansible-playbook"), "-i",
                                                                       "localhost,", "-c", "local", str(playbook)],
                          dict(env, ANSIBLE_CONFIG=str(REPO / "ansible.cfg")), max(3, args.repeats // 3)))
        for with_smtp in (False, True):
            label = "10 HTTPS + 1 PostgreSQL" + (" + 1 SMTP" if with_smtp else "")
            targets = 11 + with_smtp
            inv = work / ("inventory%s.yml" % ("-smtp" if with_smtp else ""))
            inv.write_text(yaml.safe_dump(inventory(state, with_smtp), sort_keys=False, width=1000))
            report_dir = work / ("reports%s" % ("-smtp" if with_smtp else ""))
            argv = [str(BIN / "upkeep"), "probe", "-q", "-i", str(inv), "--report-dir", str(report_dir)]

            def check(proc, targets=targets):
                if proc.returncode not in (0, 1):
                    raise SystemExit("probe failed (exit %d): %s%s" % (proc.returncode, proc.stdout, proc.stderr))
            rows.append(bench("upkeep probe, plan read from the inventory (%s)" % label, argv + ["--refresh"], env,
                              args.repeats, check))
            rows.append(bench("upkeep probe, cached plan (%s)" % label, argv, env, args.repeats, check))
            db = sqlite3.connect(report_dir / "history.sqlite")
            per_run = db.execute("SELECT count(*), min(ok + warning), max(critical + unknown) FROM probe_runs").fetchone()
            samples = db.execute("SELECT count(*) FROM probe_samples").fetchone()[0]
            if per_run[1] != targets or per_run[2] != 0 or samples != per_run[0] * targets:
                raise SystemExit("a probe run did not evaluate every target: %s, %d samples" % (per_run, samples))
            checks[label] = {"runs": per_run[0], "samples": samples, "targets": targets}
    finally:
        manager.down(work, purge=True)
        shutil.rmtree(work, ignore_errors=True)
    import ansible
    result = {
        "benchmark": "probe", "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "ansible_core": ansible.__version__, "load_average": os.getloadavg()},
        "budget": {"cpu_s": BUDGET_CPU_S, "wall_s": BUDGET_WALL_S}, "rows": rows, "verified": checks,
    }
    out = REPO / "benchmarks" / "results" / "probe.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print("| run | CPU s (median / max) | wall s (median / max) |")
    print("|---|---:|---:|")
    for row in rows:
        print("| %s | %.2f / %.2f | %.2f / %.2f |" % (row["name"], row["cpu_s"]["median"], row["cpu_s"]["max"],
                                                   row["wall_s"]["median"], row["wall_s"]["max"]))
    print("\nwritten to %s" % out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
