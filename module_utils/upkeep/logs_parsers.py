# -*- coding: utf-8 -*-
"""Which parser reads a source: its configured format, or the one that reads its file's head best.

Standard library only: shipped to managed hosts.
"""

from __future__ import annotations

from .logs_formats import CONTINUATION, FORMATS, parse_combined, parse_json, parse_syslog
from .logs_formats_pg import parse_postgres, parse_postgres_csv
from .logs_formats_more import compile_custom, parse_apache_error, parse_custom, parse_nginx_error
from .logs_window import file_edges
from .result import ParameterError

# The formats "auto" chooses among, in the order that wins a tie: the stricter shapes first (a
# combined line never reads as syslog, but a syslog line wrapping an access log could).
DETECTABLE = ("combined", "nginx_error", "apache_error", "postgres", "postgres_csv", "json", "syslog")
# Lines of a file's head that detection looks at.
SAMPLE_LINES = 200
_CUSTOM_ONLY = ("pattern", "time_format")


def check_source_format(source, where):
    """The source as the scan uses it, or ParameterError naming the option that is wrong. A
    custom format with a status group is a request log (error rate of 5xx, latency, review)."""
    fmt = source.get("format")
    if fmt not in FORMATS:
        raise ParameterError("%s.format: must be one of %s, got %r" % (where, ", ".join(FORMATS), fmt))
    if fmt != "custom":
        given = [name for name in _CUSTOM_ONLY if source.get(name)]
        if given:
            raise ParameterError("%s.%s: only with format custom (the format is %s)" % (where, given[0], fmt))
        return source
    compiled, _reader = compile_custom(source, where)
    return dict(source, _requests="status" in compiled.groupindex)


def parser_for(source, reference=None, years=None):
    """A function lines -> items for one configured source (a dict of the module's options);
    ``reference`` (the file's modification time) and ``years`` place year-less stamps."""
    kind = source["format"]
    if kind == "combined":
        return lambda lines: parse_combined(lines, source.get("request_time_unit") or "s")
    if kind == "json":
        return lambda lines: parse_json(lines, source.get("fields"), source.get("duration_unit") or "ms")
    if kind == "syslog":
        return lambda lines: parse_syslog(lines, reference, years)
    if kind == "postgres":
        return parse_postgres
    if kind == "postgres_csv":
        return parse_postgres_csv
    if kind == "apache_error":
        return parse_apache_error
    if kind == "nginx_error":
        return parse_nginx_error
    if kind == "custom":
        compiled, read_time = compile_custom(source, "source %s" % source.get("name"))
        return lambda lines: parse_custom(lines, compiled, read_time, reference, source.get("duration_unit") or "ms")
    if kind == "auto":  # nothing read the head: every line counts as unparsed
        return lambda lines: (None if line.strip() else CONTINUATION for line in lines)
    raise ValueError("unknown format %r" % (kind,))


def detect_format(lines, reference=None):
    """(format, entries read) of the DETECTABLE format that reads the most ``lines`` as entries
    with a time; ("auto", 0) when none reads any."""
    best, best_count = "auto", 0
    for kind in DETECTABLE:
        parse = parser_for({"format": kind}, reference)
        count = sum(1 for item in parse(iter(lines)) if item is not None and item is not CONTINUATION
                    and item[0] is not None)
        if count > best_count:
            best, best_count = kind, count
    return best, best_count


def resolve_format(source, paths, reference_of):
    """``source`` with its format decided: for "auto", from the head of the first of ``paths``
    holding lines (the choice is reported as ``format_detected``)."""
    if source["format"] != "auto":
        return source
    for path in paths:
        try:
            head = file_edges(path)[0][:SAMPLE_LINES]
        except OSError:
            continue
        if head:
            kind, _count = detect_format(head, reference_of(path))
            return dict(source, format=kind, detected=True)
    return dict(source, detected=True)
