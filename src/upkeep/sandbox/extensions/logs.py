"""Sandbox log files: two weeks of real-looking host logs for upkeep_log_scan and upkeep_auth_audit.

Generated (seeded, so every ``up`` writes the same story relative to its own "now") under
``.sandbox/hostlogs/``:
- nginx/access.log, access.log.1, access.log.2.gz ... (daily rotation, combined format with the
  request time as last field): normal traffic, and in the latest week an afternoon with a burst
  of 5xx and slow API answers;
- app/app.log, app.log.1.gz (pino-style JSON lines): recurring errors in both weeks, one that
  spikes in the latest week, one that appears only in the latest week, and auth events;
- postgresql/postgresql.log (stderr, prefix '%m [%p] %q%u@%d ', log_error_verbosity = verbose);
- auth.log, auth.log.1 (sshd): scattered failures, a brute-force burst from one IP followed by a
  successful login from the same IP, and credential stuffing from another.
The web app's own live access log (.sandbox/logs/access.log) is left alone.
"""

from __future__ import annotations

import gzip
import json
import os
import pathlib
import random
import time
import uuid

from upkeep.sandbox import inventory, manager

NAME = "logs"
SEED = 20260505
DAYS = 14
REQUESTS_PER_DAY = 600
BRUTE_FORCE_IP = "203.0.113.45"
STUFFING_IP = "198.51.100.77"
OFFICE_NETWORK = "192.0.2.0/24"
NEW_ERROR = "WhatsAppTemplateError: template order_update rejected for lead %s (code 132001)"

_PAGES = ["/", "/products", "/products/%d", "/categories/%d", "/about", "/contact", "/testimonials"]
_API = ["/api/products", "/api/products/%d", "/api/availability/%d", "/api/leads", "/api/health", "/api/categories"]
_AGENTS = ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
           "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
           "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "curl/8.5.0"]


def _clf(ts: float) -> str:
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(ts))


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + ".%03dZ" % int((ts % 1) * 1000)


def _syslog(ts: float) -> str:
    # BSD syslog stamps are local time, as rsyslog writes them.
    return time.strftime("%b %e %H:%M:%S", time.localtime(ts))


def _burst(ts: float, now: float) -> bool:
    """The latest week's bad day: ten hours of 5xx and slow answers, two days ago."""
    start = now - 2 * 86400 - 10 * 3600
    return start <= ts < start + 10 * 3600


def _access_line(rng: random.Random, ts: float, now: float) -> str:
    api = rng.random() < 0.55
    path = rng.choice(_API if api else _PAGES)
    if "%d" in path:
        path = path % rng.randint(1, 400)
    method = "POST" if path == "/api/leads" else "GET"
    status = 200
    latency = rng.lognormvariate(-2.6 if api else -2.2, 0.6)  # seconds; median ~75 ms (API)
    if _burst(ts, now):
        if api and rng.random() < 0.45:
            status = rng.choice([500, 502, 503, 504])
        latency *= 15
    elif path == "/api/leads" and rng.random() < 0.05:
        status = 500
    elif rng.random() < 0.03:
        status = rng.choice([404, 404, 401, 400])
    size = 0 if status >= 500 else rng.randint(300, 48000)
    ip = "%d.%d.%d.%d" % (rng.randint(11, 223), rng.randint(0, 255), rng.randint(0, 255), rng.randint(1, 254))
    return '%s - - [%s] "%s %s HTTP/1.1" %d %d "-" "%s" %.3f' % (
        ip, _clf(ts), method, path, status, size, rng.choice(_AGENTS), latency)


def _app_lines(rng: random.Random, ts: float, now: float) -> list[dict]:
    current = ts >= now - 7 * 86400
    base = {"time": _iso(ts), "pid": 4242, "hostname": "app-1"}
    roll = rng.random()
    if roll < 0.01:
        return [dict(base, level=50, msg="TypeError: Cannot read properties of undefined (reading 'price') at "
                     "/app/.next/server/app/products/[id]/page.js:%d:17" % rng.randint(10, 90),
                     err={"type": "TypeError"})]
    if roll < 0.015:
        return [dict(base, level=50, msg="Database query timeout after %d ms on availability_updates" % rng.choice([5000, 5001]),
                     err={"type": "QueryTimeoutError"})]
    if roll < (0.03 if current else 0.02):  # spikes in the latest week
        return [dict(base, level=50, msg="SMTP send failed for %s: 421 4.7.0 Too many connections, try again later"
                     % rng.choice(["amal@example.com", "noor@example.org", "sales@example.net"]),
                     err={"type": "SMTPError"})]
    if current and roll < 0.037 and ts > now - 5 * 86400:
        return [dict(base, level=50, msg=NEW_ERROR % uuid.UUID(int=rng.getrandbits(128)),
                     err={"type": "WhatsAppTemplateError"})]
    if roll < 0.09:
        return [dict(base, level=40, msg="slow request", route="/api/products", duration_ms=rng.randint(800, 2500))]
    if roll < 0.12:
        ip = "%d.%d.%d.%d" % (rng.randint(11, 223), rng.randint(0, 255), rng.randint(0, 255), rng.randint(1, 254))
        return [dict(base, level=40, event="auth.login_failed", ip=ip, user="user%d@example.com" % rng.randint(1, 50))]
    if roll < 0.16:
        return [dict(base, level=30, event="auth.login_succeeded", ip="192.0.2.%d" % rng.randint(2, 60),
                     user="staff%d@almazahir.com" % rng.randint(1, 5))]
    return [dict(base, level=30, msg="request completed", route=rng.choice(["/api/products", "/api/leads"]),
                 status=200, duration_ms=rng.randint(20, 300))]


