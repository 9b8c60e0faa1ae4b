"""Acknowledgements (module_utils/upkeep/ack.py): fingerprints, validation, expiry, status."""

from __future__ import annotations

import datetime

import pytest

from ansible.module_utils.upkeep.ack import apply, fingerprint, parse_acknowledgements, status_of
from ansible.module_utils.upkeep.result import ParameterError, check, finding

TODAY = datetime.date(2026, 11, 28)


def _check(*severities):
    findings = [finding(sev, "t%d" % n, "r%d" % n, fingerprint=fingerprint("pg.x", "db", "r%d" % n, "k"))
                for n, sev in enumerate(severities)]
    return check("pg.x", "db", status_of(findings), "summary", findings=findings)


def test_fingerprint_is_stable_and_depends_on_identity_only():
    assert fingerprint("pg.rls", "app-db", "public.t", "rls_disabled") == fingerprint("pg.rls", "app-db", "public.t", "rls_disabled")
    assert len(fingerprint("pg.rls", "app-db", "public.t")) == 16
    others = {fingerprint("pg.rls", "app-db", "public.u", "rls_disabled"), fingerprint("pg.rls", "db2", "public.t", "rls_disabled"),
              fingerprint("pg.bloat", "app-db", "public.t", "rls_disabled"), fingerprint("pg.rls", "app-db", "public.t", "x")}
    assert fingerprint("pg.rls", "app-db", "public.t", "rls_disabled") not in others and len(others) == 4


def test_unexpired_acknowledgement_silences_and_expired_one_counts_again():
    checks = [_check("critical", "warning")]
    marks = [f["fingerprint"] for f in checks[0]["findings"]]
    acks = parse_acknowledgements([
        {"fingerprint": marks[0], "reason": "accepted", "expires": "2026-11-28", "by": "alice"},  # last valid day
        {"fingerprint": marks[1], "reason": "old", "expires": "2026-11-27"},
    ])
    apply(checks, acks, today=TODAY)
    first, second = checks[0]["findings"]
    assert first["acknowledged"] == {"reason": "accepted", "expires": "2026-11-28", "by": "alice"}
    assert "acknowledged" not in second and second["acknowledgement_expired"]["expires"] == "2026-11-27"
    assert "expired on 2026-11-27" in second["detail"]
    assert checks[0]["status"] == "warning"
    assert checks[0]["metrics"]["findings_acknowledged"] == 1
    assert "1 acknowledged" in checks[0]["summary"] and "expired" in checks[0]["summary"]


def test_all_acknowledged_makes_the_check_ok_and_unrelated_checks_stay():
    checks = [_check("warning"), _check("critical")]
    checks[1]["findings"][0]["fingerprint"] = fingerprint("pg.y", "db", "other")
    acks = parse_acknowledgements([{"fingerprint": checks[0]["findings"][0]["fingerprint"], "reason": "ok",
                                    "expires": datetime.date(2027, 1, 1)}])
    apply(checks, acks, today=TODAY)
    assert [c["status"] for c in checks] == ["ok", "critical"]
    assert len(checks[0]["findings"]) == 1  # kept in the result


@pytest.mark.parametrize("item, message", [
    ({"fingerprint": "xyz", "reason": "r", "expires": "2027-01-01"}, "acknowledgements[0].fingerprint"),
    ({"fingerprint": "0123456789abcdef", "reason": "", "expires": "2027-01-01"}, "acknowledgements[0].reason"),
    ({"fingerprint": "0123456789abcdef", "reason": "r", "expires": "31/12/2027"}, "acknowledgements[0].expires: must be a date"),
    ({"fingerprint": "0123456789abcdef", "reason": "r"}, "acknowledgements[0].expires"),
])
def test_bad_acknowledgements_name_the_field(item, message):
    with pytest.raises(ParameterError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_acknowledgements([item])


def test_later_expiry_wins_for_the_same_fingerprint():
    acks = parse_acknowledgements([{"fingerprint": "0123456789ABCDEF", "reason": "a", "expires": "2027-01-01"},
                                   {"fingerprint": "0123456789abcdef", "reason": "b", "expires": "2026-01-01"}])
    assert acks["0123456789abcdef"]["reason"] == "a"
