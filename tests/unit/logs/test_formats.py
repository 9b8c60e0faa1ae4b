"""The log parsers on real sample lines of each format, including malformed input."""

from __future__ import annotations

import calendar

from ansible.module_utils.upkeep.logs_formats import (
    CONTINUATION, parse_combined, parse_iso, parse_json, parse_syslog)
from ansible.module_utils.upkeep.logs_formats_pg import parse_postgres, parse_postgres_csv

NGINX = ('203.0.113.9 - - [28/Nov/2026:20:42:55 +0000] "GET /api/products/812?ref=home HTTP/1.1" 502 157 '
         '"https://almazahir.com/" "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0" 1.532')
APACHE = ('192.0.2.4 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 '
          '"http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"')


def test_combined_with_request_time_and_timezone():
    nginx, apache, common, broken = parse_combined([NGINX, APACHE, APACHE.rsplit(' "http', 1)[0], "GET / 200"])
    assert nginx[0] == calendar.timegm((2026, 11, 28, 20, 42, 55))
    assert (nginx[1], nginx[3], nginx[5], nginx[6]) == (502, "error", "5xx", "/api/products/812")
    assert abs(nginx[2] - 1532.0) < 1e-6 and nginx[4] == "GET /api/products/812"
    assert apache[0] == calendar.timegm((2000, 10, 10, 20, 55, 36)) and apache[2] is None and apache[3] == "info"
    assert common is not None and common[1] == 200 and common[2] is None
    assert broken is None


def test_combined_units_and_escaped_quotes():
    line = ('10.0.0.1 - - [01/Jan/2026:00:00:00 +0100] "GET /a\\"b HTTP/1.1" 404 0 "-" "agent \\"x\\"" rt=250')
    (record,) = parse_combined([line], request_time_unit="ms")
    assert record[1] == 404 and record[2] == 250.0 and record[3] == "warning"
    assert record[0] == calendar.timegm((2025, 12, 31, 23, 0, 0))
    keyed = APACHE + ' rt=0.250 uct="0.000" uht="0.247" urt="0.248"'
    (nginx_keys,) = parse_combined([keyed])
    assert nginx_keys[2] == 250.0
    (sorted_query,) = parse_combined([APACHE.replace("/apache_pb.gif", "/p?sort=asc") + " 0.5"])
    assert sorted_query[2] == 500.0
    (micro,) = parse_combined([APACHE + " 1500"], request_time_unit="us")
    assert abs(micro[2] - 1.5) < 1e-9


def test_json_pino_winston_and_custom_fields():
    pino = ('{"level":50,"time":1795000000000,"pid":1,"hostname":"app","err":{"type":"TypeError",'
            '"message":"x is undefined"},"msg":"x is undefined"}')
    winston = '{"level":"warn","message":"slow query","timestamp":"2026-11-28T20:42:55.120Z","durationMs":812}'
    custom = '{"sev":"ERROR","@t":"2026-11-28T20:42:55+01:00","text":"boom","http":{"code":503,"took":0.25}}'
    fields = {"level": "sev", "timestamp": "@t", "message": "text", "status": "http.code", "duration": "http.took"}
    (p,) = parse_json([pino])
    assert (p[0], p[3], p[5], p[4]) == (1795000000.0, "error", "TypeError", "x is undefined")
    (w,) = parse_json([winston], {"duration": "durationMs"})
    assert w[3] == "warning" and w[2] == 812.0 and w[0] == calendar.timegm((2026, 11, 28, 20, 42, 55)) + 0.12
    (c,) = parse_json([custom], fields, duration_unit="s")
    assert (c[1], c[2], c[3], c[4]) == (503, 250.0, "error", "boom")
    assert c[0] == calendar.timegm((2026, 11, 28, 19, 42, 55))


def test_json_malformed_lines():
    assert list(parse_json(['{"level": 50, "msg": "cut', "[1, 2]", "plain text", ""])) == [None, None, None, CONTINUATION]


def test_syslog_bsd_and_iso():
    now = calendar.timegm((2026, 11, 28, 21, 0, 0))
    bsd = "Nov 28 20:42:55 app-1 node[812]: Error: connect ECONNREFUSED 10.0.0.5:6379"
    iso = "2026-11-28T20:42:55.123456+00:00 app-1 cron[77]: (root) CMD (run-parts /etc/cron.hourly)"
    first, second, third = parse_syslog([bsd, iso, "not syslog at all"], reference=now)
    assert first[3] == "error" and first[4].startswith("node: Error") and abs(first[0] - now) < 2 * 86400
    assert second[3] == "info" and second[0] == calendar.timegm((2026, 11, 28, 20, 42, 55)) + 0.123456
    assert third is None


