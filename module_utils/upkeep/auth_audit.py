# -*- coding: utf-8 -*-
"""upkeep_auth_audit's logic: failed and suspicious logins in a host's auth logs and, given a
database, in Supabase Auth's ``auth.audit_log_entries`` (auth_audit_db).

Reads sshd lines from syslog-style auth logs (auth.log, secure, journal exports), application
auth events from JSON logs and the audit table's login rows over the last ``window_days``, merges
them into one event stream (each event keeps its source's name, and the evidence says which
source saw what), and returns in the check contract:
- ``auth.failed_logins``: failures, successes, invalid users, failures per IP and per user;
- ``auth.brute_force``: IPs with N failures within T seconds (fail2ban's rule) or failures for
  many different users (credential stuffing), with the evidence;
- ``auth.compromise``: a successful login from an IP right after a burst of failures from it
  (critical: the guess may have worked).
- ``auth.audit_log``: whether the audit table was read (unknown with the reason otherwise; the
  log sources still report);
- ``auth.new_sources``: with a GeoIP database only, countries/networks of successful logins not
  seen in earlier runs (auth_audit_geo).
IPs and networks of the allowlist are counted but never flagged.

``mode: collect`` reads the sources and returns the events (``collected``) instead of judging:
the role reads the database on the controller that way and hands the events to the host's run
(``collected`` input), so the detectors still see every source together.

Standard library only: shipped to managed hosts (psycopg only when a database is configured).
"""

from __future__ import annotations

import bisect
import ipaddress
import time

from .auth_audit_db import FAIL, INVALID, SUCCESS, read_events, source_check
from .auth_audit_geo import new_sources_check
from .auth_audit_logs import AUTH_FORMATS, PROBE_METHODS, collect_events, sshd_events, source_spec, unread_reason
from .logs_window import window_from
from .result import CRITICAL, OK, UNKNOWN, WARNING, ParameterError, Stopwatch, check, finding, judge, thresholds

__all__ = ["audit", "sshd_events", "source_spec"]

def parse_allowlist(items):
    networks = []
    for index, item in enumerate(items or []):
        try:
            networks.append(ipaddress.ip_network(str(item).strip(), strict=False))
        except ValueError:
            raise ParameterError("allowlist[%d]: %r is not an IP address or network" % (index, item))
    return networks


def allowlisted(ip, networks):
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in network for network in networks)


def _collected(params):
    """(source records, events, report the sources?) handed over by a ``mode: collect`` run, validated.

    The role hands one database's collect result to every host that uses the database, with
    ``report_sources`` true for the first of them only: the events are judged on every host, the
    ``auth.audit_log`` check (one table read) is reported once. ``shared_by`` names the hosts."""
    collected = params.get("collected")
    if not collected:
        return [], [], True
    if not isinstance(collected, dict) or not isinstance(collected.get("events", []), list):
        raise ParameterError("collected: must be the 'collected' result of a mode=collect run")
    events = []
    for index, event in enumerate(collected.get("events") or []):
        # The messages never echo the event: it holds a login's e-mail address and IP.
        try:
            # A collect run hands over [epoch, kind, ip, user, source] (the table does not say the
            # method) and its own logs' events with [method, invalid_user] after them.
            ts, kind, ip, user, source, method, invalid = list(event) + [None, False] if len(event) == 5 else event
            events.append((float(ts), str(kind), str(ip), str(user), str(source),
                           None if method is None else str(method), bool(invalid)))
        except (TypeError, ValueError):
            raise ParameterError("collected.events[%d]: must be [epoch, kind, ip, user, source] (optionally with "
                                 "method and invalid_user after them), got a %s%s"
                                 % (index, type(event).__name__,
                                    " of %d items" % len(event) if isinstance(event, (list, tuple)) else ""))
        if kind not in (FAIL, SUCCESS, INVALID):
            raise ParameterError("collected.events[%d]: unknown kind (must be one of %s)"
                                 % (index, ", ".join((FAIL, SUCCESS, INVALID))))
    shared_by = [str(host) for host in collected.get("shared_by") or []]
    sources = [dict(s, shared_by=shared_by) if shared_by else s for s in collected.get("sources") or []
               if isinstance(s, dict)]
    return sources, events, collected.get("report_sources", True) is not False


