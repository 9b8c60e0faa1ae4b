"""Backup and restore verification against the floors, measured in the same run.

    .venv/bin/python benchmarks/backup_restore.py --scales 5,50

For each pgbench scale: a throwaway cluster (the machine's binaries) initialised with
``pgbench -i``; then, one after the other on the same database,

- ``pg_dump -Fc`` alone (the floor) vs ``upkeep_pg_backup``'s make_backup (pg_dump in an exported
  snapshot plus every table's count and checksum, schema fingerprint, sequences, manifest):
  the checksumming overhead is backup / pg_dump - 1;
- ``pg_restore -j J`` alone into a fresh database (the floor) vs upkeep's restore_and_verify
  (scratch database, same pg_restore, then the proof): the verification overhead is
  verify_ms / restore_ms, and the restore phase is compared with the floor;
- the verifier's peak RSS (ru_maxrss of the process running restore_and_verify, pg_restore being
  a child process), which must stay flat as tables grow since rows never reach Python.

Results go to benchmarks/results/backup_restore.json.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

import ansible.module_utils  # noqa: E402

ansible.module_utils.__path__.append(str(REPO / "module_utils"))

from upkeep.sandbox.pgcluster import PgCluster  # noqa: E402

PASSWORD = "bench-su-pw"
VERIFIER = r"""
import json, resource, sys
import ansible.module_utils
ansible.module_utils.__path__.append(sys.argv[1])
from ansible.module_utils.upkeep.restore import restore_and_verify
server = json.loads(sys.argv[2])
out = restore_and_verify(sys.argv[3], server, jobs=int(sys.argv[4]), record=False)
out["maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps(out))
"""


def timed(argv, env):
    began = time.perf_counter()
    subprocess.run(argv, env=dict(os.environ, **env), check=True, capture_output=True, timeout=3600)
    return (time.perf_counter() - began) * 1000.0


def bench_scale(scale, jobs, workdir, repeats):
    from ansible.module_utils.upkeep import backup

    cluster = PgCluster(pathlib.Path(tempfile.mkdtemp(prefix="upkeep-bench-pg-")))
    cluster.init(PASSWORD, settings={"maintenance_work_mem": "256MB", "max_wal_size": "4GB",
                                     "checkpoint_timeout": "30min"})
    cluster.start()
    try:
        env = {"PGHOST": cluster.host, "PGPORT": str(cluster.port), "PGUSER": "postgres", "PGPASSWORD": PASSWORD}
        bindir = str(cluster.bindir)
        subprocess.run([bindir + "/createdb", "bench"], env=dict(os.environ, **env), check=True)
        init_ms = timed([bindir + "/pgbench", "-i", "-q", "-s", str(scale), "bench"], env)
        with cluster.connect("bench") as conn:
            conn.execute("VACUUM ANALYZE")
            db_bytes = conn.execute("SELECT pg_database_size('bench')").fetchone()[0]
        out = pathlib.Path(workdir) / ("s%d" % scale)
        out.mkdir(parents=True, exist_ok=True)
        params = {"host": cluster.host, "port": cluster.port, "user": "postgres", "password": PASSWORD,
                  "database": "bench", "directory": str(out), "name": "bench", "pg_bindir": bindir,
                  "apply_retention": False}
        server = {"host": cluster.host, "port": cluster.port, "user": "postgres", "password": PASSWORD}
        # Interleaved repeats, medians: the machine is shared, so a pair measured back to back
        # sees the same load and the median drops the outliers.
        dumps, backups, restores, verifies = [], [], [], []
        for _ in range(repeats):
            dumps.append(timed([bindir + "/pg_dump", "-Fc", "-f", str(out / "floor.dump"), "bench"], env))
            began = time.perf_counter()
            result, details = backup.make_backup(params)
            backups.append((time.perf_counter() - began) * 1000.0)
            assert result["status"] == "ok", result
        for _ in range(repeats):
            subprocess.run([bindir + "/createdb", "floor_restore"], env=dict(os.environ, **env), check=True)
            restores.append(timed([bindir + "/pg_restore", "--no-owner", "-j", str(jobs), "-d", "floor_restore",
                                   str(out / "floor.dump")], env))
            subprocess.run([bindir + "/dropdb", "floor_restore"], env=dict(os.environ, **env), check=True)
            proc = subprocess.run([sys.executable, "-c", VERIFIER, str(REPO / "module_utils"), json.dumps(server),
                                   details["manifest_path"], str(jobs)], capture_output=True, text=True, check=True,
                                  env=dict(os.environ, PATH=bindir + ":" + os.environ["PATH"]))
            verifies.append(json.loads(proc.stdout))
            assert verifies[-1]["check"]["status"] in ("ok", "warning"), verifies[-1]["check"]
        floor_dump_ms, backup_ms = statistics.median(dumps), statistics.median(backups)
        floor_restore_ms = statistics.median(restores)
        restore_ms = statistics.median(v["restore_ms"] for v in verifies)
        verify_ms = statistics.median(v["verify_ms"] for v in verifies)
        overheads = [v["verify_ms"] / v["restore_ms"] * 100 for v in verifies]
        return {
            "scale": scale, "jobs": jobs, "repeats": repeats, "database_bytes": db_bytes,
            "pgbench_init_ms": round(init_ms), "dump_bytes": result["metrics"]["size_bytes"],
            "rows": result["metrics"]["rows"],
            "pg_dump_alone_ms": round(floor_dump_ms), "upkeep_backup_ms": round(backup_ms),
            "backup_overhead_pct": round((backup_ms / floor_dump_ms - 1) * 100, 1),
            # Each backup against the pg_dump run just before it (same load): the steadier figure.
            "backup_overhead_pairwise_median_pct": round(statistics.median(
                (b / d - 1) * 100 for d, b in zip(dumps, backups)), 1),
            "pg_dump_alone_runs_ms": [round(x) for x in dumps], "upkeep_backup_runs_ms": [round(x) for x in backups],
            "pg_restore_alone_ms": round(floor_restore_ms), "upkeep_restore_ms": round(restore_ms),
            "upkeep_verify_ms": round(verify_ms),
            "verify_overhead_pct": round(statistics.median(overheads), 1),
            "verify_overhead_vs_floor_pct": round(verify_ms / floor_restore_ms * 100, 1),
            "pg_restore_alone_runs_ms": [round(x) for x in restores],
            "verifier_maxrss_kb": max(v["maxrss_kb"] for v in verifies),
        }
    finally:
        cluster.destroy()
        shutil.rmtree(pathlib.Path(workdir) / ("s%d" % scale), ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="5,50")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", default=str(REPO / "benchmarks" / "results" / "backup_restore.json"))
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="upkeep-bench-")
    runs = []
    try:
        for scale in [int(s) for s in args.scales.split(",")]:
            runs.append(bench_scale(scale, args.jobs, workdir, args.repeats))
            print(json.dumps(runs[-1]), flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    record = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
              "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "runs": runs}
    pathlib.Path(args.output).write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
