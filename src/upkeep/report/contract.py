"""The report contract: report.json is checked against the JSON Schema shipped beside this file
(``schema/upkeep.report-1.schema.json``, draft 2020-12), the one consumers validate against too.

Validation is for tests and for people checking a report by hand; a production run never pays
for it or depends on jsonschema (a test-only dependency, imported here only when asked). The
test suite sets ``UPKEEP_VALIDATE_REPORTS=1``, so every report it makes, through the wrapper,
the callback plugin or a direct ``publish`` call, is validated before it is written.
"""

from __future__ import annotations

import functools
import json
import os
from importlib import resources

SCHEMA_FILE = "upkeep.report-1.schema.json"
VALIDATE_ENV = "UPKEEP_VALIDATE_REPORTS"

# Enough to see the pattern of a broken report without drowning the one line that matters.
MAX_ERRORS = 5


class ReportContractError(ValueError):
    """A report that does not match upkeep.report/1; the message names each wrong field."""


@functools.lru_cache(maxsize=1)
def load_schema() -> dict:
    """The schema as shipped in the package (package data, so an installed upkeep has it too)."""
    return json.loads((resources.files(__package__) / "schema" / SCHEMA_FILE).read_text(encoding="utf-8"))


def contract_errors(report: dict) -> list[str]:
    """Every place ``report`` breaks the schema, as ``report.checks[3].status: 'fine' is not one
    of [...]`` lines, in document order; empty when it matches."""
    try:
        import jsonschema
    except ImportError:
        raise ReportContractError("cannot validate reports: jsonschema is not installed "
                                  "(pip install -e '.[test]' installs it)") from None
    validator = jsonschema.Draft202012Validator(load_schema(), format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(report), key=lambda error: [_sort_key(part) for part in error.absolute_path])
    return ["%s: %s" % (_where(error.absolute_path), error.message) for error in errors]


def validate_report(report: dict) -> None:
    """Raise :class:`ReportContractError` naming the wrong fields unless ``report`` matches."""
    errors = contract_errors(report)
    if errors:
        shown = errors[:MAX_ERRORS] + (["... and %d more" % (len(errors) - MAX_ERRORS)] if len(errors) > MAX_ERRORS else [])
        raise ReportContractError("report %s does not match the upkeep.report/1 schema (%s): %s"
                                  % (report.get("run_id", "?"), SCHEMA_FILE, "; ".join(shown)))


def validate_before_writing(report: dict) -> None:
    """Called by ``publish`` before it writes the files, when ``UPKEEP_VALIDATE_REPORTS=1``.

    ``publish`` fills ``run.publish`` (its own problems) while it writes, so the report is
    checked as it will be written: with that list empty when it is not there yet."""
    if os.environ.get(VALIDATE_ENV) != "1":
        return
    run = report.get("run")
    if isinstance(run, dict) and "publish" not in run:
        report = dict(report, run=dict(run, publish=[]))
    validate_report(report)


def _sort_key(part) -> tuple:
    # checks[2] before checks[10]: list indexes compare as numbers, keys as text.
    return (0, part, "") if isinstance(part, int) else (1, 0, str(part))


def _where(path) -> str:
    text = "report"
    for part in path:
        text += "[%d]" % part if isinstance(part, int) else ".%s" % part
    return text
