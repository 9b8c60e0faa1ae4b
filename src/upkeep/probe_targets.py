"""What a probe run looks at: the inventory's ``upkeep_http_endpoints`` (those whose check is
``health`` or ``page`` by default), ``upkeep_postgres_databases`` and ``upkeep_smtp_servers``,
resolved once into a *plan* and cached, so a minute probe does not pay for Ansible.

Reading an inventory in-process (InventoryManager, VariableManager, templating) costs about
0.4 CPU-seconds, importing Ansible most of it: with httpx and psycopg that would be the whole
budget of a probe run (1 CPU-second). So the resolved plan is kept in
``REPORT_DIR/probe-plan.json`` with a fingerprint of the inventory's files (path, size, mtime of
the inventory and its group_vars/host_vars), and is resolved again only when one changes
(``upkeep probe --refresh`` forces it).

Secrets never go into that file. A secret option (a database's ``password`` or ``dsn``, an
endpoint's header values, a URL with credentials or a query) is cached as its *recipe* when the
inventory gives it as literal text around file or env lookups (``{{ lookup('file', '/etc/...') }}``,
as the sandbox does): the lookups are repeated at each run. Any other secret (a vault variable,
a literal password) cannot be cached: the plan says so, and each run resolves the inventory
in-process instead (correct, but slower; `upkeep probe --explain` names the option). A libpq
``passfile`` is not a secret and keeps the fast path.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pathlib
import re

PLAN_FILE = "probe-plan.json"
PLAN_SCHEMA = 1
PROBE_VAR = "upkeep_probe"
HTTP_VAR, PG_VAR, SMTP_VAR = "upkeep_http_endpoints", "upkeep_postgres_databases", "upkeep_smtp_servers"

# Per-host role variables a target inherits when it does not set the option itself (the role
# passes them to the modules as their top-level options). Sampling and time-outs are the probe's.
INHERITED = {
    HTTP_VAR: ("upkeep_http_", ("latency_warning_ms", "latency_critical_ms", "validate_certs", "ca_file",
                                "follow_redirects", "max_redirects")),
    PG_VAR: ("upkeep_postgres_", ("connect_warning_ms", "connect_critical_ms", "query_warning_ms",
                                  "query_critical_ms", "expected_role", "sslmode", "sslrootcert", "passfile")),
    SMTP_VAR: ("upkeep_smtp_", ("tls_mode", "validate_certs", "ca_file", "connect_warning_ms",
                                "connect_critical_ms", "total_warning_ms", "total_critical_ms")),
}
# The keys of a database item upkeep_pg_ping reads (another PostgreSQL module's options are dropped).
PG_KEYS = ("name", "dsn", "host", "port", "user", "password", "database", "sslmode", "sslrootcert",
           "connect_timeout_s", "passfile", "application_name", "connect_warning_ms", "connect_critical_ms",
           "query_warning_ms", "query_critical_ms", "expected_role")
SMTP_DROPPED = ("username", "password", "allow_plaintext_auth")  # the banner, STARTTLS and QUIT: no AUTH

DEFAULTS = {
    "http_checks": ["health", "page"],
    "endpoints": [],
    "postgres": True,
    "smtp": True,
    "samples": 1,
    "timeout_s": 5.0,
    "concurrency": 10,
    "retention": {"raw_days": 30, "hourly_days": 365},
}

_LOOKUP = re.compile(r"""\{\{\s*lookup\(\s*(['"])(?:ansible\.builtin\.)?(file|env)\1\s*,\s*(['"])([^'"]+)\3\s*\)\s*\}\}""")
_TEMPLATE = re.compile(r"\{\{|\{%|\{#")


class ProbeConfigError(ValueError):
    """A probe configuration that cannot be used; the message names the variable and value."""


@dataclasses.dataclass
class Plan:
    http: list[dict]
    postgres: list[dict]
    smtp: list[dict]
    options: dict
    cacheable: bool = True
    not_cacheable_because: str | None = None

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


# -- the upkeep_probe variable ---------------------------------------------------------------

def parse_options(value, where: str = PROBE_VAR) -> dict:
    """``upkeep_probe`` with defaults filled in; ProbeConfigError naming the bad key."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise ProbeConfigError("%s must be a mapping (%s), got %r" % (where, ", ".join(DEFAULTS), value))
    unknown = sorted(set(map(str, value)) - set(DEFAULTS))
    if unknown:
        raise ProbeConfigError("%s: unknown key(s) %s (known: %s)" % (where, ", ".join(unknown), ", ".join(DEFAULTS)))
    options = {key: value.get(key, default) for key, default in DEFAULTS.items()}
    for key in ("http_checks", "endpoints"):
        items = options[key]
        if not isinstance(items, list) or not all(isinstance(item, str) and item for item in items):
            raise ProbeConfigError("%s.%s: must be a list of names, got %r" % (where, key, items))
    for key in ("postgres", "smtp"):
        if not isinstance(options[key], bool):
            raise ProbeConfigError("%s.%s: must be true or false, got %r" % (where, key, options[key]))
    _integer(options, "samples", 1, 10, where)
    _integer(options, "concurrency", 1, 100, where)
    timeout = options["timeout_s"]
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 60:
        raise ProbeConfigError("%s.timeout_s: must be a number of seconds above 0 and at most 60, got %r"
                               % (where, timeout))
    options["timeout_s"] = float(timeout)
    retention = options["retention"]
    if not isinstance(retention, dict) or set(map(str, retention)) - {"raw_days", "hourly_days"}:
        raise ProbeConfigError("%s.retention: must be a mapping with raw_days and/or hourly_days, got %r"
                               % (where, retention))
    retention = dict(DEFAULTS["retention"], **retention)
    _integer(retention, "raw_days", 1, 3660, where + ".retention")
    _integer(retention, "hourly_days", 1, 36600, where + ".retention")
    if retention["hourly_days"] < retention["raw_days"]:
        raise ProbeConfigError("%s.retention.hourly_days (%d) must be at least raw_days (%d)"
                               % (where, retention["hourly_days"], retention["raw_days"]))
    options["retention"] = retention
    return options