def _validate(params):
    sources = params.get("sources") or []
    for index, source in enumerate(sources):
        if source.get("format") not in AUTH_FORMATS:
            raise ParameterError("sources[%d].format: must be one of %s, got %r"
                                 % (index, ", ".join(AUTH_FORMATS), source.get("format")))
        if not source.get("paths"):
            raise ParameterError("sources[%d].paths: at least one glob pattern is needed" % index)
    for name in ("brute_force_window_s",):
        if not params.get(name, 1) > 0:
            raise ParameterError("%s: must be greater than 0, got %r" % (name, params.get(name)))
    for name in ("brute_force_failures", "stuffing_users", "burst_failures"):
        if params.get(name, 1) < 1:
            raise ParameterError("%s: must be at least 1, got %r" % (name, params.get(name)))
    return sources


def _max_in_window(times, span):
    """The most timestamps (sorted) inside any interval of ``span`` seconds, and where it starts."""
    best, start_at, left = 0, None, 0
    for right, stamp in enumerate(times):
        while stamp - times[left] > span:
            left += 1
        if right - left + 1 > best:
            best, start_at = right - left + 1, times[left]
    return best, start_at


def analyse(events, params, networks):
    """Per-IP evidence: failures, users tried, brute force, stuffing, success after a burst."""
    span = float(params.get("brute_force_window_s", 600))
    per_ip = {}
    for ts, kind, ip, user, source, method, _invalid in events:
        item = per_ip.setdefault(ip, {"ip": ip, "failures": [], "users": set(), "successes": [], "invalid_users": set(),
                                      "sources": set(), "failures_by_source": {}})
        item["sources"].add(source)
        if kind == FAIL and method not in PROBE_METHODS:
            item["failures"].append(ts)
            item["users"].add(user)
            item["failures_by_source"][source] = item["failures_by_source"].get(source, 0) + 1
        elif kind == INVALID:
            item["invalid_users"].add(user)
        else:
            item["successes"].append((ts, user, source))
    suspicious = []
    for ip, item in per_ip.items():
        if allowlisted(ip, networks) or not item["failures"]:
            continue
        burst, burst_start = _max_in_window(item["failures"], span)
        reasons = []
        if burst >= params.get("brute_force_failures", 10):
            reasons.append("brute_force")
        if len(item["users"]) >= params.get("stuffing_users", 5):
            reasons.append("credential_stuffing")
        compromised = []
        for ts, user, source in item["successes"]:
            before = bisect.bisect_left(item["failures"], ts) - bisect.bisect_left(item["failures"], ts - span)
            if before >= params.get("burst_failures", 5):
                compromised.append({"user": user, "at": int(ts), "failures_before": before, "source": source})
        if compromised:
            reasons.append("success_after_failures")
        if reasons:
            suspicious.append({
                "ip": ip, "reasons": reasons, "failures": len(item["failures"]), "max_failures_in_window": burst,
                "burst_started_at": int(burst_start) if burst_start else None, "users_tried": len(item["users"]),
                "users_sample": sorted(item["users"])[:10], "successes_after_failures": compromised[:5],
                "first_failure_at": int(item["failures"][0]), "last_failure_at": int(item["failures"][-1]),
                "sources": sorted(item["sources"]), "failures_by_source": item["failures_by_source"]})
    suspicious.sort(key=lambda s: ("success_after_failures" not in s["reasons"], -s["failures"], s["ip"]))
    return per_ip, suspicious


def _stamp(epoch):
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(epoch)) if epoch else "?"


def audit(params, now=None, check_mode=False):
    """Run the audit for ``params`` (the module's options); returns (checks, extra result keys)."""
    sources = _validate(params)
    networks = parse_allowlist(params.get("allowlist"))
    window = window_from(params, now)
    db_sources, db_events, report_handed_over = _collected(params)
    reported = list(db_sources) if report_handed_over else []
    with Stopwatch() as watch:
        events, files, reads = collect_events(sources, window)
        if params.get("database"):
            # The baseline too, so "this day against the day before" covers the table as well.
            record, rows = read_events(params["database"], window.baseline_start, window.end)
            db_sources.append(record)
            reported.append(record)
            db_events.extend(tuple(row) + (None, False) for row in rows)
    if params.get("mode") == "collect":
        return [], {"collected": {"sources": db_sources, "events": [list(e) for e in events + db_events]}}
    merged = [e for e in events + db_events if window.bound is None or e[0] <= window.bound]
    current = sorted((e for e in merged if e[0] >= window.start), key=lambda event: event[0])
    baseline = [e for e in merged if window.baseline_start <= e[0] < window.start]
    names = [s["name"] for s in sources] + [s.get("name", "database") for s in db_sources]
    target = ", ".join(names) or "auth logs"
    checks, extra = _judge(current, baseline, files, reads, db_sources, params, networks, window, target, watch)
    checks.extend(source_check(source, window.days) for source in reported)
    geo = new_sources_check(current, params, lambda ip: allowlisted(ip, networks), window.end, check_mode)
    if geo is not None:
        checks.append(geo)
    return checks, dict(extra, window=window.as_dict())


