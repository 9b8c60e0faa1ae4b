"""upkeep_tls_check and the upkeep_tls role through real ansible-playbook runs against loopback TLS servers."""

from __future__ import annotations

import sys

import pytest
from cryptography.hazmat.primitives import serialization

from tests.support.fixtures_tls import cert_maker, tls_server  # noqa: F401 (fixtures)
from tests.support.playbook import run_tasks
from tests.support.fixtures_tls_chain import IssuerServer, issued_leaf

pytestmark = pytest.mark.slow

TASK = "Check TLS"
ROLE_TASK = "Check the TLS endpoints of every host in the play"


def _local(**host_vars):
    return dict({"ansible_connection": "local", "ansible_python_interpreter": sys.executable}, **host_vars)


def test_role_checks_the_fleet_and_keeps_fingerprints(cert_maker, tls_server, tmp_path):
    good = tls_server(http_headers=[("Strict-Transport-Security", "max-age=31536000")], name="mod-good")
    expiring = tls_server(cert_maker.leaf(days=90, start_days_ago=86), name="mod-exp", http_headers=[])
    ca = str(cert_maker.directory / "root.pem")
    inventory = {"all": {"hosts": {
        "web1": _local(upkeep_tls_endpoints=[{"name": "site", "host": "127.0.0.1", "port": good.port,
                                              "server_name": "localhost", "ca_file": ca}]),
        "web2": _local(upkeep_tls_endpoints=[{"name": "old-site", "host": "127.0.0.1", "port": expiring.port,
                                              "server_name": "localhost", "ca_file": ca, "check_protocols": False}]),
        "db1": _local()}}}
    state = tmp_path / "state.json"
    playbook = tmp_path / "play.yml"
    playbook.write_text("- hosts: all\n  gather_facts: false\n  vars:\n    upkeep_tls_state_path: %s\n"
                        "  roles: [upkeep_tls]\n" % state)
    checked = run_tasks(None, inventory=inventory, playbook=playbook, check=True, tmp_path=tmp_path / "check")
    assert not state.exists()  # check mode records nothing
    run = run_tasks(None, inventory=inventory, playbook=playbook, tmp_path=tmp_path / "run")
    for result in (checked, run):
        [task] = [r for r in result.for_task(ROLE_TASK) if r.event == "runner_on_ok"]
        checks = task.res["checks"]
        assert task.res["changed"] is False
        summary = [(c["host"], c["id"], c["status"]) for c in checks]
        assert ("web1", "tls.certificate", "ok") in summary and ("web1", "tls.hsts", "ok") in summary
        assert ("web2", "tls.certificate", "critical") in summary and ("web2", "tls.hsts", "warning") in summary
        assert not any(c[0] == "db1" for c in summary)
    assert state.is_file()


def test_bad_parameters_fail_with_a_clear_message(tmp_path):
    task = {"name": TASK, "upkeep_tls_check": {"endpoints": [{"host": "127.0.0.1", "port": 70000}]}}
    result = run_tasks([task], tmp_path=tmp_path).one(TASK)
    assert result.failed and "endpoints[0].port" in result.res["msg"]
    assert "Traceback" not in str(result.res)


def test_untrusted_root_and_missing_intermediate_are_told_apart(cert_maker, tls_server, tmp_path):
    """Issue 9 item 17, without ca_file: a private CA's complete chain is an untrusted root; a server
    that sends only its certificate, whose caIssuers URL gives an intermediate, lacks that intermediate."""
    issuers = IssuerServer()
    try:
        root = cert_maker.ca("Example Trust Services Root R1")
        intermediate = cert_maker.ca("Example TLS Issuing ECC CA 2026", issuer=root)
        issuers.files["/issuing-2026.der"] = intermediate.cert.public_bytes(serialization.Encoding.DER)
        private = tls_server(name="mod-private")  # leaf + the private intermediate, as a private CA's server sends
        leaf_only = tls_server(issued_leaf(intermediate, issuers.url("/issuing-2026.der")), name="mod-leaf-only",
                               send_intermediate=False)
        task = {"name": TASK, "upkeep_tls_check": {"check_protocols": False, "check_hsts": False, "endpoints": [
            {"name": "intranet", "host": "127.0.0.1", "port": private.port, "server_name": "localhost"},
            {"name": "shop", "host": "127.0.0.1", "port": leaf_only.port, "server_name": "localhost"}]}}
        result = run_tasks([task], tmp_path=tmp_path).one(TASK)
    finally:
        issuers.close()
    assert not result.failed, result.res
    checks = {c["target"]: c for c in result.res["checks"]}
    assert {name: (c["status"], c["chain_problem"]) for name, c in checks.items()} == {
        "intranet": ("critical", "untrusted_root"), "shop": ("critical", "missing_intermediate")}
    assert checks["intranet"]["summary"].startswith("Untrusted root: the chain is complete but ends in CN=upkeep test root")
    assert checks["shop"]["summary"].startswith(
        "Incomplete chain: missing intermediate CN=Example TLS Issuing ECC CA 2026,O=upkeep tests")
