"""The sandbox's security extension: the npm project and OSV directory it writes audit as expected,
and PostgreSQL really serves TLS with the near-expiry certificate after enable_pg_tls."""

from __future__ import annotations

import shutil
import tempfile

import pytest

from ansible.module_utils.upkeep import npm, tls
from upkeep.sandbox import pki
from upkeep.sandbox.extensions import security
from upkeep.sandbox.pgcluster import PgCluster


def test_npm_project_audits_offline_with_the_shipped_advisories(tmp_path):
    project = security.write_npm_project(tmp_path / "project")
    osv_dir = security.write_osv_dir(tmp_path / "osv")
    [result] = npm.audit_projects({"path": str(project), "mode": "osv", "osv_dir": str(osv_dir)}, None)
    assert result["status"] == "critical"
    assert (result["metrics"]["vulnerabilities_high"], result["metrics"]["vulnerabilities_moderate"]) == (1, 1)
    assert result["metrics"]["dependencies_total"] == 10 and result["metrics"]["direct_count"] == 2


@pytest.fixture(scope="module")
def plain_cluster():
    base = tempfile.mkdtemp(prefix="upkeep-secext-")
    cluster = PgCluster(base + "/pg")
    cluster.init("su-pw-secext")
    cluster.start()
    yield cluster
    cluster.destroy()
    shutil.rmtree(base, ignore_errors=True)


def test_postgres_serves_the_near_expiry_certificate(plain_cluster, test_ca, tmp_path):
    cert = security.near_expiry_cert(test_ca, tmp_path)
    assert security.near_expiry_cert(test_ca, tmp_path).cert.read_bytes() == cert.cert.read_bytes()  # idempotent
    security.enable_pg_tls(plain_cluster, cert, plain_cluster.base_dir / "tls")
    [result] = tls.run_tls_checks({"endpoints": [{"host": plain_cluster.host, "port": plain_cluster.port,
                                                  "kind": "postgres", "server_name": "localhost",
                                                  "ca_file": str(test_ca.cert), "check_protocols": False}]})
    assert result["status"] == "warning", result
    assert 8 <= result["metrics"]["days_left_days"] <= 11


def test_host_vars_point_the_checks_at_the_sandbox():
    state = {"ca_file": "/sb/pki/ca.pem", "artifacts": {"security": {"npm_project": "/sb/npm", "osv_dir": "/sb/osv"}},
             "components": {"webapp": {"url": "https://127.0.0.1:8443", "host": "127.0.0.1", "port": 8443},
                            "smtp": {"host": "127.0.0.1", "port": 2587}, "postgres": {"host": "127.0.0.1", "port": 5433}}}
    made = security.host_vars(state)
    assert [item["kind"] for item in made["upkeep_tls_endpoints"]] == ["https", "smtp_starttls", "postgres"]
    assert made["upkeep_npm_projects"][0]["mode"] == "auto"
    assert made["upkeep_http_headers_pages"][0]["url"] == "https://127.0.0.1:8443/"
    assert security.host_vars({"artifacts": {}}) == {}
