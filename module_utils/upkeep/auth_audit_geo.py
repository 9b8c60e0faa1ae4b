# -*- coding: utf-8 -*-
"""upkeep_auth_audit's ``auth.new_sources``: countries and networks (ASN) that successful logins
came from, compared with those remembered from earlier runs.

Only with a local MaxMind-format database (``geoip_database``: GeoLite2/GeoIP2 Country or City
for countries, ASN for networks; read by .mmdb, standard library). Without one the audit claims
nothing about countries. The first run (no state yet) records a baseline and flags nothing: a
"new" country needs a past to be new against. The state file lives where the audit runs; check
mode reads it but writes nothing.

Whatever goes wrong in this part (a corrupt, hostile or wrong kind of database, a broken state
file) makes ``auth.new_sources`` unknown with the reason; it never takes the other auth checks
down with it.
"""

from __future__ import annotations

import json
import os
import time

from .auth_audit_db import SUCCESS
from .logs_state import write_json_atomic
from .mmdb import MmdbError, Reader, country_of, network_of
from .result import OK, UNKNOWN, WARNING, check, finding

STATE_SCHEMA = "upkeep.auth_audit_state/1"
MAX_STATE_ENTRIES = 2000
# Failed lookups after which a database is given up for this run: it is corrupt, and each failure
# may have cost a hostile record's whole decoding budget (mmdb.MAX_VALUES).
MAX_LOOKUP_ERRORS = 10


def database_kind(database_type):
    """"network" (ASN), "country" (Country, City, Enterprise) or None for the metadata's database_type.

    Other MaxMind types (ISP, Anonymous-IP, Connection-Type, Domain...) hold no country and are
    not ASN databases: treating them as either would claim countries or networks from fields
    they do not have."""
    name = (database_type or "").lower()
    if "asn" in name:
        return "network"
    if any(word in name for word in ("country", "city", "enterprise")):
        return "country"
    return None


def open_databases(paths):
    """[(kind, reader)] for the configured .mmdb files: kind "country" or "network" by database_type.
    MmdbError for a file that is unreadable or of another type."""
    readers = []
    for path in paths:
        reader = Reader(path)
        kind = database_kind(reader.database_type)
        if kind is None:
            raise MmdbError("%s is a %r database: neither Country/City nor ASN" % (path, reader.database_type))
        readers.append((kind, reader))
    return readers


def load_state(path):
    """(state, problem): the remembered countries/networks, or None on the first run."""
    if not path or not os.path.exists(path):
        return None, None
    try:
        with open(path, encoding="utf-8") as handle:
            state = json.load(handle)
    except (OSError, ValueError) as exc:
        return None, "state file %s unreadable (%s): starting a new baseline" % (path, exc)
    if not isinstance(state, dict) or state.get("schema") != STATE_SCHEMA:
        return None, "state file %s has another schema: starting a new baseline" % path
    return state, None


def _sources_of_logins(events, readers, allowed):
    """({(kind, value): evidence} of the successful logins' IPs (allowlisted IPs left out),
    [lookup errors])."""
    seen, failures = {}, []
    errors_of = {}
    for ts, kind, ip, user, source, *_rest in events:
        if kind != SUCCESS or allowed(ip):
            continue
        for what, reader in readers:
            if errors_of.get(id(reader), 0) >= MAX_LOOKUP_ERRORS:
                continue
            try:
                record = reader.get(ip)
            except ValueError:  # not an IP ("-"), or IPv6 against an IPv4-only database
                continue
            except MmdbError as exc:
                errors_of[id(reader)] = errors_of.get(id(reader), 0) + 1
                failures.append(str(exc) if errors_of[id(reader)] < MAX_LOOKUP_ERRORS else
                                "%s (given up after %d failed lookups)" % (exc, MAX_LOOKUP_ERRORS))
                continue
            value = country_of(record) if what == "country" else network_of(record)
            if not value:
                continue
            item = seen.setdefault((what, value), {"kind": what, "value": value, "logins": 0, "ips": set(),
                                                   "users": set(), "sources": set(), "first_at": ts, "last_at": ts})
            item["logins"] += 1
            item["ips"].add(ip)
            item["users"].add(user)
            item["sources"].add(source)
            item["first_at"], item["last_at"] = min(item["first_at"], ts), max(item["last_at"], ts)
    return seen, failures


