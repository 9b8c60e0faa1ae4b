# -*- coding: utf-8 -*-
"""Disaster-recovery drill: the application recovery step (``dr.app_recovery``) and the drill
summary (``dr.drill``, with ``dr.monitoring`` and ``dr.communication``).

Standard library only: the application recovery runs on the app host. The objectives are the
guide's: database recovery < 1 h, application recovery < 30 min, RPO (database) < 1 h.

The summary is a pure function of the phase results the role registered, so it is tested
without Ansible; a phase that did not run (skipped, failed to evaluate, no result) is unknown,
never passed, and monitoring and communication stay "not configured" until alerting exists.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import ssl
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

from .backup import age_text
from .result import CRITICAL, OK, UNKNOWN, WARNING, ParameterError, check, finding, thresholds, worst

APP_CHECK_ID = "dr.app_recovery"
DRILL_CHECK_ID = "dr.drill"
# The guide's objectives; full system recovery (< 2 h) is database plus application recovery.
OBJECTIVES_MINUTES = {"db_recovery": 60.0, "app_recovery": 30.0, "rpo": 60.0, "full_recovery": 120.0}
MAX_BODY_BYTES = 256 * 1024


# -- application recovery -----------------------------------------------------------------------

def safe_url(url):
    """``url`` without userinfo, query or fragment: what a result may show."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = "[%s]" % host
    netloc = host + (":%d" % parts.port if parts.port else "")
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _ssl_context(ca_file, validate_certs):
    context = ssl.create_default_context(cafile=ca_file)
    if not validate_certs:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _json_field(document, dotted):
    value = document
    for part in dotted.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise KeyError(dotted)
    return value if isinstance(value, str) else json.dumps(value)


def probe_health(url, expected_status, json_field=None, json_value=None, ca_file=None, validate_certs=True,
                 timeout_s=10.0):
    """``(healthy, why)`` for one GET of the health URL; ``why`` never holds the URL's secrets."""
    headers = {"User-Agent": "upkeep-dr", "Accept": "application/json"}
    parts = urllib.parse.urlsplit(url)
    if parts.username is not None:
        # urllib sends no userinfo itself: turn it into the Basic credentials it stands for.
        pair = "%s:%s" % (urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or ""))
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        url = urllib.parse.urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, parts.query, ""))
    request = urllib.request.Request(url, headers=headers)
    context = _ssl_context(ca_file, validate_certs) if url.startswith("https") else None
    try:
        with urllib.request.urlopen(request, timeout=timeout_s, context=context) as response:
            status, body = response.status, response.read(MAX_BODY_BYTES)
    except urllib.error.HTTPError as exc:
        status, body = exc.code, b""
        exc.close()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, "no answer: %s" % (reason.__class__.__name__ if isinstance(reason, Exception) else reason)
    if status not in expected_status:
        return False, "HTTP %d (expected %s)" % (status, ", ".join(str(s) for s in expected_status))
    if json_field:
        try:
            found = _json_field(json.loads(body), json_field)
        except (ValueError, KeyError):
            return False, "HTTP %d but no JSON field %s" % (status, json_field)
        if found != json_value:
            return False, "HTTP %d but %s is %s, expected %s" % (status, json_field, found[:40], json_value)
    return True, "HTTP %d%s" % (status, " and %s == %s" % (json_field, json_value) if json_field else "")


def run_command(argv, timeout_s, cwd=None):
    """``(return code or None on timeout, elapsed ms)``; output is discarded, as it may hold secrets."""
    began = time.monotonic()
    try:
        proc = subprocess.run(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=timeout_s, check=False)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        code = None
    return code, (time.monotonic() - began) * 1000.0


def validate_recovery(params):
    command = params.get("command") or []
    if not command:
        raise ParameterError("command: required, an argv list such as ['systemctl', 'restart', 'app']")
    url = params.get("health_url") or ""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ParameterError("health_url: must be an http(s) URL, got %r" % safe_url(url) if url else
                             "health_url: required")
    for key in ("command_timeout_s", "health_deadline_s", "poll_interval_s", "request_timeout_s",
                "objective_minutes"):
        if params.get(key) is not None and params[key] <= 0:
            raise ParameterError("%s: must be above 0, got %r" % (key, params[key]))
    if bool(params.get("json_field")) != (params.get("json_value") is not None):
        raise ParameterError("json_field and json_value: give both or neither")
    for status in params.get("expected_status") or []:
        if not 100 <= status <= 599:
            raise ParameterError("expected_status: %r is not an HTTP status" % status)


