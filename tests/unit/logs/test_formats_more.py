"""Apache and nginx error logs, user-described formats and format detection, on lines shaped like
the ones those servers and a WSGI service write."""

from __future__ import annotations

import re
import time

import pytest

from ansible.module_utils.upkeep.logs_formats import CONTINUATION
from ansible.module_utils.upkeep.logs_formats_more import (parse_apache_error, parse_custom, parse_nginx_error,
                                                             time_reader)
from ansible.module_utils.upkeep.logs_parsers import check_source_format, detect_format, parser_for
from ansible.module_utils.upkeep.result import ParameterError

APACHE_22 = [
    "[Wed Oct 11 14:32:52 2000] [error] [client 127.0.0.1] client denied by server configuration: /export/home/live/ap/htdocs/test",
    "[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok /etc/httpd/conf/workers2.properties",
    "[Mon Dec 05 07:57:02 2005] [error] mod_jk child workerEnv in error state 6",
]
APACHE_24 = [
    "[Thu May 12 08:28:57.652118 2011] [core:error] [pid 8777:tid 4326490112] [client ::1:58619] AH00128: File does "
    "not exist: /usr/local/apache2/htdocs/favicon.ico",
    "[Fri Sep 09 10:42:29.902022 2011] [core:error] [pid 35708:tid 4328636416] [client 72.15.99.187:53124] File does "
    "not exist: /usr/local/apache2/htdocs/favicon.ico",
    "[Tue Nov 28 09:00:01.000001 2026] [mpm_event:notice] [pid 1:tid 140] AH00489: Apache/2.4.58 (Unix) configured "
    "-- resuming normal operations",
    "[Tue Nov 28 09:00:02.5 2026] [proxy_fcgi:error] [pid 92:tid 139] [client 203.0.113.9:40112] AH01071: Got error "
    "'PHP message: PHP Fatal error:  Uncaught TypeError: count(): Argument #1'",
]
NGINX = [
    '2026/11/28 12:00:00 [error] 1234#1234: *5 open() "/usr/share/nginx/html/favicon.ico" failed (2: No such file or '
    'directory), client: 10.0.0.1, server: localhost, request: "GET /favicon.ico HTTP/1.1", host: "localhost"',
    '2026/11/28 12:00:03 [error] 1234#1234: *9 upstream timed out (110: Connection timed out) while reading response '
    'header from upstream, client: 198.51.100.4, server: shop, request: "POST /api/leads?x=1 HTTP/2.0", upstream: '
    '"http://127.0.0.1:3000/api/leads", host: "shop.example"',
    "2026/11/28 12:00:04 [notice] 1#1: signal process started",
    "2026/11/28 12:00:05 [warn] 1234#1234: *11 an upstream response is buffered to a temporary file",
]
WSGI_PATTERN = (r'(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) \d+ (?P<level>[A-Z]+) \S+ \[[^\]]*\] '
                r'(?:(?P<client>\S+) "(?P<method>[A-Z]+) (?P<path>\S+) [^"]*" status: (?P<status>\d+) len: '
                r'(?P<bytes>\d+) time: (?P<duration>[0-9.]+)|(?P<message>.*))')
WSGI = [
    '2026-11-28 12:00:00.123 2931 INFO nova.osapi_compute.wsgi.server [req-1f2e - - - -] 10.0.0.8 "GET /v2.1/servers '
    'HTTP/1.1" status: 200 len: 512 time: 0.0312345',
    '2026-11-28 12:00:01.001 2931 INFO nova.osapi_compute.wsgi.server [req-2a3b - - - -] 10.0.0.9 "POST /v2.1/servers '
    'HTTP/1.1" status: 500 len: 210 time: 1.2000000',
    "2026-11-28 12:00:01.000 2931 ERROR nova.api.openstack.wsgi [req-2a3b - - - -] Unexpected exception in API method: "
    "oslo_messaging.exceptions.MessagingTimeout: Timed out waiting for a reply",
    "  Traceback (most recent call last):",
]


