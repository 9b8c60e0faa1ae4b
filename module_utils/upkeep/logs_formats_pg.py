# -*- coding: utf-8 -*-
"""PostgreSQL's logs for upkeep_log_scan: stderr logs with any log_line_prefix starting with a
time, and csvlog; the SQLSTATE, where the server writes one, is the error's category.

Standard library only: shipped to managed hosts.
"""

from __future__ import annotations

import csv
import re

from .logs_formats import CONTINUATION, ERROR_LEVELS, Record, exception_type, parse_iso

# -- PostgreSQL ---------------------------------------------------------------------------------

SQLSTATE_CLASSES = {
    "00": "successful_completion", "01": "warning", "02": "no_data", "03": "sql_statement_not_yet_complete",
    "08": "connection_exception", "0A": "feature_not_supported", "0B": "invalid_transaction_initiation",
    "21": "cardinality_violation", "22": "data_exception", "23": "integrity_constraint_violation",
    "25": "invalid_transaction_state", "28": "invalid_authorization_specification", "2B": "dependent_objects_exist",
    "3D": "invalid_catalog_name", "3F": "invalid_schema_name", "40": "transaction_rollback",
    "42": "syntax_error_or_access_rule_violation", "53": "insufficient_resources", "54": "program_limit_exceeded",
    "55": "object_not_in_prerequisite_state", "57": "operator_intervention", "58": "system_error",
    "F0": "config_file_error", "HV": "fdw_error", "P0": "plpgsql_error", "XX": "internal_error",
}
_PG_LEVELS = {"DEBUG": "debug", "DEBUG1": "debug", "DEBUG2": "debug", "DEBUG3": "debug", "DEBUG4": "debug",
              "DEBUG5": "debug", "INFO": "info", "NOTICE": "info", "LOG": "info", "WARNING": "warning",
              "ERROR": "error", "FATAL": "critical", "PANIC": "critical"}
_PG_STDERR_RE = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?(?: [A-Za-z]{1,6}|[+-]\d\d(?::?\d\d)?)?)(.*?)\b"
    r"(DEBUG\d?|INFO|NOTICE|WARNING|ERROR|LOG|FATAL|PANIC|DETAIL|HINT|STATEMENT|CONTEXT|QUERY|LOCATION):  ?(.*)$")
# log_error_verbosity = verbose puts the code first ("ERROR:  23505: duplicate key ..."); a prefix
# with %e shows it as "sqlstate=23505" or "[23505]" after the process id.
_SQLSTATE_MESSAGE_RE = re.compile(r"^([0-9A-Z]{5}): (.*)$")
_SQLSTATE_PREFIX_RE = re.compile(r"(?i)(?:sqlstate[=: ]|error_code[=: ]|\] \[)([0-9A-Z]{5})\b")


def sqlstate_category(code):
    if not code:
        return None
    return "SQLSTATE %s (%s)" % (code[:2], SQLSTATE_CLASSES.get(code[:2], "other"))


def _pg_record(ts, severity, code, message):
    level = _PG_LEVELS.get(severity, "info")
    category = None
    if level in ERROR_LEVELS or level == "warning":
        category = sqlstate_category(code) or exception_type(message) or "pg:%s" % severity
    return Record(ts, None, None, level, message, category, None)


def parse_postgres(lines):
    """PostgreSQL stderr logs (any log_line_prefix that starts with %m or %t)."""
    for line in lines:
        if line[:1] in ("\t", " "):
            yield CONTINUATION
            continue
        match = _PG_STDERR_RE.match(line)
        if match is None:
            yield None if line.strip() else CONTINUATION
            continue
        stamp, prefix, severity, message = match.groups()
        if severity not in _PG_LEVELS:
            yield CONTINUATION
            continue
        code = None
        verbose = _SQLSTATE_MESSAGE_RE.match(message)
        if verbose:
            code, message = verbose.groups()
        else:
            in_prefix = _SQLSTATE_PREFIX_RE.search(prefix)
            code = in_prefix.group(1) if in_prefix else None
        yield _pg_record(parse_iso(stamp), severity, code, message)


def parse_postgres_csv(lines):
    """PostgreSQL csvlog (quoted fields may span lines; the csv module joins them)."""
    reader = csv.reader(line + "\n" for line in lines)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error:
            yield None
            continue
        if len(row) < 14:
            yield None if any(row) else CONTINUATION
            continue
        yield _pg_record(parse_iso(row[0]), row[11], row[12] if row[12] != "00000" else None, row[13])