def app_recovery(params, check_mode=False, clock=time.monotonic, sleep=time.sleep):
    """Run the recovery command, then poll the health URL until healthy: one ``dr.app_recovery`` check.

    Time to healthy counts from the command's start (the application's RTO as a user sees it)."""
    validate_recovery(params)
    command = list(params["command"])
    url = params["health_url"]
    target = params.get("name") or safe_url(url)
    objective_ms = float(params.get("objective_minutes") or OBJECTIVES_MINUTES["app_recovery"]) * 60000.0
    program = os.path.basename(command[0])

    def result(status, summary, metrics=None, findings=None, measured_ms=None, ran=True, duration_ms=None):
        evidence = [summary] if ran else []
        return check(APP_CHECK_ID, target, status, summary, metrics=metrics, findings=findings,
                     thresholds={"time_to_healthy_ms": thresholds(critical=objective_ms)}, duration_ms=duration_ms,
                     command=program, ran=ran,
                     dr=dr_block("app_recovery", measured_ms, objective_ms, status, evidence))

    if check_mode:
        return result(UNKNOWN, "check mode: recovery command %s not run, application recovery time not measured"
                      % program, ran=False)
    began = clock()
    timeout_s = params.get("command_timeout_s") or 600
    code, command_ms = run_command(command, timeout_s, params.get("chdir"))
    metrics = {"command_ms": round(command_ms, 1), "objective_ms": objective_ms}
    if code != 0:
        why = "timed out after %g s" % timeout_s if code is None else "exited with %d" % code
        return result(CRITICAL, "recovery command %s %s" % (program, why), metrics,
                      [finding(CRITICAL, "Recovery command failed", program, why,
                               "Run the recovery procedure by hand on the app host and fix the step that fails; "
                               "update the documented procedure.")], duration_ms=(clock() - began) * 1000.0)
    deadline = began + float(params.get("health_deadline_s") or objective_ms / 1000.0)
    polls = 0
    while True:
        polls += 1
        healthy, why = probe_health(url, params.get("expected_status") or [200], params.get("json_field"),
                                    params.get("json_value"), params.get("ca_file"),
                                    params.get("validate_certs", True), params.get("request_timeout_s") or 10.0)
        if healthy or clock() >= deadline:
            break
        sleep(min(params.get("poll_interval_s") or 2.0, max(0.0, deadline - clock())))
    elapsed_ms = (clock() - began) * 1000.0
    metrics["health_polls"] = polls
    if not healthy:
        return result(CRITICAL, "not healthy %.1f s after %s started (last answer: %s)" % (
            elapsed_ms / 1000.0, program, why), metrics,
            [finding(CRITICAL, "Application did not recover", safe_url(url), why,
                     "Check the application's logs after the recovery command; the application RTO is not met.")],
            duration_ms=elapsed_ms)
    metrics["time_to_healthy_ms"] = round(elapsed_ms, 1)
    findings = []
    status = OK
    if elapsed_ms >= objective_ms:
        status = CRITICAL
        findings.append(finding(CRITICAL, "Application recovery slower than its objective", safe_url(url),
                                "%.1f min (objective %.0f min)" % (elapsed_ms / 60000.0, objective_ms / 60000.0),
                                "Shorten the recovery procedure (warm standby, faster deploy)."))
    return result(status, "healthy %.1f s after %s started (%s; objective %.0f min)" % (
        elapsed_ms / 1000.0, program, why, objective_ms / 60000.0), metrics, findings, measured_ms=elapsed_ms,
        duration_ms=elapsed_ms)


# -- the drill summary --------------------------------------------------------------------------

def _checks(result, prefix):
    if not isinstance(result, dict) or result.get("skipped"):
        return []
    return [c for c in result.get("checks") or [] if isinstance(c, dict) and str(c.get("id", "")).startswith(prefix)]


def _first(mapping, names):
    for name in names:
        value = mapping.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def _parse_time(text):
    try:
        stamp = datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=datetime.timezone.utc)


# Where the restore and backup results carry the measurements (upkeep_restore_verify: metrics
# rto_ms = decrypt + restore, and ``restores[].backup.snapshot_time`` of the restored backup;
# upkeep_backup_check: backup.freshness with newest_at and newest_age_hours). The first found wins.
RESTORE_MS_METRICS = ("rto_ms",)
SNAPSHOT_KEYS = ("snapshot_time", "newest_at")


def _phase(name, objective_minutes, measured_ms, status, evidence, reason=""):
    entry = {"phase": name, "status": status, "objective_ms": objective_minutes * 60000.0,
             "measured_ms": None if measured_ms is None else round(measured_ms, 1), "evidence": evidence}
    if reason:
        entry["reason"] = reason
    return entry


def _judged(measured_ms, objective_minutes, upstream_status):
    if upstream_status == CRITICAL:
        return CRITICAL
    if measured_ms is None:
        return UNKNOWN
    return CRITICAL if measured_ms >= objective_minutes * 60000.0 else OK


