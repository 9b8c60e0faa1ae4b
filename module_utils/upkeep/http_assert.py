# -*- coding: utf-8 -*-
"""What counts as a good HTTP response: a tiny, safe assertion language over a JSON body, and
``judge_response`` applying it with the expected status and body text.

An assertion reads ``<path> <operator> [<JSON literal>]``::

    status == "healthy"
    checks.database == "ok"
    uptime_s > 0
    version != ""
    items.0.id exists
    tags contains "beta"

The path is dotted; a segment indexes a list when it is an integer. Operators: ``==``, ``!=``,
``<``, ``<=``, ``>``, ``>=``, ``contains`` (substring, list member or object key), ``exists`` and
``missing`` (no literal). The literal is JSON (a single-quoted string is accepted too, since
that is what people type). Nothing is ever evaluated as code: a regular expression splits the
text and ``json.loads`` reads the literal.

Standard library only (and result.py); the functions take and return plain values.
"""

from __future__ import annotations

import json
import re
from collections import namedtuple

from .result import CRITICAL, finding

Assertion = namedtuple("Assertion", "text path operator expected")

COMPARISONS = ("==", "!=", "<=", ">=", "<", ">", "contains")
PRESENCE = ("exists", "missing")

_SYNTAX = re.compile(
    r"""^\s*
    (?P<path>[^\s=!<>]+)\s*
    (?P<operator>==|!=|<=|>=|<|>|contains\b|exists\b|missing\b)\s*
    (?P<literal>.*?)\s*$""",
    re.VERBOSE,
)
_SEGMENT = re.compile(r"^[A-Za-z0-9_\-@$:]+$")
_MISSING = object()
_ACTUAL_LIMIT = 80
_SNIPPET = 120

HELP = 'expected "<path> <operator> <JSON value>", e.g. status == "healthy", uptime_s > 0 or items.0.id exists'


class AssertionSyntaxError(ValueError):
    """The assertion text cannot be parsed; the message says why."""


def parse(text):
    """Parse one assertion; raise AssertionSyntaxError with a reason when it is malformed."""
    if not isinstance(text, str) or not text.strip():
        raise AssertionSyntaxError("empty assertion; " + HELP)
    match = _SYNTAX.match(text)
    if not match:
        raise AssertionSyntaxError("no operator found; " + HELP)
    path_text, operator, literal = match.group("path", "operator", "literal")
    path = tuple(path_text.split("."))
    for segment in path:
        if not _SEGMENT.match(segment):
            raise AssertionSyntaxError("path %r has an empty or invalid segment; %s" % (path_text, HELP))
    if operator in PRESENCE:
        if literal:
            raise AssertionSyntaxError("'%s' takes no value, got %r" % (operator, literal))
        return Assertion(text.strip(), path, operator, None)
    if not literal:
        raise AssertionSyntaxError("'%s' needs a JSON value after it; %s" % (operator, HELP))
    expected = _literal(literal)
    if operator in ("<", "<=", ">", ">=") and not (_is_number(expected) or isinstance(expected, str)):
        raise AssertionSyntaxError("'%s' compares numbers or strings, got %s" % (operator, literal))
    return Assertion(text.strip(), path, operator, expected)


def _literal(text):
    if len(text) >= 2 and text[0] == text[-1] == "'" and "'" not in text[1:-1]:
        return text[1:-1]
    try:
        return json.loads(text)
    except ValueError:
        raise AssertionSyntaxError(
            "value %s is not JSON (strings need double quotes, e.g. \"healthy\")" % text
        )


def resolve(document, path):
    """The value at ``path`` in ``document``, or the module-private _MISSING marker."""
    current = document
    for segment in path:
        if isinstance(current, dict):
            if segment not in current:
                return _MISSING
            current = current[segment]
        elif isinstance(current, list) and re.match(r"^-?\d+$", segment):
            index = int(segment)
            if not -len(current) <= index < len(current):
                return _MISSING
            current = current[index]
        else:
            return _MISSING
    return current


