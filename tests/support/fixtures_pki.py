"""pytest fixtures: a throwaway CA for every TLS server the tests start."""

from __future__ import annotations

import pytest

from upkeep.sandbox import pki


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory):
    """A CA (``.cert``, ``.key`` paths) for the whole test session."""
    return pki.make_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="session")
def server_cert(test_ca, tmp_path_factory):
    """A loopback server certificate (localhost, 127.0.0.1, ::1) signed by ``test_ca``."""
    return pki.issue_cert(test_ca, tmp_path_factory.mktemp("certs"), "server")
