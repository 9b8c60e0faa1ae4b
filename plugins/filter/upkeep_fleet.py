# -*- coding: utf-8 -*-
"""Filters that turn per-host inventory variables into one fleet-wide list, and check them.

Controller-side checks (HTTP, SMTP, PostgreSQL, TLS) run once for the whole play: one module
call probes every host's targets concurrently instead of Ansible starting a process per host.
Each item keeps the inventory host it came from so the report files its check there.

The same goes for checking the variables themselves. Ansible validates a role's
meta/argument_specs.yml with one inserted task per host and role (a worker process each: the
largest per-host cost of a cadence); ``upkeep_fleet_problems`` applies the same spec, with the
same validator, to every host of the play in one call, and ``upkeep_fleet(..., role=...)`` leaves
out what it rejects, so one host's bad item cannot fail the probe of the whole fleet.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import Mapping

import jinja2
import yaml

import ansible.module_utils
from ansible.errors import AnsibleError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import UnsupportedError

DOCUMENTATION = ""

_ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
_MODULE_UTILS = os.path.join(_ROOT, "module_utils")

# Constraints an option's own spec may carry for its suboptions (ArgumentSpecValidator's keywords).
_SUBSPEC_CONSTRAINTS = ("mutually_exclusive", "required_together", "required_one_of", "required_if", "required_by")


def _use_project_module_utils():
    # Controller-side plugins do not see ansible.cfg's module_utils path; the modules import it.
    if _MODULE_UTILS not in ansible.module_utils.__path__:
        ansible.module_utils.__path__.append(_MODULE_UTILS)


def upkeep_fleet(hostvars, hosts, varname, keys=None, role=None):
    """Items of ``hostvars[h][varname]`` (a list) for every h in ``hosts``, each tagged with
    ``inventory_host: h``. Hosts without the variable contribute nothing.

    ``keys`` keeps only those keys of each item: one inventory list (``upkeep_postgres_databases``)
    feeds several modules, and an item may carry options meant for another of them, which this
    module's argument spec would reject as unsupported.

    ``role`` leaves out what that role's argument spec rejects (an item, or a host's whole
    variable when it is not a list of dicts or cannot be templated), so one host's mistake
    cannot fail the module call of the whole fleet: ``upkeep_fleet_problems`` reports it."""
    if role:
        return _checked_fleet(hostvars, hosts, varname, keys, role)
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
            items.append(_tagged(item, keys, host))
    return items


def _checked_fleet(hostvars, hosts, varname, keys, role):
    item_spec = _item_spec(role, varname)
    items = []
    for host in hosts:
        host_vars = hostvars[host]
        if varname not in host_vars:
            continue
        value, _ = _rendered(host_vars, varname)
        if not isinstance(value, (list, tuple)):
            continue  # None (unset or not renderable) or not a list: reported by upkeep_fleet_problems
        for item in value:
            if isinstance(item, dict) and not (item_spec is not None and _errors(item_spec, item)):
                items.append(_tagged(item, keys, host))
    return items


def _tagged(item, keys, host):
    tagged = dict(item) if keys is None else {key: value for key, value in item.items() if key in keys}
    tagged["inventory_host"] = host
    return tagged


def upkeep_fleet_problems(hostvars, hosts, role, context_host=None, context=None):
    """What ``role``'s meta/argument_specs.yml rejects in the variables of the play's hosts, as
    unknown checks (``task.<role>``) filed under each host, one per variable or list item, e.g.
    ``web2: upkeep_http_endpoints[1]: argument 'samples' is of type str ...``.

    A host's own values are read from ``hostvars`` (inventory, extra vars). ``context`` holds the
    role's variables as ``context_host``'s tasks see them (role defaults, play and role vars
    included), that is the values the run-once module calls are given: they are checked in
    place of that host's own. Secrets (``no_log`` options) never appear in a message."""
    _use_project_module_utils()
    from ansible.module_utils.upkeep.result import unknown_check

    options = _role_options(role)
    problems = []
    for host in hosts:
        source = context if host == context_host and context is not None else hostvars[host]
        values, found = {}, []
        for name in options:
            if name in source:
                value, error = _rendered(source, name)
                if error:
                    found.append((name, error))
                else:
                    values[name] = value
        found.extend(_problems_in(role, options, values))
        for where, message in found:
            if message.startswith(where + ": "):
                message = message[len(where) + 2:]  # "host: name: name: must be ..." says the name once
            problems.append(unknown_check(
                "task.%s" % role, where, "%s: %s: %s" % (host, where, message), host=host,
                remediation="Fix %s in the inventory of %s (host_vars, group_vars) or the playbook's vars; "
                            "roles/%s/meta/argument_specs.yml documents it." % (where.split("[")[0], host, role)))
    return problems