def _pg_lines(rng: random.Random, ts: float) -> list[str]:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts)) + ".%03d UTC" % rng.randint(0, 999)
    prefix = "%s [%d] app@platform " % (stamp, rng.randint(2000, 9000))
    roll = rng.random()
    if roll < 0.02:
        return [prefix + 'ERROR:  23505: duplicate key value violates unique constraint "leads_email_key"',
                prefix + "DETAIL:  Key (email)=(lead%d@example.com) already exists." % rng.randint(1, 999),
                prefix + "STATEMENT:  INSERT INTO leads (name, email) VALUES ($1, $2)"]
    if roll < 0.03:
        return [prefix + "ERROR:  57014: canceling statement due to statement timeout",
                prefix + "STATEMENT:  SELECT * FROM availability_updates WHERE product_id = %d" % rng.randint(1, 400)]
    if roll < 0.035:
        return [prefix + 'FATAL:  28P01: password authentication failed for user "app"']
    return [prefix + "LOG:  00000: duration: %.3f ms  statement: SELECT 1" % rng.uniform(0.1, 3)]


def _auth_lines(rng: random.Random, now: float) -> list[tuple[float, str]]:
    out = []
    host = "app-1 sshd[%d]: "
    for _ in range(60):  # background noise: bots guessing now and then
        ts = now - rng.uniform(0, DAYS * 86400)
        ip = "%d.%d.%d.%d" % (rng.randint(11, 223), rng.randint(0, 255), rng.randint(0, 255), rng.randint(1, 254))
        user = rng.choice(["root", "admin", "test", "oracle"])
        out.append((ts, host % rng.randint(1000, 60000) + "Failed password for %s%s from %s port %d ssh2"
                    % ("" if user == "root" else "invalid user ", user, ip, rng.randint(1024, 65000))))
    for day in range(DAYS):  # the deploy user from the office, with a key
        ts = now - day * 86400 - rng.uniform(3600, 30000)
        out.append((ts, host % rng.randint(1000, 60000) + "Accepted publickey for deploy from 192.0.2.10 port %d ssh2: "
                    "ED25519 SHA256:q1w2e3r4t5y6u7i8o9p0" % rng.randint(1024, 65000)))
    start = now - 3 * 86400 - 5 * 3600  # brute force, then a success from the same address
    for index in range(40):
        user = rng.choice(["root", "deploy", "admin", "ubuntu"])
        pid = rng.randint(1000, 60000)
        if user in ("admin", "ubuntu"):
            out.append((start + index * 6, host % pid + "Invalid user %s from %s port %d" % (user, BRUTE_FORCE_IP, 40000 + index)))
        out.append((start + index * 6 + 1, host % pid + "Failed password for %s%s from %s port %d ssh2" % (
            "invalid user " if user in ("admin", "ubuntu") else "", user, BRUTE_FORCE_IP, 40000 + index)))
    out.append((start + 250, host % 31337 + "Accepted password for deploy from %s port 41999 ssh2" % BRUTE_FORCE_IP))
    for index in range(12):  # credential stuffing: one try each for many names, slowly
        out.append((now - 86400 + index * 900, host % rng.randint(1000, 60000) +
                    "Failed password for invalid user %s from %s port %d ssh2" % (
                        ["info", "sales", "support", "office", "web", "backup", "git", "postgres", "www", "user",
                         "guest", "ftp"][index], STUFFING_IP, 50000 + index)))
    return sorted(out)


