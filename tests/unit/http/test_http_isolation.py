"""One bad endpoint costs only its own check: an item with bad options, or a response that blows
up the evaluation, becomes an ``unknown`` check filed under its own host while the rest of the
fleet is still probed (real servers on loopback)."""

from __future__ import annotations

import http.server
import json
import threading

import pytest

from ansible.module_utils.upkeep import http as upkeep_http
from ansible.module_utils.upkeep.result import ParameterError

# json.loads() of this raises RecursionError, which is no ValueError.
DEEP_JSON = b"[" * 200000


@pytest.fixture
def deep_json_server():
    """URL of a real HTTP server on loopback answering 200 with a JSON body nested 200,000 deep."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the name http.server calls)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(DEEP_JSON)))
            self.end_headers()
            self.wfile.write(DEEP_JSON)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d/api/health" % server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("broken, message", [
    ({"url": "ftp://x"}, "web1: upkeep_http_endpoints[1].url: must be an http(s) URL, got 'ftp://x'"),
    ({"latency_warning_ms": 900, "latency_critical_ms": 800},
     "web1: upkeep_http_endpoints[1] (broken).latency_warning_ms (900) must not exceed latency_critical_ms (800)"),
    ({"ca_file": "/nonexistent/ca.pem"}, "web1: upkeep_http_endpoints[1] (broken).ca_file: no such file"),
    ({"json_assertions": ["status = healthy"]},
     "web1: upkeep_http_endpoints[1] (broken).json_assertions[0]: cannot parse 'status = healthy'"),
    ({"url": "https://h:99999/"}, "web1: upkeep_http_endpoints[1].url: must be an http(s) URL"),
])
def test_a_bad_item_is_an_unknown_check_of_its_host_and_the_fleet_is_still_probed(http_app, broken, message):
    base = http_app.url
    endpoints = [
        {"url": base + "/api/health", "inventory_host": "web1", "check": "health"},
        dict({"url": base + "/api/health", "name": "broken", "check": "api", "inventory_host": "web1"}, **broken),
        {"url": base + "/api/health", "inventory_host": "web2", "check": "health"},
        {"url": base + "/", "inventory_host": "web2", "check": "page"},
    ]
    checks = upkeep_http.run_http_checks(endpoints, samples=1)
    assert [(item["host"], item["id"], item["status"]) for item in checks] == [
        ("web1", "http.health", "ok"), ("web1", "http.api", "unknown"),
        ("web2", "http.health", "ok"), ("web2", "http.page", "ok")]
    unknown = checks[1]
    assert unknown["summary"].startswith(message), unknown["summary"]
    assert unknown["target"] == "broken"


def test_items_without_a_host_are_named_by_their_index_in_the_list(http_app):
    checks = upkeep_http.run_http_checks(
        [{"url": http_app.url + "/api/health"}, {"url": http_app.url + "/", "samples": 0}], samples=1)
    assert [item["status"] for item in checks] == ["ok", "unknown"]
    assert checks[1]["summary"] == "endpoints[1] (http://127.0.0.1:%d/).samples: must be an integer >= 1, got 0" % http_app.port
    assert "host" not in checks[1]


def test_the_index_counts_within_the_hosts_own_list_not_the_merged_fleet():
    endpoints = [{"url": "https://h/", "inventory_host": "web1"}, {"url": "https://h/", "inventory_host": "web2"},
                 {"url": "https://h/", "inventory_host": "web1"}, {"url": "gopher://h/", "inventory_host": "web2"}]
    prepared = upkeep_http.prepare_each(endpoints)
    assert [item.get("status") for item in prepared] == [None, None, None, "unknown"]
    assert prepared[3]["summary"].startswith("web2: upkeep_http_endpoints[1].url:")
    assert prepared[3]["host"] == "web2" and prepared[3]["id"] == "http.endpoint"


@pytest.mark.parametrize("options, message", [
    ({"samples": 0}, "samples: must be an integer >= 1"),
    ({"concurrency": 0}, "concurrency: must be an integer >= 1"),
    ({"ca_file": "/nonexistent/ca.pem"}, "ca_file: no such file"),
])
def test_bad_top_level_options_fail_a_call_without_fleet_items(options, message):
    with pytest.raises(ParameterError) as caught:
        upkeep_http.run_http_checks([{"url": "https://h/"}], **options)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize("options, message", [
    ({"samples": 0}, "upkeep_http_samples: must be an integer >= 1, got 0"),
    ({"concurrency": 0}, "upkeep_http_concurrency: must be an integer >= 1, got 0"),
    ({"ca_file": "/nonexistent/ca.pem"}, "upkeep_http_ca_file: no such file"),
])
def test_a_bad_shared_setting_makes_every_fleet_endpoint_an_unknown_check_naming_the_variable(options, message):
    """One bad role variable (-e upkeep_http_samples=0) must not make the HTTP checks vanish:
    each endpoint is still in the report, under the id and target it would have had."""
    endpoints = [{"url": "https://web1/api/health", "check": "health", "inventory_host": "web1"},
                 {"url": "https://web1/", "name": "home", "inventory_host": "web1"},
                 {"url": "https://web2/api/health", "check": "health", "inventory_host": "web2"}]
    checks = upkeep_http.run_http_checks(endpoints, **options)
    assert [(c["id"], c["target"], c["host"], c["status"]) for c in checks] == [
        ("http.health", "https://web1/api/health", "web1", "unknown"), ("http.endpoint", "home", "web1", "unknown"),
        ("http.health", "https://web2/api/health", "web2", "unknown")]
    assert all(c["summary"].startswith(message) for c in checks), checks[0]["summary"]


def test_a_response_that_breaks_the_json_parser_is_unknown_for_that_endpoint_only(deep_json_server, http_app):
    checks = upkeep_http.run_http_checks([
        {"url": deep_json_server, "check": "health", "json_assertions": ["status exists"], "inventory_host": "web1"},
        {"url": http_app.url + "/api/health", "check": "health", "json_assertions": ['status == "healthy"'],
         "inventory_host": "web2"},
    ], samples=2)
    deep, healthy = checks
    assert (deep["host"], deep["id"], deep["status"]) == ("web1", "http.health", "unknown")
    assert "RecursionError" in deep["summary"]
    assert "Traceback" not in json.dumps(deep) and "File " not in json.dumps(deep)
    assert (healthy["host"], healthy["status"]) == ("web2", "ok")
    assert healthy["metrics"]["samples_count"] == 2
