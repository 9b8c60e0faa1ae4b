"""The sandbox web app: routes, planted breakage, the database-backed health and its command line."""

from __future__ import annotations

import re
import signal
import socket
import ssl
import subprocess
import sys

import httpx
import pytest

from upkeep.sandbox import webapp

COMBINED = re.compile(r'^127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d \+0000\] "GET /api/health HTTP/1\.1" 200 \d+ "-" "[^"]+"$')


@pytest.fixture
def client(http_app):
    with httpx.Client(base_url=http_app.url, timeout=5) as session:
        yield session


def test_pages_link_and_show_images_some_of_them_broken(client):
    home, products = client.get("/"), client.get("/products")
    assert home.status_code == products.status_code == 200
    assert '<img src="/images/hero.jpg"' in home.text and '<img src="/images/missing-hero.jpg"' in home.text
    assert 'href="/old-catalogue"' in products.text and 'href="/products/rebar-16mm"' in products.text
    assert client.get("/old-catalogue").status_code == 404
    assert client.get("/images/missing-hero.jpg").status_code == 404
    assert client.get("/products/rebar-16mm").status_code == 200
    assert client.get("/products/no-such-thing").status_code == 404
    for path in ("/about", "/contact"):
        assert client.get(path).status_code == 200


def test_images_are_real_png_and_jpeg_bytes(client):
    png, jpeg = client.get("/images/logo.png"), client.get("/images/hero.jpg")
    assert png.headers["content-type"] == "image/png" and png.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert jpeg.headers["content-type"] == "image/jpeg"
    assert jpeg.content.startswith(b"\xff\xd8\xff\xe0") and jpeg.content.endswith(b"\xff\xd9")


def test_api_routes(client):
    assert client.get("/api/error").status_code == 500
    assert client.get("/email/status").json()["status"] == "operational"
    assert client.get("/api/products").json()["count"] > 0
    unauthorised = client.get("/whatsapp/v17.0/99")
    assert unauthorised.status_code == 401 and unauthorised.json()["error"]["code"] == 190


def test_health_reports_degraded_when_its_database_is_down():
    with socket.socket() as sock:  # a loopback port with no PostgreSQL behind it
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    handle = webapp.start_in_thread(db_dsn="host=127.0.0.1 port=%d dbname=app user=app connect_timeout=2" % port)
    try:
        response = httpx.get(handle.url + "/api/health", timeout=5)
    finally:
        handle.stop()
    assert response.status_code == 503
    assert response.json()["status"] == "degraded" and response.json()["checks"] == {"database": "error"}


def test_binds_loopback_only():
    with pytest.raises(ValueError, match="loopback"):
        webapp.start_in_thread("0.0.0.0", 0)


def test_command_line_serves_https_logs_and_stops_on_sigterm(server_cert, test_ca, tmp_path):
    token_file, access_log = tmp_path / "token", tmp_path / "access.log"
    token_file.write_text("cli-token\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "upkeep.sandbox.webapp", "--bind", "127.0.0.1", "--port", "0",
         "--cert", str(server_cert.cert), "--key", str(server_cert.key), "--token-file", str(token_file),
         "--slow-ms", "10", "--access-log", str(access_log)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        url = re.search(r"https://127\.0\.0\.1:\d+", line).group(0)
        with httpx.Client(verify=ssl.create_default_context(cafile=str(test_ca.cert)), timeout=5) as session:
            assert session.get(url + "/api/health").json()["status"] == "healthy"
            assert session.get(url + "/whatsapp/v17.0/7", headers={"Authorization": "Bearer cli-token"}).status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
    finally:
        process.kill()
        process.wait()
    lines = access_log.read_text().splitlines()
    assert COMBINED.match(lines[0]), lines
    assert "cli-token" not in access_log.read_text()