def upkeep_role_options(role):
    """The variable names ``role``'s argument spec declares (its main entry point's options)."""
    return sorted(_role_options(role))


def _problems_in(role, options, values):
    """(where, message) for everything the spec rejects: a list-of-dicts variable item by item,
    so a message names the item a person has to fix; the other variables together."""
    problems = []
    plain = {}
    for name, value in values.items():
        item_spec = _item_spec(role, name)
        if item_spec is None or value is None:
            plain[name] = value
            continue
        if not isinstance(value, (list, tuple)):
            problems.append((name, "must be a list of dicts, got %s" % type(value).__name__))
            continue
        for index, item in enumerate(value):
            where = "%s[%d]" % (name, index)
            if not isinstance(item, dict):
                problems.append((where, "must be a dict, got %s" % type(item).__name__))
                continue
            messages = _errors(item_spec, item)
            if messages:
                problems.append((where, "; ".join(messages)))
    if plain:
        spec = {name: options[name] for name in plain}
        messages = _errors(_validator(role, tuple(sorted(spec))), plain)
        for message in messages:
            problems.append((_named_in(message, plain) or role, message))
    return problems


def _rendered(variables, name):
    """(the value of ``name`` as plain data, None), or (None, why) when it cannot be templated
    (an undefined variable in one host's inventory must not stop the others)."""
    try:
        return _plain(variables[name]), None
    except (AnsibleError, jinja2.UndefinedError, _NotRendered) as exc:
        return None, "cannot be templated: %s" % str(exc).splitlines()[0]


def _errors(validator, values):
    """The validator's messages for plain ``values``, with every no_log value masked."""
    _use_project_module_utils()
    from ansible.module_utils.upkeep.result import plain_type_message

    result = validator.validate(values, validate_role_argument_spec=True)
    secrets = sorted((str(v) for v in result._no_log_values if str(v)), key=len, reverse=True)
    messages = []
    for error in result.errors:
        message = plain_type_message(error.msg, values)
        if isinstance(error, UnsupportedError):
            message = "unsupported option " + message
        for secret in secrets:
            message = message.replace(secret, "********")
        messages.append(message)
    return messages


class _NotRendered(Exception):
    """A value whose template failed (Ansible defers the error in a marker value)."""


def _plain(value):
    """``value`` as plain dicts and lists. Variables arrive as Ansible's lazy containers, and the
    validator deep-copies its input: a lazy container's copy copies its templar with every
    variable of the play (about 20 ms an item at 100 hosts)."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, jinja2.Undefined):
        try:
            message = value._undefined_message
        except Exception:  # a marker may refuse attribute access; its type still says what it is
            message = type(value).__name__
        raise _NotRendered(message)
    return value


def _named_in(message, names):
    """The variable a message is about, for the check's target."""
    found = [name for name in names if name in message]
    return max(found, key=len) if found else None


@functools.lru_cache(maxsize=None)
def _role_options(role):
    path = os.path.join(_ROOT, "roles", role, "meta", "argument_specs.yml")
    try:
        with open(path, encoding="utf-8") as handle:
            specs = yaml.safe_load(handle) or {}
    except OSError as exc:
        raise ValueError("upkeep_fleet_problems: cannot read the argument spec of role %s: %s" % (role, exc))
    options = ((specs.get("argument_specs") or {}).get("main") or {}).get("options")
    if not isinstance(options, dict):
        raise ValueError("upkeep_fleet_problems: %s has no argument_specs.main.options" % path)
    return options


@functools.lru_cache(maxsize=None)
def _validator(role, names):
    options = _role_options(role)
    return ArgumentSpecValidator({name: options[name] for name in names})


@functools.lru_cache(maxsize=None)
def _item_spec(role, name):
    """A validator for one item of ``role``'s list-of-dicts option ``name`` with suboptions (None
    for other options: the role-wide validator checks them whole)."""
    spec = _role_options(role).get(name)
    if not isinstance(spec, dict) or spec.get("type") != "list" or spec.get("elements") != "dict" \
            or not spec.get("options"):
        return None
    constraints = {key: spec[key] for key in _SUBSPEC_CONSTRAINTS if spec.get(key)}
    return ArgumentSpecValidator(spec["options"], **constraints)


@functools.lru_cache(maxsize=None)
def upkeep_module_item_keys(module, option):
    """The suboption names of list option ``option`` of the project's module ``module``, read from
    the module's own argument spec: what ``upkeep_fleet(..., keys)`` should keep for it. A hand
    list in the role would drift from the module and silently drop a new option."""
    _use_project_module_utils()
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
        return {
            "upkeep_fleet": upkeep_fleet,
            "upkeep_fleet_problems": upkeep_fleet_problems,
            "upkeep_role_options": upkeep_role_options,
            "upkeep_module_item_keys": upkeep_module_item_keys,
        }