def _unread(reads, window):
    """{log source name: why it says nothing about the window}. A database that was not read is
    not here: its own auth.audit_log check is unknown with the reason."""
    unread = {}
    for read in reads:
        reason = unread_reason(read, window)
        if reason:
            unread[read["name"]] = reason
    return unread


def _access_patterns(events, networks):
    """Accepted sshd logins grouped by user, source address and method: who gets in, from where,
    how. Only sources that name the method (sshd): the app's and Supabase's logins are customers'
    e-mail addresses, which the audit never prints (they are counted per source instead)."""
    patterns = {}
    for ts, kind, ip, user, source, method, _invalid in events:
        if kind != SUCCESS or not method:
            continue
        item = patterns.setdefault((user, ip, method or "-", source), {
            "user": user, "ip": ip, "method": method or "-", "source": source, "logins": 0,
            "first_at": _stamp(ts), "last_at": _stamp(ts), "allowlisted": allowlisted(ip, networks)})
        item["logins"] += 1
        item["last_at"] = _stamp(ts)
    return sorted(patterns.values(), key=lambda p: (-p["logins"], p["user"], p["ip"]))


def _failure_metrics(events):
    """Failures by method, probes, and failures for names sshd knows vs does not."""
    by_method, probes, invalid, existing = {}, 0, 0, 0
    for event in events:
        if event[1] != FAIL:
            continue
        method = event[5]
        if method in PROBE_METHODS:
            probes += 1
            continue
        if method:
            by_method[method] = by_method.get(method, 0) + 1
        if event[6]:
            invalid += 1
        elif method:  # only sshd says whether the name exists
            existing += 1
    metrics = {"method_probes": probes, "failed_invalid_users": invalid, "failed_existing_users": existing}
    for method, count in by_method.items():
        metrics["failed_%s" % method.replace("-", "_").replace("/", "_")] = count
    return metrics, by_method