def test_postgres_stderr_verbose_and_prefix_sqlstate():
    lines = [
        '2026-11-28 20:42:55.123 UTC [4242] app@platform ERROR:  23505: duplicate key value violates unique '
        'constraint "leads_email_key"',
        "2026-11-28 20:42:55.123 UTC [4242] app@platform DETAIL:  Key (email)=(a@example.com) already exists.",
        "\tAND id = 4",
        "2026-11-28 20:43:00 UTC [4243] sqlstate=57014 ERROR:  canceling statement due to statement timeout",
        '2026-11-28 20:44:00.001 UTC [4244] FATAL:  password authentication failed for user "app"',
        "2026-11-28 20:45:00.000 UTC [4245] LOG:  checkpoint complete: wrote 3 buffers",
        "garbage",
    ]
    items = list(parse_postgres(lines))
    assert items[1] is CONTINUATION and items[2] is CONTINUATION and items[6] is None
    dup, timeout, fatal, log = items[0], items[3], items[4], items[5]
    assert dup[5] == "SQLSTATE 23 (integrity_constraint_violation)" and dup[3] == "error"
    assert dup[4].startswith("duplicate key") and dup[0] == calendar.timegm((2026, 11, 28, 20, 42, 55)) + 0.123
    assert timeout[5] == "SQLSTATE 57 (operator_intervention)"
    assert fatal[3] == "critical" and fatal[5] == "pg:FATAL"
    assert log[3] == "info" and log[5] is None


def test_postgres_csvlog_with_multiline_field():
    row = ('2026-11-28 20:42:55.123 UTC,"app","platform",4242,"127.0.0.1:51234",6748d1ef.1092,3,"INSERT",'
           '2026-11-28 20:40:00 UTC,3/12,0,ERROR,23505,"duplicate key value violates unique constraint ""leads_pkey""",'
           '"Key (id)=(7) already exists.",,,,,"INSERT INTO leads\nVALUES (7)",,,"psql","client backend",,0')
    ok = ('2026-11-28 20:43:00.000 UTC,,,4000,,6748d1ef.0fa0,1,,2026-11-28 20:00:00 UTC,,0,LOG,00000,'
          '"checkpoint starting: time",,,,,,,,,"","checkpointer",,0')
    items = list(parse_postgres_csv((row + "\n" + ok).split("\n") + ["short,row"]))
    assert len(items) == 3
    assert items[0][5] == "SQLSTATE 23 (integrity_constraint_violation)"
    assert items[0][4] == 'duplicate key value violates unique constraint "leads_pkey"'
    assert items[1][3] == "info" and items[1][5] is None and items[2] is None


def test_parse_iso_variants():
    base = calendar.timegm((2026, 11, 28, 20, 42, 55))
    assert parse_iso("2026-11-28T20:42:55Z") == base
    assert parse_iso("2026-11-28 20:42:55 UTC") == base
    assert parse_iso("2026-11-28T21:42:55+0100") == base
    assert parse_iso("yesterday") is None


def test_property_compiled_field_names_read_what_first_field_reads():
    """parse_json's compiled readers (field_reader) pick the same value as first_field for any
    nesting, dotted keys, None values and non-dict parents."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from ansible.module_utils.upkeep.logs_formats import JSON_FIELD_DEFAULTS, field_reader, first_field

    names = sorted({part for names in JSON_FIELD_DEFAULTS.values() for name in names
                    for part in [name] + name.split(".")})
    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=3), st.lists(st.integers(), max_size=2))
    entries = st.recursive(scalars, lambda inner: st.dictionaries(st.sampled_from(names), inner, max_size=5), max_leaves=12)

    @settings(max_examples=300, deadline=None)
    @given(st.dictionaries(st.sampled_from(names), entries, max_size=8))
    def same(entry):
        for role_names in JSON_FIELD_DEFAULTS.values():
            assert field_reader(role_names)(entry) == first_field(entry, role_names)

    same()


def test_property_word_level_guard_changes_no_verdict():
    """word_level's substring guard says "info" only where the case-insensitive search finds nothing."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from ansible.module_utils.upkeep import logs_formats

    def searched(message):
        match = logs_formats._SYSLOG_LEVEL_RE.search(message)
        return ("critical" if match.group(1) else "error" if match.group(2) else "warning") if match else "info"

    words = st.sampled_from(["ERROR", "Err", "failure", "FAILED", "warn", "Warning", "exception", "fatal", "PANIC",
                             "critical", "emerg", "terrible", "errand", "ok", "_error_", "error123", "İ", "é"])
    pieces = st.lists(st.one_of(words, st.text(max_size=6)), max_size=6)

    @settings(max_examples=400, deadline=None)
    @given(pieces, st.sampled_from([" ", "", ":", "-"]))
    def same(parts, glue):
        message = glue.join(parts)
        assert logs_formats.word_level(message) == searched(message)

    same()