def db_recovery_phase(restore_result, objective_minutes):
    found = _checks(restore_result, "restore.")
    if not found:
        why = restore_result.get("msg") if isinstance(restore_result, dict) else None
        return _phase("database_recovery", objective_minutes, None, UNKNOWN, [],
                      "restore did not run" + (": %s" % why if why else ""))
    item = found[0]
    metrics = item.get("metrics") or {}
    measured = _first(metrics, RESTORE_MS_METRICS)
    status = _judged(measured, objective_minutes, item.get("status"))
    return _phase("database_recovery", objective_minutes, measured, status,
                  ["%s %s: %s" % (item.get("id"), item.get("status"), item.get("summary", ""))],
                  "" if measured is not None else "the restore check reported no restore time")


def app_recovery_phase(app_result, objective_minutes):
    found = _checks(app_result, APP_CHECK_ID)
    if not found:
        return _phase("app_recovery", objective_minutes, None, UNKNOWN, [], "application recovery did not run")
    item = found[0]
    measured = _first(item.get("metrics") or {}, ("time_to_healthy_ms",))
    return _phase("app_recovery", objective_minutes, measured, _judged(measured, objective_minutes, item.get("status")),
                  ["%s %s: %s" % (APP_CHECK_ID, item.get("status"), item.get("summary", ""))],
                  "" if measured is not None else item.get("summary", ""))


def _snapshot_sources(backup_result, restore_result):
    """``(label, record)`` pairs that may hold the newest backup's snapshot time, best first."""
    if isinstance(restore_result, dict) and not restore_result.get("skipped"):
        for restored in restore_result.get("restores") or []:
            if isinstance(restored, dict) and isinstance(restored.get("backup"), dict):
                yield "restored backup %s" % os.path.basename(str(restored["backup"].get("dump_path") or "")), \
                    restored["backup"]
    for item in _checks(backup_result, "backup.freshness"):
        yield "%s %s" % (item["id"], item.get("target", "")), item


def rpo_phase(backup_result, restore_result, objective_minutes, now):
    """Data a disaster now would lose: the time since the newest backup's snapshot."""
    for label, record in _snapshot_sources(backup_result, restore_result):
        for key in SNAPSHOT_KEYS:
            stamp = _parse_time(record.get(key)) if record.get(key) else None
            if stamp is not None:
                measured = max(0.0, (now - stamp).total_seconds() * 1000.0)
                return _phase("rpo", objective_minutes, measured, _judged(measured, objective_minutes, OK),
                              ["newest backup's snapshot at %s (%s)" % (stamp.isoformat(timespec="seconds"), label)])
    for item in _checks(backup_result, "backup.freshness"):
        hours = _first(item.get("metrics") or {}, ("newest_age_hours",))
        if hours is not None:
            measured = hours * 3600000.0
            return _phase("rpo", objective_minutes, measured, _judged(measured, objective_minutes, OK),
                          ["newest backup %s old (%s %s)" % (age_text(hours), item["id"], item.get("target", ""))])
    return _phase("rpo", objective_minutes, None, UNKNOWN, [], "no backup snapshot time found")


PHASE_TITLES = {"database_recovery": "Database recovery", "app_recovery": "Application recovery",
                "rpo": "Recovery point (RPO)", "full_recovery": "Full system recovery",
                "monitoring": "Monitoring test", "communication": "Communication test"}


def dr_block(phase, measured_ms, objective_ms, status, evidence, configured=True):
    """The ``dr`` entry of a phase check, in the shape the report's DR section reads
    (src/upkeep/report/dr.py): seconds, pass/fail only when measured, never passed unconfigured."""
    measured_s = None if measured_ms is None else round(measured_ms / 1000.0, 3)
    passed = None
    if configured and measured_s is not None:
        passed = status == OK
    elif configured and status == CRITICAL:
        passed = False
    return {"phase": PHASE_TITLES.get(phase, phase), "measured_s": measured_s,
            "objective_s": None if objective_ms is None else round(objective_ms / 1000.0, 1),
            "passed": passed, "configured": configured, "evidence": list(evidence)}


def _minutes(ms):
    """A duration for people: seconds under a minute, minutes above."""
    if ms is None:
        return "not measured"
    return "%.1f s" % (ms / 1000.0) if ms < 60000.0 else "%.3g min" % (ms / 60000.0)