def test_apache_2_2_and_2_4_error_logs():
    first, notice, jk = parse_apache_error(APACHE_22)
    assert first[3] == "error" and first[7] == "127.0.0.1" and first[4].startswith("client denied")
    assert first[0] == time.mktime((2000, 10, 11, 14, 32, 52, 0, 0, -1))  # local time, as httpd writes it
    assert notice[3] == "info" and notice[5] is None and jk[5] == "httpd:error"
    ah, plain, started, php = parse_apache_error(APACHE_24)
    assert ah[7] == "::1" and ah[5] == "AH00128" and ah[4].startswith("AH00128: File does not exist")
    assert plain[7] == "72.15.99.187" and plain[5] == "core:error" and started[3] == "info"
    assert php[5] == "AH01071" and abs(php[0] % 1 - 0.5) < 1e-6


def test_nginx_error_log():
    missing, timeout, notice, warn = parse_nginx_error(NGINX)
    assert missing[3] == "error" and missing[5] == "nginx: open()" and missing[6] == "/favicon.ico"
    assert timeout[5] == "nginx: upstream timed out" and timeout[6] == "/api/leads" and timeout[7] == "198.51.100.4"
    assert notice[3] == "info" and warn[3] == "warning"


def test_custom_format_of_a_wsgi_service():
    source = check_source_format({"name": "nova", "format": "custom", "paths": ["x"], "pattern": WSGI_PATTERN,
                                  "time_format": "%Y-%m-%d %H:%M:%S.%f", "duration_unit": "s"}, "sources[0]")
    assert source["_requests"] is True
    ok, failed, error, trace = parser_for(source, time.time())(iter(WSGI))
    assert ok[1] == 200 and abs(ok[2] - 31.2345) < 1e-6 and ok[7] == "10.0.0.8" and ok[8] == 512 and ok[3] == "info"
    assert failed[3] == "error" and failed[5] == "5xx" and failed[4] == "POST /v2.1/servers"
    assert error[3] == "error" and error[5] == "MessagingTimeout" and trace is CONTINUATION


def test_custom_time_without_a_year_takes_the_file_year():
    pattern = r"(?P<time>\w{3} \d\d \d\d:\d\d:\d\d) (?P<level>\w+) (?P<message>.*)"
    reference = time.mktime((2025, 1, 1, 10, 0, 0, 0, 0, -1))
    records = list(parse_custom(["Dec 31 23:00:00 ERROR disk full", "Jan 01 09:00:00 INFO ok"], re.compile(pattern),
                                time_reader("%b %d %H:%M:%S", "sources[0]"), reference))
    assert time.localtime(records[0][0]).tm_year == 2024 and time.localtime(records[1][0]).tm_year == 2025


@pytest.mark.parametrize("source, message", [
    ({"format": "custom"}, "sources[0].pattern: required with format custom"),
    ({"format": "custom", "pattern": "(?P<time>[0-9"}, "sources[0].pattern: not a valid regular expression"),
    ({"format": "custom", "pattern": "(?P<when>.*) (?P<msg>.*)"}, "unknown group name(s) msg, when"),
    ({"format": "custom", "pattern": "(?P<client>\\S+)"}, "needs at least one of the groups time, level"),
    ({"format": "custom", "pattern": "(?P<message>.*)", "time_format": "%H"}, "sources[0].time_format: given, but"),
    ({"format": "custom", "pattern": "(?P<time>\\S+)", "time_format": "yyyy-MM-dd"}, "neither one of iso8601"),
    ({"format": "combined", "pattern": "(?P<time>\\S+)"}, "sources[0].pattern: only with format custom"),
])
def test_bad_custom_formats_name_the_option(source, message):
    with pytest.raises(ParameterError) as caught:
        check_source_format(dict({"name": "a", "paths": ["x"]}, **source), "sources[0]")
    assert message in str(caught.value)


@pytest.mark.parametrize("lines, expected", [
    (APACHE_22 + APACHE_24, "apache_error"),
    (NGINX, "nginx_error"),
    (['203.0.113.5 - - [28/Nov/2026:12:00:00 +0000] "GET / HTTP/1.1" 200 512 "-" "curl/8.5"'] * 3, "combined"),
    (['{"level":50,"time":1795000000000,"msg":"boom"}'] * 3, "json"),
    (["Nov 28 12:00:00 app-1 node[1]: Error: boom"] * 3, "syslog"),
    (["2026-11-28 12:00:00.123 UTC [42] ERROR:  relation \"x\" does not exist"] * 3, "postgres"),
    (["just some words", "more words"], "auto"),
])
def test_detection_picks_the_format_that_reads_most(lines, expected):
    assert detect_format(lines)[0] == expected
