# -*- coding: utf-8 -*-
"""Filters that turn per-host inventory variables into one fleet-wide list.

Controller-side checks (HTTP, SMTP, PostgreSQL, TLS) run once for the whole play: one module
call probes every host's targets concurrently instead of Ansible starting a process per host.
Each item keeps the inventory host it came from so the report files its check there.
"""

from __future__ import annotations

DOCUMENTATION = ""


def upkeep_fleet(hostvars, hosts, varname, keys=None):
    """Items of ``hostvars[h][varname]`` (a list) for every h in ``hosts``, each tagged with
    ``inventory_host: h``. Hosts without the variable contribute nothing.

    ``keys`` keeps only those keys of each item: one inventory list (``upkeep_postgres_databases``)
    feeds several modules, and an item may carry options meant for another of them, which this
    module's argument spec would reject as unsupported."""
    items = []
    for host in hosts:
        host_vars = hostvars[host]
        if varname not in host_vars:
            continue
        value = host_vars[varname]
        if value is None:
            continue
        if isinstance(value, dict):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise TypeError("%s on host %s must be a list of dicts, got %s" % (varname, host, type(value).__name__))
        for item in value:
            if not isinstance(item, dict):
                raise TypeError("each item of %s on host %s must be a dict, got %r" % (varname, host, item))
            tagged = dict(item) if keys is None else {key: value for key, value in item.items() if key in keys}
            tagged["inventory_host"] = host
            items.append(tagged)
    return items


class FilterModule(object):
    def filters(self):
        return {"upkeep_fleet": upkeep_fleet}