def _integer(options: dict, key: str, low: int, high: int, where: str) -> None:
    value = options[key]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ProbeConfigError("%s.%s: must be an integer from %d to %d, got %r" % (where, key, low, high, value))


# -- resolving the inventory (the slow path) -------------------------------------------------

def resolve(inventory: pathlib.Path) -> Plan:
    """Read the inventory in-process with Ansible and build the probe plan."""
    from .cadences import repo_root
    # The project's ansible.cfg, as the cadences' runs use it (inventory plugins, vault password file).
    os.environ.setdefault("ANSIBLE_CONFIG", str(repo_root() / "ansible.cfg"))
    from .runner import check_inventory_parses
    check_inventory_parses(pathlib.Path(inventory), None)  # Ansible's own complaint, not "nothing to probe"
    from ansible import constants as C
    from ansible.cli import CLI
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.plugins.loader import init_plugin_loader
    from ansible.template import Templar
    from ansible.vars.manager import VariableManager

    init_plugin_loader()
    loader = DataLoader()
    if C.DEFAULT_VAULT_PASSWORD_FILE or C.DEFAULT_VAULT_IDENTITY_LIST:
        loader.set_vault_secrets(CLI.setup_vault_secrets(
            loader, vault_ids=list(C.DEFAULT_VAULT_IDENTITY_LIST or []),
            vault_password_files=[C.DEFAULT_VAULT_PASSWORD_FILE] if C.DEFAULT_VAULT_PASSWORD_FILE else [],
            ask_vault_pass=False, auto_prompt=False))
    manager = InventoryManager(loader=loader, sources=[str(inventory)])
    variables = VariableManager(loader=loader, inventory=manager)
    probe_values, raw_items = {}, {HTTP_VAR: [], PG_VAR: [], SMTP_VAR: []}
    for host in manager.get_hosts("all"):
        raw = variables.get_vars(host=host, include_hostvars=False)
        templar = Templar(loader=loader, variables=raw)

        def render(value, name):
            try:
                return _plain(templar.template(value))
            except Exception as exc:  # an undefined variable, a failed lookup: said with its name
                raise ProbeConfigError("host %s: %s cannot be templated: %s" % (host.name, name,
                                                                                str(exc).splitlines()[0]))
        if PROBE_VAR in raw:
            probe_values[host.name] = render(raw[PROBE_VAR], PROBE_VAR)
        for var, (prefix, keys) in INHERITED.items():
            if var not in raw:
                continue
            items = render(raw[var], var)
            if items is None:
                continue
            if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
                raise ProbeConfigError("host %s: %s must be a list of mappings, got %r" % (host.name, var, items))
            inherited = {key: render(raw[prefix + key], prefix + key) for key in keys if prefix + key in raw}
            raw_list = raw[var] if isinstance(raw[var], list) else [None] * len(items)
            for index, item in enumerate(items):
                raw_item = raw_list[index] if index < len(raw_list) and isinstance(raw_list[index], dict) else {}
                merged = dict(inherited, **{k: v for k, v in item.items() if v is not None})
                merged["inventory_host"] = host.name
                raw_items[var].append((merged, raw_item, "%s: %s[%d]" % (host.name, var, index)))
    values = list(probe_values.values())
    if any(value != values[0] for value in values[1:]):
        raise ProbeConfigError("hosts disagree on %s (%s): set it once, in group_vars/all"
                               % (PROBE_VAR, ", ".join(sorted(probe_values))))
    options = parse_options(values[0] if values else None)
    return _plan(options, raw_items)


