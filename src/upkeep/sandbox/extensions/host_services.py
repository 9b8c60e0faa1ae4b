"""The sandbox host's key services for ``host.services`` (roles/upkeep_host_resources): the web
app and PostgreSQL that the sandbox runs, found as processes (no systemd unit is installed for
them), and a planted problem: the platform's Node app, configured but not running (critical).

Each is matched by a path that only this sandbox's process has on its command line, so two
sandboxes on one machine (parallel tests) never vouch for each other. No process is started.
"""

from __future__ import annotations

import os

from upkeep.sandbox import inventory

NAME = "host_services"


def host_vars(state: dict) -> dict:
    sandbox_dir = state["sandbox_dir"]
    web = state["components"]["webapp"]
    services = [
        {"name": "sandbox web app", "cmdline": web.get("access_log") or os.path.join(sandbox_dir, "logs", "access.log")},
        {"name": "postgresql", "process": "postgres", "cmdline": os.path.join(sandbox_dir, "pg", "data")},
        # Planted: the Node app is configured on the host but nothing runs it.
        {"name": "node app", "process": "node", "cmdline": os.path.join(sandbox_dir, "app", "server.js")},
    ]
    return {"upkeep_host_resources_services": services}


inventory.HOST_VARS[NAME] = host_vars