def _write_rotated(base: pathlib.Path, entries: list[tuple[float, str]], now: float, compress_from: int) -> None:
    """Split ``entries`` by day into base, base.1, base.2.gz ... with each file's mtime at its last line."""
    base.parent.mkdir(parents=True, exist_ok=True)
    for old in base.parent.glob(base.name + "*"):
        old.unlink()
    days: dict[int, list[tuple[float, str]]] = {}
    for ts, line in entries:
        days.setdefault(int((now - ts) // 86400), []).append((ts, line))
    for age, items in sorted(days.items()):
        path = base if age == 0 else base.with_name("%s.%d%s" % (base.name, age, ".gz" if age >= compress_from else ""))
        data = "".join(line + "\n" for _, line in items).encode()
        if path.suffix == ".gz":
            path.write_bytes(gzip.compress(data, mtime=0))
        else:
            path.write_bytes(data)
        os.utime(path, (items[-1][0], items[-1][0]))


def generate(directory: pathlib.Path, now: float | None = None, seed: int = SEED) -> dict:
    """Write the sandbox host logs under ``directory``; returns the paths and the planted facts."""
    now = time.time() if now is None else now
    rng = random.Random(seed)
    directory = pathlib.Path(directory)
    span = DAYS * 86400
    access = sorted((t, _access_line(rng, t, now)) for t in
                    (now - rng.uniform(0, span) for _ in range(DAYS * REQUESTS_PER_DAY)))
    _write_rotated(directory / "nginx" / "access.log", access, now, compress_from=2)
    app = []
    for ts in sorted(now - rng.uniform(0, span) for _ in range(DAYS * 300)):
        app.extend((ts, json.dumps(entry, separators=(",", ":"))) for entry in _app_lines(rng, ts, now))
    for index in range(15):  # app-level brute force from the same address as the sshd one
        app.append((now - 3 * 86400 - 4 * 3600 + index * 20, json.dumps(
            {"time": _iso(now - 3 * 86400 - 4 * 3600 + index * 20), "level": 40, "event": "auth.login_failed",
             "ip": BRUTE_FORCE_IP, "user": "admin@almazahir.com"}, separators=(",", ":"))))
    app.sort()
    _write_rotated(directory / "app" / "app.log", app, now, compress_from=1)
    pg = []
    for ts in sorted(now - rng.uniform(0, span) for _ in range(DAYS * 200)):
        pg.extend((ts, line) for line in _pg_lines(rng, ts))
    (directory / "postgresql").mkdir(parents=True, exist_ok=True)
    pg_path = directory / "postgresql" / "postgresql.log"
    pg_path.write_text("".join(line + "\n" for _, line in pg))
    _write_rotated(directory / "auth.log", [(ts, "%s %s" % (_syslog(ts), line)) for ts, line in _auth_lines(rng, now)],
                   now, compress_from=2)
    return {"dir": str(directory), "generated_at": int(now), "brute_force_ip": BRUTE_FORCE_IP,
            "stuffing_ip": STUFFING_IP, "office_network": OFFICE_NETWORK}


def log_sources(directory: str) -> dict:
    """Inventory variables for upkeep_logs and upkeep_auth_audit pointing at generated logs."""
    return {
        "upkeep_logs_sources": [
            {"name": "nginx-access", "format": "combined", "paths": [directory + "/nginx/access.log*"],
             "request_time_unit": "s", "latency_path_prefix": "/api/"},
            {"name": "app", "format": "json", "paths": [directory + "/app/app.log*"],
             "fields": {"timestamp": "time", "level": "level", "message": "msg", "error_type": "err.type"}},
            {"name": "postgresql", "format": "postgres", "paths": [directory + "/postgresql/postgresql*.log"]},
        ],
        "upkeep_auth_audit_sources": [
            {"name": "sshd", "format": "syslog", "paths": [directory + "/auth.log*"]},
            {"name": "app-auth", "format": "json", "paths": [directory + "/app/app.log*"],
             "failure_events": ["auth.login_failed"], "success_events": ["auth.login_succeeded"]},
        ],
        "upkeep_auth_audit_allowlist": [OFFICE_NETWORK],
    }


def provision(layout: "manager.Layout", state: dict) -> None:
    directory = layout.dir / "hostlogs"
    record = generate(directory)
    record["state_dir"] = str(layout.dir / "upkeep-state")
    state.setdefault("artifacts", {})[NAME] = record


def host_vars(state: dict) -> dict:
    record = state.get("artifacts", {}).get(NAME)
    if not record:
        return {}
    variables = log_sources(record["dir"])
    variables["upkeep_logs_state_path"] = record["state_dir"] + "/log-scan-state.json"
    variables["upkeep_logs_report_path"] = record["state_dir"] + "/log-scan-report.json"
    return variables


manager.PROVISIONERS[NAME] = provision
inventory.HOST_VARS[NAME] = host_vars
