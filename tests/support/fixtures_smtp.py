"""pytest fixtures: real SMTP servers on loopback (see upkeep.sandbox.smtpd).

- ``smtp_server``: STARTTLS with ``server_cert`` (signed by ``test_ca``) and AUTH PLAIN/LOGIN for
  ``SMTP_USER`` / ``SMTP_PASSWORD``, advertised only after STARTTLS.
- ``smtp_server_plain``: no TLS at all, yet AUTH offered in clear text: the unsafe server a
  client must refuse to send its password to.
- ``smtp_server_implicit``: TLS from the first byte (SMTPS) with AUTH.

Each yields an ``SmtpTarget``; ``.stats`` counts what the server really received (AUTH attempts,
messages), so a test can prove what a client did not send.
"""

from __future__ import annotations

import dataclasses

import pytest

from upkeep.sandbox import smtpd

SMTP_USER = "mailer@upkeep.test"
# Distinctive so a no_log test can search every output for it.
SMTP_PASSWORD = "smtp-pw-93d1c5aa70"


@dataclasses.dataclass
class SmtpTarget:
    host: str
    port: int
    user: str
    password: str
    ca_file: str
    handle: smtpd.SmtpServerHandle

    @property
    def stats(self) -> smtpd.Stats:
        return self.handle.stats

    def options(self, **overrides) -> dict:
        """upkeep_smtp_check options for this server, with the right credentials and CA."""
        values = {"host": self.host, "port": self.port, "username": self.user, "password": self.password,
                  "ca_file": self.ca_file}
        values.update(overrides)
        return values


def _serve(server_cert, test_ca, **kwargs):
    handle = smtpd.start_in_thread("127.0.0.1", 0, user=SMTP_USER, password=SMTP_PASSWORD, **kwargs)
    return SmtpTarget(handle.host, handle.port, SMTP_USER, SMTP_PASSWORD, str(test_ca.cert), handle)


@pytest.fixture
def smtp_server(server_cert, test_ca):
    target = _serve(server_cert, test_ca, cert=server_cert.cert, key=server_cert.key)
    yield target
    target.handle.stop()


@pytest.fixture
def smtp_server_plain(server_cert, test_ca):
    target = _serve(server_cert, test_ca, allow_plaintext_auth=True)
    yield target
    target.handle.stop()


@pytest.fixture
def smtp_server_implicit(server_cert, test_ca):
    target = _serve(server_cert, test_ca, cert=server_cert.cert, key=server_cert.key, implicit_tls=True)
    yield target
    target.handle.stop()
