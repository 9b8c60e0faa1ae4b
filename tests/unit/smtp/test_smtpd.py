"""The sandbox SMTP server as a process: python -m upkeep.sandbox.smtpd."""

from __future__ import annotations

import re
import signal
import smtplib
import ssl
import subprocess
import sys

import pytest

PASSWORD = "smtpd-cli-pw-0b7e"


@pytest.fixture
def smtpd_process(server_cert, tmp_path):
    password_file = tmp_path / "smtp-password"
    password_file.write_text(PASSWORD + "\n")
    password_file.chmod(0o600)
    argv = [sys.executable, "-m", "upkeep.sandbox.smtpd", "--bind", "127.0.0.1", "--port", "0",
            "--cert", str(server_cert.cert), "--key", str(server_cert.key), "--user", "cli",
            "--password-file", str(password_file), "--require-starttls"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    match = re.match(r"upkeep smtpd listening on 127\.0\.0\.1:(\d+)", line)
    assert match, (line, proc.stderr.read() if proc.poll() is not None else "")
    yield proc, int(match.group(1)), argv
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)


def test_serves_starttls_and_auth_then_exits_cleanly_on_sigterm(smtpd_process, test_ca):
    proc, port, argv = smtpd_process
    assert PASSWORD not in " ".join(argv)
    with smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
        client.ehlo("test")
        assert client.has_extn("starttls") and not client.has_extn("auth")  # AUTH only after STARTTLS
        code, _ = client.mail("a@example.com")
        assert code == 530  # --require-starttls
        client.starttls(context=ssl.create_default_context(cafile=str(test_ca.cert)))
        client.ehlo("test")
        assert client.login("cli", PASSWORD)[0] == 235
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    with pytest.raises(OSError):
        smtplib.SMTP("127.0.0.1", port, timeout=2)


def test_password_file_is_required_with_user(server_cert):
    out = subprocess.run([sys.executable, "-m", "upkeep.sandbox.smtpd", "--user", "cli"], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 2 and "--user and --password-file go together" in out.stderr
