# -*- coding: utf-8 -*-
"""Filters that turn per-host inventory variables into one fleet-wide list.

Controller-side checks (HTTP, SMTP, PostgreSQL, TLS) run once for the whole play: one module
call probes every host's targets concurrently instead of Ansible starting a process per host.
Each item keeps the inventory host it came from so the report files its check there.
"""

from __future__ import annotations

import functools
import importlib.util
import os

import ansible.module_utils

DOCUMENTATION = ""

_ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


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


@functools.lru_cache(maxsize=None)
def upkeep_module_item_keys(module, option):
    """The suboption names of list option ``option`` of the project's module ``module``, read from
    the module's own argument spec: what ``upkeep_fleet(..., keys)`` should keep for it. A hand
    list in the role would drift from the module and silently drop a new option."""
    # Controller-side plugins do not see ansible.cfg's module_utils path; the module imports it.
    module_utils = os.path.join(_ROOT, "module_utils")
    if module_utils not in ansible.module_utils.__path__:
        ansible.module_utils.__path__.append(module_utils)
    path = os.path.join(_ROOT, "library", "%s.py" % module)
    spec = importlib.util.spec_from_file_location("upkeep_item_keys_%s" % module, path)
    if spec is None or not os.path.isfile(path):
        raise ValueError("upkeep_module_item_keys: no module %s in %s" % (module, os.path.dirname(path)))
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    argument_spec = loaded.argument_spec()
    options = (argument_spec.get(option) or {}).get("options")
    if not options:
        raise ValueError("upkeep_module_item_keys: %s has no list option %r with suboptions" % (module, option))
    return sorted(options)


class FilterModule(object):
    def filters(self):
        return {"upkeep_fleet": upkeep_fleet, "upkeep_module_item_keys": upkeep_module_item_keys}
