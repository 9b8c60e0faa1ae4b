"""dr.app_recovery against the real sandbox web app over HTTPS (fixture https_app) and real commands."""

from __future__ import annotations

import contextlib
import re
import sys
import threading
import time

import pytest

from ansible.module_utils.upkeep.dr import app_recovery, safe_url
from ansible.module_utils.upkeep.result import ParameterError


@contextlib.contextmanager
def health(app, status):
    """Force the shared app's /api/health for one test, then give it back."""
    before = app.state.health_status
    app.state.health_status = status
    try:
        yield
    finally:
        app.state.health_status = before


def _params(app, **extra):
    params = {"command": ["true"], "health_url": app.url.rstrip("/") + "/api/health", "ca_file": app.ca_file,
              "json_field": "status", "json_value": "healthy", "poll_interval_s": 0.1, "health_deadline_s": 5,
              "request_timeout_s": 2, "command_timeout_s": 10}
    params.update(extra)
    return params


def test_healthy_app_recovers_within_the_objective(https_app):
    with health(https_app, "healthy"):
        result = app_recovery(_params(https_app))
    assert result["status"] == "ok", result["summary"]
    metrics = result["metrics"]
    assert metrics["health_polls"] == 1 and 0 < metrics["time_to_healthy_ms"] < 5000
    assert metrics["command_ms"] <= metrics["time_to_healthy_ms"]
    assert result["dr"]["passed"] is True and result["dr"]["objective_s"] == 1800
    assert result["ran"] is True and result["command"] == "true"


def test_time_to_healthy_counts_the_polls_until_the_app_answers_healthy(https_app):
    # The app turns healthy once it has answered a degraded poll and 0.6 s have passed. A timer
    # alone could fire before the first poll when a loaded machine makes the command or the
    # TLS handshake slow, and the first poll would already be healthy.
    log_start, started, stop = len(https_app.access_log.getvalue()), time.monotonic(), threading.Event()

    def turn_healthy_after_a_degraded_answer():
        while not stop.wait(0.01):
            answered = '"GET /api/health HTTP/1.1" 503' in https_app.access_log.getvalue()[log_start:]
            if answered and time.monotonic() - started >= 0.6:
                https_app.state.health_status = "healthy"
                return

    with health(https_app, "degraded"):
        flipper = threading.Thread(target=turn_healthy_after_a_degraded_answer, daemon=True)
        flipper.start()
        try:
            result = app_recovery(_params(https_app))
        finally:
            stop.set()
            flipper.join()
    assert result["status"] == "ok", result["summary"]
    assert result["metrics"]["health_polls"] >= 2
    assert result["metrics"]["time_to_healthy_ms"] >= 550


def test_never_healthy_is_critical(https_app):
    with health(https_app, "degraded"):
        result = app_recovery(_params(https_app, health_deadline_s=0.8))
    assert result["status"] == "critical"
    assert "HTTP 503" in result["findings"][0]["detail"]
    assert "time_to_healthy_ms" not in result["metrics"] and result["dr"]["passed"] is False


def test_a_json_field_that_does_not_match_keeps_it_unhealthy(https_app):
    with health(https_app, "healthy"):
        result = app_recovery(_params(https_app, json_field="checks.database", json_value="down",
                                      health_deadline_s=0.5))
    assert result["status"] == "critical" and "checks.database is ok" in result["findings"][0]["detail"]


def test_slower_than_the_objective_is_critical(https_app):
    with health(https_app, "healthy"):
        result = app_recovery(_params(https_app, command=[sys.executable, "-c", "import time; time.sleep(0.3)"],
                                      objective_minutes=0.004))  # 240 ms
    assert result["status"] == "critical"
    assert result["findings"][0]["title"] == "Application recovery slower than its objective"


def test_a_command_that_times_out_is_critical_without_polling(https_app):
    result = app_recovery(_params(https_app, command=[sys.executable, "-c", "import time; time.sleep(30)"],
                                  command_timeout_s=0.5))
    assert result["status"] == "critical" and "timed out" in result["summary"]
    assert "health_polls" not in result["metrics"]


def test_a_failing_command_is_critical(https_app):
    result = app_recovery(_params(https_app, command=["false"]))
    assert result["status"] == "critical" and "exited with 1" in result["summary"]


def test_a_hanging_health_endpoint_is_critical(hanging_server):
    params = {"command": ["true"], "health_url": hanging_server, "request_timeout_s": 0.3, "poll_interval_s": 0.1,
              "health_deadline_s": 0.5}
    result = app_recovery(params)
    assert result["status"] == "critical" and "no answer" in result["findings"][0]["detail"]


def test_an_untrusted_certificate_never_counts_as_healthy(https_app):
    with health(https_app, "healthy"):
        result = app_recovery(_params(https_app, ca_file=None, health_deadline_s=0.3))
    assert result["status"] == "critical"


def test_check_mode_runs_nothing_and_says_so(https_app, tmp_path):
    marker = tmp_path / "ran"
    result = app_recovery(_params(https_app, command=["touch", str(marker)]), check_mode=True)
    assert not marker.exists()
    assert result["status"] == "unknown" and result["ran"] is False and "not run" in result["summary"]
    assert result["dr"]["passed"] is None


def test_the_health_urls_secrets_never_reach_the_result(https_app):
    url = https_app.url.replace("https://", "https://ops:pw-123@").rstrip("/") + "/api/health?token=tk-456"
    assert safe_url(url) == https_app.url.rstrip("/") + "/api/health"
    with health(https_app, "healthy"):
        result = app_recovery(_params(https_app, health_url=url))
    assert result["status"] == "ok", result["summary"]
    assert "pw-123" not in str(result) and "tk-456" not in str(result)


@pytest.mark.parametrize("extra, message", [
    ({"command": []}, "command: required"),
    ({"health_url": "ftp://x/health"}, "health_url: must be an http(s) URL"),
    ({"poll_interval_s": 0}, "poll_interval_s: must be above 0"),
    ({"json_value": None}, "json_field and json_value: give both or neither"),
    ({"expected_status": [999]}, "expected_status: 999 is not an HTTP status"),
])
def test_bad_parameters_name_the_parameter(https_app, extra, message):
    with pytest.raises(ParameterError, match=re.escape(message)):
        app_recovery(_params(https_app, **extra))
