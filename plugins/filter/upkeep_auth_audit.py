# -*- coding: utf-8 -*-
"""Filters of the upkeep_auth_audit role: read each distinct Supabase Auth database once per play
and hand its events to every host that uses it.

Several app hosts usually share one Supabase project: reading ``auth.audit_log_entries`` once per
host would scan the same table N times. ``upkeep_auth_audit_databases`` turns the fleet's
``upkeep_auth_audit_database`` items (``upkeep_fleet`` output) into one entry per distinct
database with the hosts using it; ``upkeep_auth_audit_handover`` picks a host's collect result
out of the looped, registered task, marking the first host of each database as the one that
reports the ``auth.audit_log`` check.
"""

from __future__ import annotations

import json

DOCUMENTATION = ""


def _label(database):
    """user@host:port/database of a connection dict: never the password, dsn or options."""
    where = database.get("host") or "(libpq default host)"
    if database.get("port"):
        where += ":%s" % database["port"]
    user = "%s@" % database["user"] if database.get("user") else ""
    name = "/%s" % database["database"] if database.get("database") else ""
    return "%s%s%s" % (user, where, name) if not database.get("dsn") else "%s (dsn)" % database.get("name", "database")


def upkeep_auth_audit_databases(items):
    """[{"database": dict, "hosts": [...], "label": str}] for the distinct databases of ``items``
    (dicts tagged with ``inventory_host``), in the order their first host comes in the play."""
    distinct = {}
    for item in items or []:
        database = {key: value for key, value in item.items() if key != "inventory_host"}
        key = json.dumps(database, sort_keys=True, default=str)
        entry = distinct.setdefault(key, {"database": database, "hosts": [], "label": _label(database)})
        if item.get("inventory_host") not in entry["hosts"]:
            entry["hosts"].append(item.get("inventory_host"))
    return list(distinct.values())


def upkeep_auth_audit_handover(registered, host):
    """The ``collected`` option for ``host`` from the looped collect task's registered result, or
    None when no database of the play is the host's. A collect that failed (bad options) becomes a
    source record with the reason, so the host's ``auth.audit_log`` says why (the task itself is
    no_log: its message would not reach the report)."""
    for result in (registered or {}).get("results") or []:
        entry = result.get("item") or {}
        hosts = entry.get("hosts") or []
        if host not in hosts:
            continue
        if result.get("failed") or not isinstance(result.get("collected"), dict):
            reason = str(result.get("msg") or "the collect task did not run")[:300]
            collected = {"sources": [{"name": (entry.get("database") or {}).get("name") or "supabase-auth",
                                      "kind": "database", "target": entry.get("label"), "status": "unknown",
                                      "reason": "not collected: %s" % reason}], "events": []}
        else:
            collected = dict(result["collected"])
        return dict(collected, report_sources=hosts[0] == host, shared_by=hosts if len(hosts) > 1 else [])
    return None


class FilterModule(object):
    def filters(self):
        return {"upkeep_auth_audit_databases": upkeep_auth_audit_databases,
                "upkeep_auth_audit_handover": upkeep_auth_audit_handover}
