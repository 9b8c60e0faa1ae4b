"""What later parts of upkeep add to the sandbox, one module per part, loaded by ``up``.

A module in this package registers, at import time, any of:

- ``manager.PROVISIONERS[name] = fn(layout, state)``: makes files or servers (logs, an npm
  project, backups); idempotent; records what it made under ``state["artifacts"][name]``;
- ``seed.planted(name)``-decorated functions: planted database problems, run after seeding;
- ``inventory.HOST_VARS[name] = fn(state) -> dict``: variables merged into the sandbox host's
  inventory entry (e.g. ``upkeep_log_sources``), read from what its provisioner recorded.

Dropping a module here is all it takes: no central list to edit.
"""

from __future__ import annotations

import importlib
import pkgutil

_loaded = False


def load() -> None:
    """Import every extension module once (they register themselves)."""
    global _loaded
    if _loaded:
        return
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        importlib.import_module("%s.%s" % (__name__, module.name))
    _loaded = True