def phase_check(phase, target):
    """One ``dr.<phase>`` check from a phase entry."""
    name = phase["phase"]
    verdict = {OK: "passed", CRITICAL: "failed"}.get(phase["status"], "not measured")
    summary = "%s %s: %s (objective %s)" % (PHASE_TITLES[name], verdict, _minutes(phase["measured_ms"]),
                                           _minutes(phase["objective_ms"]))
    if phase.get("reason"):
        summary += "; " + phase["reason"]
    findings = []
    if phase["status"] == CRITICAL:
        findings.append(finding(CRITICAL, "%s failed its objective" % PHASE_TITLES[name], target,
                                "; ".join(phase["evidence"]), "Fix the phase and repeat the drill."))
    elif phase["status"] == UNKNOWN:
        findings.append(finding(WARNING, "%s not measured" % PHASE_TITLES[name], target, phase.get("reason", ""),
                                "Make the phase run (configuration, staging server, backups) and repeat the drill."))
    metrics = {"objective_ms": phase["objective_ms"]}
    if phase["measured_ms"] is not None:
        metrics["measured_ms"] = phase["measured_ms"]
    return check("dr." + name, target, phase["status"], summary, metrics=metrics,
                 thresholds={"measured_ms": thresholds(critical=phase["objective_ms"])}, findings=findings,
                 dr=dr_block(name, phase["measured_ms"], phase["objective_ms"], phase["status"], phase["evidence"]))


def not_configured_check(name, what, target):
    reason = "%s test not configured: no alerting integration yet" % what
    return check("dr." + name, target, UNKNOWN, reason,
                 findings=[finding(WARNING, "%s not configured" % PHASE_TITLES[name], target,
                                   "the drill cannot prove %s works until alerting exists" % what,
                                   "Configure alerting; the drill then sends a test alert through it.")],
                 dr=dr_block(name, None, None, UNKNOWN, [reason], configured=False))


def drill_summary(restore_result=None, app_result=None, backup_result=None, objectives=None, now=None,
                  target="dr-drill"):
    """The drill's checks: ``dr.database_recovery``, ``dr.rpo``, ``dr.drill`` (full system recovery,
    with every phase), ``dr.monitoring`` and ``dr.communication`` (not configured).

    ``dr.app_recovery`` comes from the application recovery module itself; here it is read back
    from ``app_result`` for the full recovery time. Inputs are registered module results (dicts
    with ``checks``), a skipped or failed task's result, or None. A phase without a measurement
    is unknown, so a drill that restored nothing never passes.
    """
    goals = dict(OBJECTIVES_MINUTES)
    for key, value in (objectives or {}).items():
        if key not in OBJECTIVES_MINUTES:
            raise ParameterError("objectives.%s: unknown objective; known: %s" % (key, ", ".join(OBJECTIVES_MINUTES)))
        if value is not None:
            if value <= 0:
                raise ParameterError("objectives.%s: must be above 0 minutes, got %r" % (key, value))
            goals[key] = float(value)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    database = db_recovery_phase(restore_result, goals["db_recovery"])
    app = app_recovery_phase(app_result, goals["app_recovery"])
    rpo = rpo_phase(backup_result, restore_result, goals["rpo"], now)
    measured = [p["measured_ms"] for p in (database, app)]
    full_ms = None if None in measured else sum(measured)
    statuses = [database["status"], app["status"], rpo["status"]]
    full_status = worst(statuses + [_judged(full_ms, goals["full_recovery"], OK)])
    phases = [database, app, rpo,
              {"phase": "monitoring", "status": UNKNOWN, "reason": "not configured"},
              {"phase": "communication", "status": UNKNOWN, "reason": "not configured"}]
    verdicts = ", ".join("%s %s" % (PHASE_TITLES[p["phase"]].lower(),
                                    {OK: "passed", CRITICAL: "failed"}.get(p["status"], "not measured"))
                         for p in phases[:3])
    summary = "full system recovery %s (objective %s); %s; monitoring and communication not configured" % (
        _minutes(full_ms), _minutes(goals["full_recovery"] * 60000.0), verdicts)
    metrics = {"%s_ms" % p["phase"]: p["measured_ms"] for p in phases[:3] if p["measured_ms"] is not None}
    if full_ms is not None:
        metrics["full_recovery_ms"] = round(full_ms, 1)
    limits = {"%s_ms" % p["phase"]: thresholds(critical=p["objective_ms"]) for p in phases[:3]}
    limits["full_recovery_ms"] = thresholds(critical=goals["full_recovery"] * 60000.0)
    findings = [finding(CRITICAL if p["status"] == CRITICAL else WARNING,
                        "%s %s" % (PHASE_TITLES[p["phase"]], "failed" if p["status"] == CRITICAL else "not measured"),
                        target, "; ".join(p["evidence"]) or p.get("reason", ""))
                for p in phases[:3] if p["status"] != OK]
    evidence = ["%s: %s" % (PHASE_TITLES[p["phase"]], _minutes(p["measured_ms"])) for p in phases[:3]]
    drill = check(DRILL_CHECK_ID, target, full_status, summary, metrics=metrics, thresholds=limits,
                  findings=findings, phases=phases,
                  dr=dr_block("full_recovery", full_ms, goals["full_recovery"] * 60000.0, full_status, evidence))
    return [phase_check(database, target), phase_check(rpo, target), drill,
            not_configured_check("monitoring", "monitoring", target),
            not_configured_check("communication", "communication", target)]