def _judge(events, baseline, files, reads, db_sources, params, networks, window, target, watch):
    """auth.failed_logins, auth.brute_force and auth.compromise over the merged events."""
    unread = _unread(reads, window)
    file_list = [f.as_dict() for f in files[:20]] + [item for read in reads for item in read["skipped"]][:20]
    if not any(s.get("status") == OK for s in db_sources) and all(read["name"] in unread for read in reads):
        reason = "; ".join("%s: %s" % item for item in sorted(unread.items())) or "no auth log sources configured"
        if db_sources:
            reason += " and the audit table was not read"
        checks = [check(cid, target, UNKNOWN, reason, duration_ms=watch.ms, files=file_list, unread=unread)
                  for cid in ("auth.failed_logins", "auth.brute_force", "auth.compromise")]
        return checks, {"suspicious_ips": []}
    not_read = "; not read in the window: %s" % "; ".join("%s (%s)" % item for item in sorted(unread.items())) \
        if unread else ""
    per_ip, suspicious = analyse(events, params, networks)
    failures = [e for e in events if e[1] == FAIL and e[5] not in PROBE_METHODS]
    baseline_failures = sum(1 for e in baseline if e[1] == FAIL and e[5] not in PROBE_METHODS)
    users, ips = {}, {}
    for event in failures:
        users[event[3]] = users.get(event[3], 0) + 1
        ips[event[2]] = ips.get(event[2], 0) + 1
    invalid = sorted({e[3] for e in events if e[1] == INVALID})
    by_source = {}
    for event in events:
        counts = by_source.setdefault(event[4], {FAIL: 0, SUCCESS: 0, INVALID: 0})
        counts[event[1]] += 1
    allowed_failures = sum(n for ip, n in ips.items() if allowlisted(ip, networks))
    top_ips = [{"ip": ip, "failures": n, "users": len(per_ip[ip]["users"]), "allowlisted": allowlisted(ip, networks)}
               for ip, n in sorted(ips.items(), key=lambda kv: (-kv[1], kv[0]))[:10]]
    top_users = [{"user": user, "failures": n} for user, n in sorted(users.items(), key=lambda kv: (-kv[1], kv[0]))[:10]]
    method_metrics, by_method = _failure_metrics(events)
    patterns = _access_patterns(events, networks)
    warn, crit = params.get("failed_logins_warning"), params.get("failed_logins_critical")
    status = judge(len(failures), warn, crit)
    findings = [finding(status, "%d failed logins" % len(failures), target,
                        "Top IPs: %s" % ", ".join("%s (%d)" % (i["ip"], i["failures"]) for i in top_ips[:5]),
                        "Restrict SSH to keys and known networks; rate-limit the app's login.")] if status != OK else []
    if unread and status == OK:
        status = UNKNOWN  # a count of zero says nothing about a source that was not read
    successes = sum(1 for e in events if e[1] == SUCCESS)
    metrics = {"failed_logins": len(failures), "successful_logins": successes,
               "invalid_user_attempts": sum(1 for e in events if e[1] == INVALID), "source_ips": len(ips),
               "users_tried": len(users), "allowlisted_failures": allowed_failures,
               "baseline_failed_logins": baseline_failures,
               "baseline_successful_logins": sum(1 for e in baseline if e[1] == SUCCESS)}
    metrics.update(method_metrics)
    checks = [check(
        "auth.failed_logins", target, status,
        "%d failed logins from %d IPs for %d users in %g days to %s (%d in the %g days before; %d invalid user "
        "names tried, %d method probes not counted)%s"
        % (len(failures), len(ips), len(users), window.days, _stamp(window.end), baseline_failures,
           window.baseline_days, len(invalid), method_metrics["method_probes"], not_read),
        metrics=metrics, thresholds={"failed_logins": thresholds(warn, crit)}, duration_ms=watch.ms,
        findings=findings, top_ips=top_ips, top_users=top_users, invalid_users=invalid[:20],
        failures_by_method=by_method, access_patterns=patterns[:50], events_by_source=by_source,
        files=file_list, unread=unread)]
    attackers = [s for s in suspicious if set(s["reasons"]) & {"brute_force", "credential_stuffing"}]
    findings = [finding(WARNING, "%s from %s" % (" and ".join(r.replace("_", " ") for r in s["reasons"]
                                                              if r != "success_after_failures"), s["ip"]), s["ip"],
                        "%d failures (%d within %gs from %s), %d users tried (%s), last at %s"
                        % (s["failures"], s["max_failures_in_window"], params.get("brute_force_window_s", 600),
                           _stamp(s["burst_started_at"]), s["users_tried"], ", ".join(s["users_sample"][:5]),
                           _stamp(s["last_failure_at"])),
                        "Block the address (firewall, fail2ban) and check that password logins are disabled.")
                for s in attackers[:20]]
    checks.append(check(
        "auth.brute_force", target, WARNING if attackers else UNKNOWN if unread else OK,
        "%d IPs brute-forcing or credential-stuffing" % len(attackers) if attackers else "no brute force or credential stuffing" + not_read,
        metrics={"brute_force_ips": sum(1 for s in attackers if "brute_force" in s["reasons"]),
                 "credential_stuffing_ips": sum(1 for s in attackers if "credential_stuffing" in s["reasons"])},
        thresholds={"brute_force": {"failures": params.get("brute_force_failures", 10),
                                    "window_s": params.get("brute_force_window_s", 600)},
                    "credential_stuffing": {"users": params.get("stuffing_users", 5)}},
        findings=findings, duration_ms=watch.ms))
    breached = [s for s in suspicious if "success_after_failures" in s["reasons"]]
    findings = [finding(CRITICAL, "Login succeeded from %s after a burst of failures" % s["ip"], s["ip"],
                        "; ".join("user %s at %s (%s) after %d failures" % (c["user"], _stamp(c["at"]), c["source"],
                                                                           c["failures_before"])
                                  for c in s["successes_after_failures"])
                        + "; failures seen by %s" % ", ".join("%s (%d)" % item
                                                              for item in sorted(s["failures_by_source"].items())),
                        "Treat as a possible compromise: check the session, rotate the user's credentials, "
                        "block the address.") for s in breached[:20]]
    checks.append(check(
        "auth.compromise", target, CRITICAL if breached else UNKNOWN if unread else OK,
        "%d IPs logged in right after a burst of failures" % len(breached) if breached
        else "no success after a burst of failures" + not_read,
        metrics={"success_after_failures_ips": len(breached)},
        thresholds={"burst_failures": {"failures": params.get("burst_failures", 5),
                                       "window_s": params.get("brute_force_window_s", 600)}},
        findings=findings, duration_ms=watch.ms))
    return checks, {"suspicious_ips": suspicious[:50]}
