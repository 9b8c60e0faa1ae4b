"""The embedded sandbox end to end: ``up`` brings real servers up on loopback, they answer as
the platform would, a second ``up`` changes nothing, and ``down`` leaves nothing running.

The sandbox lives under a temporary root, never the developer's own ``.sandbox``. The tests run
in file order and share one sandbox; the last one takes it down (the fixture's finalizer takes
it down too if a test failed first).
"""

from __future__ import annotations

import os
import pathlib
import shutil
import signal
import smtplib
import socket
import ssl
import stat
import tempfile
import time

import httpx
import psycopg
import pytest

from upkeep.sandbox import manager, seed

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sandbox():
    # Not under pytest's tmp dir: a concurrent pytest session resets /tmp/pytest-of-<user> to 0700,
    # which locks the postgres user (used when we are root) out of the sandbox's cluster.
    root = pathlib.Path(tempfile.mkdtemp(prefix="upkeep-e2e-sandbox-"))
    try:
        result = manager.up(root)
        yield root, result
    finally:
        manager.down(root, purge=True)
        shutil.rmtree(root, ignore_errors=True)


def _port_closed(port):
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _proc_state(pid):
    try:
        return pathlib.Path("/proc/%d/stat" % pid).read_text()
    except OSError:
        return "gone"


def _secret(root, name):
    return (root / ".sandbox" / "secrets" / name).read_text().strip()


def test_up_starts_every_component_and_status_shows_them(sandbox):
    root, result = sandbox
    assert result["action"] == "started"
    assert result["started"] == ["postgres", "smtp", "webapp"]
    print("sandbox up took %.2f s" % result["duration_s"])
    current = manager.status(root)
    assert current["running"] is True
    for name, component in current["components"].items():
        assert component["running"], name
        assert component["pid"] and component["port"], name
        assert component["host"] == "127.0.0.1", name
    assert current["inventory"] == str(root / ".sandbox" / "inventory.yml")
    lines = manager.status_lines(current)
    assert len([line for line in lines if line.startswith("  ") and " running " in line]) == 3


def test_state_layout_and_secret_permissions(sandbox):
    root, _ = sandbox
    secrets_dir = root / ".sandbox" / "secrets"
    assert stat.S_IMODE(secrets_dir.stat().st_mode) == 0o700
    for path in secrets_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for name in ("db_password", "smtp_password", "whatsapp_token"):
        value = _secret(root, name)
        for public in ("state.json", "inventory.yml"):
            assert value not in (root / ".sandbox" / public).read_text(), (name, public)


def test_https_app_answers_health_through_the_sandbox_ca(sandbox):
    root, _ = sandbox
    state = manager.status(root)
    url = state["components"]["webapp"]["url"]
    context = ssl.create_default_context(cafile=state["ca_file"])
    response = httpx.get(url + "/api/health", verify=context, timeout=5)
    assert response.status_code == 200
    assert response.json()["status"] == "healthy"
    assert response.json()["checks"]["database"] == "ok"
    token = _secret(root, "whatsapp_token")
    whatsapp = httpx.get(url + "/whatsapp/v17.0/1", headers={"Authorization": "Bearer " + token}, verify=context,
                         timeout=5)
    assert whatsapp.status_code == 200
    # Without the CA the certificate is not trusted: the sandbox does not ride on a system trust store.
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/api/health", timeout=5)


def test_database_holds_the_seeded_platform(sandbox):
    root, _ = sandbox
    pg = manager.status(root)["components"]["postgres"]
    dsn = "host=127.0.0.1 port=%d dbname=%s user=%s password=%s" % (
        pg["port"], seed.APP_DATABASE, seed.APP_ROLE, _secret(root, "db_password"))
    with psycopg.connect(dsn, connect_timeout=5) as conn:
        assert seed.table_counts(conn) == {"categories": 12, "users": 50, "products": 2000,
                                           "availability_updates": 50000, "leads": 5000, "testimonials": 200}
        newest = conn.execute("SELECT now() - max(created_at) FROM availability_updates").fetchone()[0]
        assert newest.days < 2  # seeded relative to today, so the data looks current


