"""semver precedence (semver.org section 11) and OSV range evaluation."""

from __future__ import annotations

import pytest

from ansible.module_utils.upkeep.npm_osv import in_range, match_version
from ansible.module_utils.upkeep.semver import InvalidVersion, compare, parse

# semver.org section 11's own example chain, in increasing precedence.
ORDERED = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11",
           "1.0.0-rc.1", "1.0.0", "1.0.1", "1.1.0", "2.0.0", "10.0.0"]


def test_precedence_follows_the_specification_chain():
    for lower, higher in zip(ORDERED, ORDERED[1:]):
        assert compare(lower, higher) == -1, (lower, higher)
        assert compare(higher, lower) == 1
    assert sorted(parse(v) for v in reversed(ORDERED)) == [parse(v) for v in ORDERED]


def test_build_metadata_is_ignored_and_numbers_compare_numerically():
    assert compare("1.0.0+build.1", "1.0.0+build.2") == 0
    assert compare("1.0.0-alpha+001", "1.0.0-alpha") == 0
    assert compare("1.2.10", "1.2.9") == 1
    assert compare("1.0.0-2", "1.0.0-10") == -1  # numeric identifiers: 2 < 10, not "10" < "2"
    assert compare("1.0.0-99", "1.0.0-a") == -1  # numeric below alphanumeric
    assert compare("v2.0.0", "2.0.0") == 0


@pytest.mark.parametrize("text", ["1.0", "01.0.0", "1.0.0-", "1.0.0-01", "latest", "git+https://x/y.git", ""])
def test_invalid_versions_are_rejected(text):
    with pytest.raises(InvalidVersion):
        parse(text)


def test_osv_events_introduced_fixed_and_prereleases():
    events = [{"introduced": "0"}, {"fixed": "3.0.0"}]
    assert in_range(parse("2.0.0"), events)
    assert in_range(parse("3.0.0-rc.1"), events)  # a pre-release of the fix precedes it
    assert not in_range(parse("3.0.0"), events)
    line = [{"introduced": "6.10.0"}, {"fixed": "6.10.3"}]
    assert not in_range(parse("6.10.0-beta"), line)
    assert in_range(parse("6.10.0"), line) and in_range(parse("6.10.2"), line)
    assert not in_range(parse("6.10.3"), line) and not in_range(parse("6.9.9"), line)


def test_osv_last_affected_and_several_intervals():
    events = [{"introduced": "1.0.0"}, {"last_affected": "1.4.2"}, {"introduced": "2.0.0-alpha"}, {"fixed": "2.1.0"}]
    assert in_range(parse("1.4.2"), events)
    assert not in_range(parse("1.4.3"), events)
    assert not in_range(parse("1.9.0"), events)
    assert in_range(parse("2.0.0-alpha.1"), events)
    assert not in_range(parse("2.1.0"), events)


def test_match_version_gives_the_lowest_fix_above_and_explicit_versions():
    affected = {"ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.2.0"}, {"introduced": "2.0.0"},
                                                          {"fixed": "2.0.5"}]}], "versions": ["9.9.9"]}
    hit, _text, fixed = match_version(parse("2.0.1"), affected)
    assert hit and str(fixed) == "2.0.5"
    assert match_version(parse("9.9.9"), affected)[0]
    assert not match_version(parse("1.5.0"), affected)[0]
    git_only = {"ranges": [{"type": "GIT", "events": [{"introduced": "0"}]}]}
    assert not match_version(parse("1.0.0"), git_only)[0]


def test_ecosystem_ranges_use_semver_order_and_bad_bounds_are_reported():
    """OSV defines npm's ECOSYSTEM order as semver's; a bound that is not semver is returned as a problem."""
    ecosystem = {"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.2.0"}]}]}
    assert match_version(parse("1.1.9"), ecosystem)[0] and not match_version(parse("1.2.0"), ecosystem)[0]
    problems = []
    loose = {"ranges": [{"type": "SEMVER", "events": [{"introduced": "1.0"}, {"fixed": "1.2.0"}]},
                        {"type": "SEMVER", "events": [{"introduced": "2.0.0"}, {"last_affected": "2.1.x"}]}]}
    assert match_version(parse("1.1.0"), loose, problems) == (False, "", None)
    assert problems == ["range >=1.0 <1.2.0: introduced '1.0' not a semantic version",
                        "range >=2.0.0 <=2.1.x: last_affected '2.1.x' not a semantic version"]