def _stamp(epoch):
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(epoch))


def new_sources_check(events, params, allowed, now, check_mode=False):
    """The ``auth.new_sources`` check, or None when no GeoIP database is configured."""
    paths = params.get("geoip_database") or []
    if not paths:
        return None
    target = ", ".join(paths)
    try:
        readers = open_databases(paths)
    except MmdbError as exc:
        return check("auth.new_sources", target, UNKNOWN, "GeoIP database not usable: %s" % exc)
    try:
        return _judge_sources(events, params, allowed, now, check_mode, readers, target)
    except Exception as exc:  # a GeoIP fault must cost this check only, never the host's other auth checks
        return check("auth.new_sources", target, UNKNOWN, "GeoIP evaluation failed: %s: %s"
                     % (type(exc).__name__, str(exc)[:300]))


def _judge_sources(events, params, allowed, now, check_mode, readers, target):
    seen, errors = _sources_of_logins(events, readers, allowed)
    lookup_errors = len(errors)
    state_path = params.get("state_path")
    state, problem = load_state(state_path)
    known = {} if state is None else state.get("known", {})
    new = [] if state is None else [item for key, item in sorted(seen.items())
                                    if "%s:%s" % key not in known]
    findings = [finding(WARNING, "Logins from a new source %s: %s" % (item["kind"], item["value"]), item["value"],
                        "%d successful logins from %s for %s between %s and %s (sources: %s)"
                        % (item["logins"], ", ".join(sorted(item["ips"])[:5]), ", ".join(sorted(item["users"])[:5]),
                           _stamp(item["first_at"]), _stamp(item["last_at"]), ", ".join(sorted(item["sources"]))),
                        "Confirm with the users that these logins were theirs (travel, new office, VPN); "
                        "otherwise revoke their sessions and reset their credentials.",
                        ips=sorted(item["ips"])[:10], users=sorted(item["users"])[:10], sources=sorted(item["sources"]))
                for item in new[:20]]
    updated = dict(known)
    for (what, value), item in seen.items():
        entry = updated.get("%s:%s" % (what, value), {"first_seen": int(item["first_at"])})
        entry["last_seen"] = max(int(item["last_at"]), entry.get("last_seen", 0))
        updated["%s:%s" % (what, value)] = entry
    if len(updated) > MAX_STATE_ENTRIES:
        updated = dict(sorted(updated.items(), key=lambda kv: kv[1].get("last_seen", 0))[-MAX_STATE_ENTRIES:])
    notes = [problem] if problem else []
    if not state_path:
        notes.append("no state_path: nothing remembered, nothing compared")
    elif state is None and not problem:
        notes.append("first run: baseline of %d countries/networks recorded" % len(seen))
    if state_path and not check_mode:
        try:
            write_json_atomic(state_path, {"schema": STATE_SCHEMA, "updated_at": int(now), "known": updated})
        except OSError as exc:
            notes.append("state file %s not written: %s" % (state_path, exc.strerror or exc))
    elif state_path:
        notes.append("check mode: state file not written")
    countries = sorted(value for what, value in seen if what == "country")
    networks = sorted(value for what, value in seen if what == "network")
    summary = ("%d new source countries/networks of successful logins" % len(new) if new
               else "no new source country or network of successful logins")
    summary += " (%d countries, %d networks this window)" % (len(countries), len(networks))
    if errors:
        # A record that cannot be read may hide a new country: not "ok", and the reason is shown.
        summary += "; %d GeoIP lookups failed (first: %s)" % (lookup_errors, errors[0][:200])
        if any(error.endswith("failed lookups)") for error in errors):
            summary += "; a corrupt database was given up after %d failed lookups" % MAX_LOOKUP_ERRORS
    if notes:
        summary += "; " + "; ".join(notes)
    status = WARNING if new else UNKNOWN if errors else OK
    return check("auth.new_sources", target, status, summary,
                 metrics={"new_sources": len(new), "source_countries": len(countries),
                          "source_networks": len(networks), "geoip_lookup_errors": lookup_errors},
                 findings=findings, countries=countries[:50], networks=networks[:50],
                 new=[{"kind": item["kind"], "value": item["value"], "logins": item["logins"],
                       "ips": sorted(item["ips"])[:10], "sources": sorted(item["sources"])} for item in new[:20]])