def test_smtp_offers_starttls_and_accepts_the_sandbox_credentials(sandbox):
    root, _ = sandbox
    state = manager.status(root)
    port = state["components"]["smtp"]["port"]
    with smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
        code, _ = client.ehlo("test")
        assert code == 250 and client.has_extn("starttls")
        client.starttls(context=ssl.create_default_context(cafile=state["ca_file"]))
        client.ehlo("test")
        assert client.login(manager.SMTP_USER, _secret(root, "smtp_password"))[0] == 235


def test_second_up_reports_the_running_sandbox(sandbox):
    root, first = sandbox
    before = manager.status(root)
    again = manager.up(root)
    assert again["action"] == "already_running"
    assert again["started"] == []
    for name, component in before["components"].items():
        assert again["components"][name]["pid"] == component["pid"], name
        assert again["components"][name]["port"] == component["port"], name


def test_after_a_crash_up_keeps_every_port_and_a_taken_one_is_said(sandbox):
    """A killed PostgreSQL (its clients' connections left in TIME_WAIT) comes back on its own port,
    so a copied inventory keeps working; a port something else took is moved and said."""
    root, _ = sandbox
    before = manager.status(root)["components"]
    with psycopg.connect(_secret(root, "db_dsn")) as conn:
        conn.execute("SELECT 1")  # a client connection, closed by the server's death
        postmaster = int((root / ".sandbox" / "pg" / "data" / "postmaster.pid").read_text().split()[0])
        os.kill(postmaster, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while manager.status(root)["components"]["postgres"]["running"]:
        assert time.monotonic() < deadline, "the killed postmaster still counts as running"
        time.sleep(0.2)
    again = manager.up(root)
    assert again["action"] == "started" and "postgres" in again["started"] and again["moved"] == []
    assert again["components"]["postgres"]["port"] == before["postgres"]["port"]
    assert "port: %d" % before["postgres"]["port"] in (root / ".sandbox" / "inventory.yml").read_text()

    manager.down(root)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", before["smtp"]["port"]))
        squatter.listen()
        moved = manager.up(root)
    assert [(m["component"], m["from"]) for m in moved["moved"]] == [("smtp", before["smtp"]["port"])]
    text = "\n".join(manager.status_lines(moved))
    assert "smtp moved from port %d" % before["smtp"]["port"] in text and "update any copy" in text


def test_down_leaves_nothing_running(sandbox):
    root, _ = sandbox
    before = manager.status(root)["components"]
    result = manager.down(root)
    assert sorted(result["stopped"]) == ["postgres", "smtp", "webapp"]
    after = manager.status(root)
    assert after["running"] is False
    for name, component in before.items():
        assert not after["components"][name]["running"], name
        # Exited (a zombie the init process has yet to reap counts as exited: it runs nothing).
        assert not manager.pid_alive(component["pid"]), (name, _proc_state(component["pid"]))
        assert _port_closed(component["port"]), name
    assert manager.down(root)["stopped"] == []  # safe when nothing runs


def test_failed_up_names_the_component_and_stops_what_it_started(sandbox):
    """A server key that does not load makes the SMTP server exit at start: ``up`` must say so,
    point at its log, and stop the PostgreSQL it had started, leaving nothing running."""
    root, _ = sandbox
    manager.down(root)
    key = root / ".sandbox" / "pki" / "server.key"
    good = key.read_bytes()
    key.write_text("not a key\n")
    try:
        with pytest.raises(manager.SandboxError) as failure:
            manager.up(root, timeout_s=20)
    finally:
        key.write_bytes(good)
    assert failure.value.component == "smtp"
    assert failure.value.log_file == str(root / ".sandbox" / "logs" / "smtp.log")
    assert "smtp" in str(failure.value) and "smtp.log" in str(failure.value)
    after = manager.status(root)
    assert not any(component["running"] for component in after["components"].values())
    assert manager.up(root)["running"] is True  # the repaired sandbox comes up again
