"""tls.certificate over SMTP STARTTLS (the sandbox smtpd) and PostgreSQL SSL (a real cluster with
ssl=on), both serving certificates from the test CA."""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile

import pytest

from ansible.module_utils.upkeep import tls
from upkeep.sandbox import pki
from upkeep.sandbox.pgcluster import PgCluster


def test_smtp_starttls_certificate(smtp_server):
    checks = tls.run_tls_checks({"endpoints": [{"host": "127.0.0.1", "port": smtp_server.port, "kind": "smtp_starttls",
                                                "server_name": "localhost", "ca_file": smtp_server.ca_file}]})
    by_id = {item["id"]: item for item in checks}
    assert set(by_id) == {"tls.certificate", "tls.protocols"}
    assert by_id["tls.certificate"]["status"] == "ok", by_id["tls.certificate"]
    assert by_id["tls.protocols"]["protocols"]["TLSv1.2"] == "accepted"


def test_smtp_without_starttls_is_critical(smtp_server_plain):
    [result] = tls.run_tls_checks({"endpoints": [{"host": "127.0.0.1", "port": smtp_server_plain.port,
                                                  "kind": "smtp_starttls", "timeout_s": 5}]})
    assert result["status"] == "critical" and "STARTTLS" in result["summary"]


@pytest.fixture(scope="module")
def pg_ssl(test_ca):
    """A PostgreSQL cluster with ssl=on and a near-expiry certificate from test_ca (files the
    postgres user can read: under mkdtemp, not pytest's 0700 tmp_path)."""
    base = tempfile.mkdtemp(prefix="upkeep-pgssl-")
    certs = pki.issue_cert(test_ca, os.path.join(base, "certs"), "pg", days=90, not_before_days_ago=85)
    user = pwd.getpwnam("postgres")
    os.chmod(base, 0o755)
    os.chmod(certs.cert.parent, 0o755)
    for path in (certs.cert, certs.key):
        os.chown(path, user.pw_uid, user.pw_gid)
    cluster = PgCluster(os.path.join(base, "cluster"))
    cluster.init("su-pw-ssl-1", settings={"ssl": "on", "ssl_cert_file": str(certs.cert), "ssl_key_file": str(certs.key)})
    cluster.start()
    yield cluster
    cluster.destroy()
    shutil.rmtree(base, ignore_errors=True)


def test_postgres_ssl_near_expiry(pg_ssl, test_ca):
    checks = tls.run_tls_checks({"endpoints": [{"host": pg_ssl.host, "port": pg_ssl.port, "kind": "postgres",
                                                "server_name": "localhost", "ca_file": str(test_ca.cert)}]})
    cert = checks[0]
    assert cert["id"] == "tls.certificate" and cert["status"] == "critical", cert
    assert "expires in" in cert["findings"][0]["title"] and cert["metrics"]["days_left_days"] < 6
    assert "NOT trusted" not in cert["summary"]