def evaluate(assertion, document):
    """Evaluate a parsed assertion against a decoded JSON document.

    Returns ``(passed, actual)`` where ``actual`` is a short text of the value found (or
    ``"<missing>"``), fit for a finding.
    """
    value = resolve(document, assertion.path)
    found = value is not _MISSING
    actual = shorten(value) if found else "<missing>"
    operator = assertion.operator
    if operator == "exists":
        return found, actual
    if operator == "missing":
        return not found, actual
    if not found:
        return False, actual
    expected = assertion.expected
    if operator == "==":
        return _json_equal(value, expected), actual
    if operator == "!=":
        return not _json_equal(value, expected), actual
    if operator == "contains":
        return _contains(value, expected), actual
    return _ordered(value, operator, expected), actual


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _json_equal(left, right):
    # Python says True == 1; JSON does not.
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if _is_number(left) and _is_number(right):
        return left == right
    if type(left) is not type(right):
        return False
    if isinstance(left, list):
        return len(left) == len(right) and all(_json_equal(a, b) for a, b in zip(left, right))
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(_json_equal(left[k], right[k]) for k in left)
    return left == right


def _contains(value, expected):
    if isinstance(value, str):
        return isinstance(expected, str) and expected in value
    if isinstance(value, list):
        return any(_json_equal(item, expected) for item in value)
    if isinstance(value, dict):
        return isinstance(expected, str) and expected in value
    return False


def _ordered(value, operator, expected):
    comparable = (_is_number(value) and _is_number(expected)) or (
        isinstance(value, str) and isinstance(expected, str)
    )
    if not comparable:
        return False
    if operator == "<":
        return value < expected
    if operator == "<=":
        return value <= expected
    if operator == ">":
        return value > expected
    return value >= expected


def shorten(value, limit=_ACTUAL_LIMIT):
    """A JSON rendering of ``value`` cut to ``limit`` characters."""
    try:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def judge_response(endpoint, status_code, body):
    """Findings (a list) for one response: unexpected status, body_contains, JSON assertions."""
    findings = []
    target = endpoint["name"]
    if status_code not in endpoint["expected_status"]:
        findings.append(finding(
            CRITICAL, "Unexpected HTTP status %d" % status_code, target,
            "expected %s; the response began: %s" % (_codes(endpoint["expected_status"]), _snippet(body)),
            "Look at the application's logs for this request; if %d is right, add it to expected_status."
            % status_code,
        ))
        return findings
    text = body.decode("utf-8", "replace")
    if endpoint["body_contains"] and endpoint["body_contains"] not in text:
        findings.append(finding(
            CRITICAL, "Body does not contain %s" % shorten(endpoint["body_contains"]), target,
            "the response began: %s" % _snippet(body),
            "Check that the endpoint serves the expected content.",
        ))
    if endpoint["json_assertions"]:
        try:
            document = json.loads(text)
        except ValueError:
            findings.append(finding(
                CRITICAL, "Response is not JSON", target, "the response began: %s" % _snippet(body),
                "The JSON assertions need a JSON body; check the URL and the Accept header.",
            ))
            return findings
        for assertion in endpoint["json_assertions"]:
            passed, actual = evaluate(assertion, document)
            if not passed:
                findings.append(finding(
                    CRITICAL, "Assertion failed: %s" % assertion.text, target, "actual: %s" % actual,
                    "The service reports itself unhealthy or changed its response; look at its logs.",
                ))
    return findings


def _snippet(body):
    text = " ".join(body[:_SNIPPET * 2].decode("utf-8", "replace").split())
    if not text:
        return "(empty body)"
    return text if len(text) <= _SNIPPET else text[:_SNIPPET - 3] + "..."


def _codes(codes):
    return codes[0] if len(codes) == 1 else "one of %s" % ", ".join(str(code) for code in codes)