def _plan(options: dict, raw_items: dict) -> Plan:
    plan = Plan([], [], [], options)
    reasons = []
    wanted = set(options["endpoints"])
    for item, raw, where in raw_items[HTTP_VAR]:
        if not (item.get("check") or "endpoint") in options["http_checks"] and item.get("name") not in wanted:
            continue
        item = {k: v for k, v in item.items() if k not in ("samples", "timeout_s")}
        _secure(item, raw, where, ["url"] if _url_has_secret(item.get("url")) else [], reasons)
        if isinstance(item.get("headers"), dict) and item["headers"]:
            raw_headers = raw.get("headers") if isinstance(raw.get("headers"), dict) else {}
            secured = {}
            for name, value in item["headers"].items():
                holder = {name: value}
                _secure(holder, {name: raw_headers.get(name)}, where + ".headers", [name], reasons)
                secured[name] = holder[name]
            item["headers"] = secured
        plan.http.append(item)
    if options["postgres"]:
        for item, raw, where in raw_items[PG_VAR]:
            item = {k: v for k, v in item.items() if k in PG_KEYS or k == "inventory_host"}
            _secure(item, raw, where, ["password", "dsn"], reasons)
            plan.postgres.append(item)
    if options["smtp"]:
        for item, raw, where in raw_items[SMTP_VAR]:
            plan.smtp.append({k: v for k, v in item.items() if k not in SMTP_DROPPED})
    if not (plan.http or plan.postgres or plan.smtp):
        raise ProbeConfigError("nothing to probe: no %s with a check in %s.http_checks (%s) or named in %s.endpoints, "
                               "and no %s or %s" % (HTTP_VAR, PROBE_VAR, ", ".join(options["http_checks"]),
                                                    PROBE_VAR, PG_VAR, SMTP_VAR))
    if reasons:
        plan.cacheable, plan.not_cacheable_because = False, "; ".join(reasons)
    return plan


def _url_has_secret(url) -> bool:
    from urllib.parse import urlsplit
    try:
        parts = urlsplit(str(url))
        return bool(parts.username or parts.password or parts.query)
    except ValueError:
        return False


