"""The JSON assertion language: parsing (no eval) and evaluation."""

from __future__ import annotations

import pytest

from ansible.module_utils.upkeep.http_assert import AssertionSyntaxError, evaluate, parse, shorten

HEALTH = {
    "status": "healthy",
    "version": "2.4.1",
    "uptime_s": 12.5,
    "checks": {"database": "ok"},
    "items": [{"id": 7, "tags": ["new", "steel"]}],
    "flags": {"beta": True, "count": 1},
    "empty": "",
    "nothing": None,
}


@pytest.mark.parametrize("text, path, operator, expected", [
    ('status == "healthy"', ("status",), "==", "healthy"),
    ('checks.database == "ok"', ("checks", "database"), "==", "ok"),
    ("uptime_s > 0", ("uptime_s",), ">", 0),
    ('version != ""', ("version",), "!=", ""),
    ("items.0.id exists", ("items", "0", "id"), "exists", None),
    ("error missing", ("error",), "missing", None),
    ('items.0.tags contains "steel"', ("items", "0", "tags"), "contains", "steel"),
    ("uptime_s>=1.5", ("uptime_s",), ">=", 1.5),
    ("status == 'healthy'", ("status",), "==", "healthy"),
    ("flags == {\"beta\": true, \"count\": 1}", ("flags",), "==", {"beta": True, "count": 1}),
])
def test_parse_reads_path_operator_and_json_literal(text, path, operator, expected):
    parsed = parse(text)
    assert (parsed.path, parsed.operator, parsed.expected) == (path, operator, expected)


@pytest.mark.parametrize("text, reason", [
    ("", "empty"),
    ("status = healthy", "no operator"),
    ("status == healthy", "not JSON"),
    ("status ==", "needs a JSON value"),
    ("items.0.id exists 1", "takes no value"),
    ("a..b == 1", "invalid segment"),
    ("uptime_s > [1]", "compares numbers or strings"),
    ("__import__('os').system('id') == 0", "invalid segment"),
])
def test_parse_rejects_malformed_text_with_a_reason(text, reason):
    with pytest.raises(AssertionSyntaxError, match=reason):
        parse(text)


@pytest.mark.parametrize("text, passed, actual", [
    ('status == "healthy"', True, '"healthy"'),
    ('status == "degraded"', False, '"healthy"'),
    ('checks.database == "ok"', True, '"ok"'),
    ("uptime_s > 0", True, "12.5"),
    ("uptime_s <= 12", False, "12.5"),
    ('version != ""', True, '"2.4.1"'),
    ('empty != ""', False, '""'),
    ("items.0.id exists", True, "7"),
    ("items.1.id exists", False, "<missing>"),
    ("items.-1.id == 7", True, "7"),
    ("error missing", True, "<missing>"),
    ("status missing", False, '"healthy"'),
    ('items.0.tags contains "steel"', True, '["new", "steel"]'),
    ('status contains "heal"', True, '"healthy"'),
    ('flags contains "beta"', True, '{"beta": true, "count": 1}'),
    ('uptime_s contains "1"', False, "12.5"),
    ("nothing == null", True, "null"),
    ('nothing != "x"', True, "null"),
    ('missing.path != "x"', False, "<missing>"),
    ('status > 1', False, '"healthy"'),
    ('version >= "2.0"', True, '"2.4.1"'),
])
def test_evaluate_reports_outcome_and_actual_value(text, passed, actual):
    assert evaluate(parse(text), HEALTH) == (passed, actual)


def test_json_equality_keeps_booleans_and_numbers_apart():
    assert evaluate(parse("flags.beta == 1"), HEALTH)[0] is False
    assert evaluate(parse("flags.count == true"), HEALTH)[0] is False
    assert evaluate(parse("flags.count == 1.0"), HEALTH)[0] is True
    assert evaluate(parse("flags.beta == true"), HEALTH)[0] is True


def test_paths_through_scalars_and_non_json_documents_are_missing():
    assert evaluate(parse("status.inner exists"), HEALTH) == (False, "<missing>")
    assert evaluate(parse("0 exists"), ["first"]) == (True, '"first"')
    assert evaluate(parse("status exists"), "plain text") == (False, "<missing>")


def test_actual_values_are_shortened():
    text = shorten("x" * 500)
    assert len(text) == 80 and text.endswith("...")
