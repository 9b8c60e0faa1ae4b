# -*- coding: utf-8 -*-
"""Semantic versions and their precedence, per semver.org 2.0.0 section 11.

Small on purpose: parse ``MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]`` and order versions. Precedence
ignores build metadata; a pre-release sorts before its release (1.0.0-rc.1 < 1.0.0); pre-release
identifiers compare left to right, numeric ones numerically, alphanumeric ones in ASCII order,
numeric below alphanumeric, and a longer list wins when all shared fields are equal.

Standard library only: host-side modules ship it.
"""

from __future__ import annotations

import functools
import re

_SEMVER = re.compile(
    r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)


class InvalidVersion(ValueError):
    """Text that is not a semantic version."""


@functools.total_ordering
class Version(object):
    """A parsed semantic version; compares by precedence (build metadata ignored)."""

    __slots__ = ("major", "minor", "patch", "prerelease", "build")

    def __init__(self, major, minor, patch, prerelease=(), build=()):
        self.major, self.minor, self.patch = major, minor, patch
        self.prerelease = tuple(prerelease)
        self.build = tuple(build)

    def _key(self):
        return (self.major, self.minor, self.patch)

    def __eq__(self, other):
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() == other._key() and self.prerelease == other.prerelease

    def __hash__(self):
        return hash((self._key(), self.prerelease))

    def __lt__(self, other):
        if not isinstance(other, Version):
            return NotImplemented
        return compare(self, other) < 0

    def __str__(self):
        text = "%d.%d.%d" % self._key()
        if self.prerelease:
            text += "-" + ".".join(str(item) for item in self.prerelease)
        if self.build:
            text += "+" + ".".join(self.build)
        return text

    __repr__ = __str__


def parse(text):
    """The Version of ``text`` (a leading ``v`` is tolerated, as npm does); InvalidVersion otherwise."""
    match = _SEMVER.match(str(text).strip())
    if not match:
        raise InvalidVersion("not a semantic version: %r" % (text,))
    major, minor, patch, pre, build = match.groups()
    identifiers = [int(item) if item.isdigit() else item for item in pre.split(".")] if pre else []
    return Version(int(major), int(minor), int(patch), identifiers, build.split(".") if build else [])


def _compare_identifier(left, right):
    left_numeric, right_numeric = isinstance(left, int), isinstance(right, int)
    if left_numeric and not right_numeric:
        return -1
    if right_numeric and not left_numeric:
        return 1
    return (left > right) - (left < right)


def compare(left, right):
    """-1, 0 or 1 as ``left`` has lower, equal or higher precedence than ``right`` (Version or text)."""
    left = left if isinstance(left, Version) else parse(left)
    right = right if isinstance(right, Version) else parse(right)
    if left._key() != right._key():
        return -1 if left._key() < right._key() else 1
    if not left.prerelease or not right.prerelease:
        # A release outranks any of its pre-releases.
        return (not left.prerelease) - (not right.prerelease)
    for mine, theirs in zip(left.prerelease, right.prerelease):
        result = _compare_identifier(mine, theirs)
        if result:
            return result
    return (len(left.prerelease) > len(right.prerelease)) - (len(left.prerelease) < len(right.prerelease))
