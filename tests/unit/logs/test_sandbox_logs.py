"""The sandbox's generated host logs: deterministic, rotated like logrotate leaves them, and
registered with the sandbox's provisioners and inventory."""

from __future__ import annotations

import calendar
import gzip

from upkeep.sandbox import inventory, manager
from upkeep.sandbox.extensions import logs as sandbox_logs

NOW = calendar.timegm((2026, 11, 28, 12, 0, 0))


def _contents(directory):
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_generation_is_deterministic_and_rotated(tmp_path):
    sandbox_logs.generate(tmp_path / "a", now=NOW)
    sandbox_logs.generate(tmp_path / "b", now=NOW)
    first = _contents(tmp_path / "a")
    assert first == _contents(tmp_path / "b")
    nginx = sorted(name for name in first if name.startswith("nginx/"))
    assert {"nginx/access.log", "nginx/access.log.1", "nginx/access.log.2.gz", "nginx/access.log.13.gz"} <= set(nginx)
    assert gzip.decompress(first["nginx/access.log.2.gz"]).count(b"\n") > 100
    newest = (tmp_path / "a" / "nginx" / "access.log").stat().st_mtime
    oldest = (tmp_path / "a" / "nginx" / "access.log.13.gz").stat().st_mtime
    assert NOW - 86400 <= newest <= NOW and oldest < NOW - 12 * 86400
    auth = b"".join(gzip.decompress(data) if name.endswith(".gz") else data
                    for name, data in first.items() if name.startswith("auth.log"))
    assert b"Accepted password for deploy from %s" % sandbox_logs.BRUTE_FORCE_IP.encode() in auth

def test_provisioner_and_inventory_vars_are_registered(tmp_path):
    assert manager.PROVISIONERS[sandbox_logs.NAME] is sandbox_logs.provision
    layout = manager.Layout(tmp_path)
    state = {}
    sandbox_logs.provision(layout, state)
    variables = inventory.HOST_VARS[sandbox_logs.NAME](state)
    assert {source["name"] for source in variables["upkeep_logs_sources"]} == {"nginx-access", "app", "postgresql"}
    assert variables["upkeep_auth_audit_allowlist"] == [sandbox_logs.OFFICE_NETWORK]
    assert variables["upkeep_logs_state_path"].startswith(str(layout.dir))
    assert (layout.dir / "hostlogs" / "nginx" / "access.log").exists()
    assert inventory.HOST_VARS[sandbox_logs.NAME]({}) == {}