def _secure(item: dict, raw: dict, where: str, keys: list[str], reasons: list[str]) -> None:
    """Replace each secret ``keys`` of ``item`` by its recipe (literal text and file/env lookups)
    taken from the raw inventory value; note why when it has none."""
    for key in keys:
        if item.get(key) in (None, ""):
            continue
        recipe = recipe_of(raw.get(key))
        if recipe is None:
            reasons.append("%s.%s is not a file or env lookup" % (where, key))
        else:
            item[key] = {"__secret__": recipe}


def recipe_of(raw) -> list | None:
    """``"Bearer {{ lookup('file', '/x') }}"`` -> ``["Bearer ", {"file": "/x"}]``; None for text
    that holds the secret itself or any other template."""
    if not isinstance(raw, str):
        return None
    parts, position = [], 0
    for match in _LOOKUP.finditer(raw):
        parts.append(raw[position:match.start()])
        kind, argument = match.group(2), match.group(4)
        if kind == "file" and not os.path.isabs(argument):
            return None
        parts.append({kind: argument})
        position = match.end()
    parts.append(raw[position:])
    literal = [part for part in parts if isinstance(part, str)]
    if len(literal) == len(parts) or any(_TEMPLATE.search(text) for text in literal):
        return None
    return [part for part in parts if part != ""]


def reveal(value):
    """A plan value with its secret recipes carried out (file lookups read and right-stripped,
    as Ansible's file lookup does)."""
    if isinstance(value, dict):
        if set(value) == {"__secret__"}:
            out = []
            for part in value["__secret__"]:
                if isinstance(part, str):
                    out.append(part)
                elif "file" in part:
                    with open(part["file"], encoding="utf-8") as handle:
                        out.append(handle.read().rstrip())
                else:
                    out.append(os.environ.get(part["env"], ""))
            return "".join(out)
        return {key: reveal(item) for key, item in value.items()}
    if isinstance(value, list):
        return [reveal(item) for item in value]
    return value


def _plain(value):
    # Ansible 2.19 hands back tagged str/dict/list subclasses: keep plain, JSON-safe values.
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)


# -- the cache (the fast path) ---------------------------------------------------------------

def fingerprint(inventory: pathlib.Path) -> str:
    """What the plan depends on: every file of the inventory and of the group_vars/host_vars
    beside it (path, size, modification time)."""
    inventory = pathlib.Path(inventory).resolve()
    roots = [inventory]
    base = inventory if inventory.is_dir() else inventory.parent
    roots += [base / "group_vars", base / "host_vars"]
    digest = hashlib.sha256(str(inventory).encode())
    for root in roots:
        files = sorted(root.rglob("*")) if root.is_dir() else [root] if root.exists() else []
        for path in files:
            try:
                info = path.stat()
            except OSError:
                continue
            digest.update(("%s %d %d\n" % (path, info.st_size, info.st_mtime_ns)).encode())
    return digest.hexdigest()


def load_plan(report_dir: pathlib.Path, inventory: pathlib.Path, refresh: bool = False) -> tuple[Plan, str]:
    """The plan for ``inventory``: from the cache when it is current, else resolved (and cached
    when it can be). Returns the plan and where it came from (``cache`` or ``inventory``)."""
    path = pathlib.Path(report_dir) / PLAN_FILE
    current = fingerprint(inventory)
    if not refresh:
        try:
            cached = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            cached = None
        if cached and cached.get("schema") == PLAN_SCHEMA and cached.get("fingerprint") == current \
                and cached["plan"].get("cacheable"):
            return Plan(**cached["plan"]), "cache"
    plan = resolve(inventory)
    document = {"schema": PLAN_SCHEMA, "fingerprint": current, "inventory": str(inventory),
                "plan": plan.to_json() if plan.cacheable else
                dict(Plan([], [], [], plan.options, False, plan.not_cacheable_because).to_json())}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".%d.tmp" % os.getpid())
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=1)
        os.replace(tmp, path)
    except OSError:
        pass  # no cache: the next run resolves again
    return plan, "inventory"
