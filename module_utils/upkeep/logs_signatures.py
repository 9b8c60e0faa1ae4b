# -*- coding: utf-8 -*-
"""Error messages turned into signatures: the variable parts masked into a template.

"duplicate key value violates unique constraint \"leads_pkey\" ... (id)=(4812)" and the same
error for id 4813 are one problem; the template keeps the words and replaces numbers, UUIDs,
IP addresses, hashes, emails, timestamps, path ids and quoted values with placeholders, in the
spirit of Drain3's masking step. Secret-looking values (passwords, tokens, JWTs, bearer
credentials, URL userinfo, long random strings) are masked in templates and in the examples kept
beside them, so a signature report never leaks what the log happened to contain.

Standard library only: shipped to managed hosts.
"""

from __future__ import annotations

import hashlib
import re

MAX_MESSAGE_CHARS = 2000
MAX_EXAMPLE_CHARS = 300

_SECRET_WORDS = re.compile(r"(?i)pass|pwd|secret|token|key|auth|cookie|session|credential")

# Order matters: secrets first (their values may look like anything), then the specific shapes,
# then the generic ones (quoted strings, path segments with digits, bare numbers). Each pattern
# has a guard that holds whenever the pattern can match: a substring it needs, a minimum length,
# or a (?i) regex of the words it needs (case-insensitive matching is wider than lower()). Most
# messages skip most patterns, which halves the cost of a template on the log scan's hot path
# without changing any result.
_SECRET_PATTERNS = [
    (re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 <secret>",
     re.compile(r"(?i)bearer|basic|token")),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), "<jwt>", "eyJ"),
    (re.compile(r"(?i)\b([a-z0-9_-]*(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|"
                r"authorization|auth|cookie|session[_-]?id|credential)s?)(\"?\s*[=:]\s*\"?)([^\s\"',;&}]+)"),
     r"\1\2<secret>", _SECRET_WORDS),
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@"), r"\1<secret>@",
     "://"),
    (re.compile(r"\b(?:sk|pk|rk|ghp|gho|xox[abp]|AKIA)[-_A-Za-z0-9]{12,}\b"), "<secret>", 14),
    # A long run of letters and digits with both: an API key, session id or the like.
    (re.compile(r"\b(?=[A-Za-z0-9_]*[0-9])(?=[A-Za-z0-9_]*[A-Za-z])[A-Za-z0-9_]{32,}\b"), "<token>",
     32),
]

_TEMPLATE_PATTERNS = [
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"), "<uuid>",
     "-"),
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "<email>", "@"),
    (re.compile(r"\b\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d| ?[A-Z]{3})?"), "<ts>",
     ":"),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b"), "<ip>", "."),
    # IPv6: with "::" compression, or at least four groups (so a clock time 20:42:55 is not one).
    (re.compile(r"(?i)(?<![\w:])(?:(?:[0-9a-f]{1,4}:){1,7}:(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4})*)?"
                r"|(?:[0-9a-f]{1,4}:){3,7}[0-9a-f]{1,4})(?![\w:])"), "<ip>", ":"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "<hex>", "0x"),
    (re.compile(r"\b(?=[0-9a-fA-F]*[0-9])(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{12,}\b"), "<hex>", 12),
    (re.compile(r"\"(?:[^\"\\]|\\.)*\""), '"<str>"', '"'),
    (re.compile(r"(?<![A-Za-z])'(?:[^'\\]|\\.)*'"), "'<str>'", "'"),
    # A path segment holding a digit is an id (/products/812, /u/ab12cd); the query is dropped.
    (re.compile(r"(?<=/)[^/\s?#\"']*\d[^/\s?#\"']*"), "<id>", "/"),
    (re.compile(r"(?<=[/\w])\?[^\s\"']*"), "?<query>", "?"),
    (re.compile(r"(?<![A-Za-z_<\d])\d+(?:\.\d+)?(?!\d)"), "<n>", None),
    (re.compile(r"\s+"), " ", None),
]


def _apply(patterns, text):
    for pattern, replacement, guard in patterns:
        kind = guard.__class__
        if guard is None or (guard in text if kind is str else len(text) >= guard if kind is int
                             else guard.search(text) is not None):
            text = pattern.sub(replacement, text)
    return text


def mask_secrets(text):
    """``text`` with secret-looking values replaced by placeholders."""
    return _apply(_SECRET_PATTERNS, text)


def template_of(message):
    """The signature template of an error message (secrets and variable parts masked)."""
    return _apply(_TEMPLATE_PATTERNS, mask_secrets(message[:MAX_MESSAGE_CHARS])).strip()


# Error messages repeat (the same failing route, the same exception): a template is computed
# once per distinct short message. Bounded, so memory stays flat whatever the log holds.
_TEMPLATE_CACHE = {}
_TEMPLATE_CACHE_SIZE = 20000
_CACHED_MESSAGE_CHARS = 200


def cached_template_of(message):
    """template_of(message), remembered for short messages."""
    template = _TEMPLATE_CACHE.get(message)
    if template is None:
        template = template_of(message)
        if len(message) <= _CACHED_MESSAGE_CHARS:
            if len(_TEMPLATE_CACHE) >= _TEMPLATE_CACHE_SIZE:
                _TEMPLATE_CACHE.clear()
            _TEMPLATE_CACHE[message] = template
    return template


def example_of(message):
    """A message as shown beside its template: secrets masked, shortened."""
    text = mask_secrets(message[:MAX_MESSAGE_CHARS]).strip()
    if len(text) > MAX_EXAMPLE_CHARS:
        text = text[:MAX_EXAMPLE_CHARS - 3] + "..."
    return text


_KEY_CACHE = {}


def signature_key(source, template):
    """A short stable key for a (source, template) pair, as the state file stores it."""
    key = _KEY_CACHE.get((source, template))
    if key is None:
        key = hashlib.sha1(("%s\x00%s" % (source, template)).encode("utf-8", "replace")).hexdigest()[:16]
        if len(template) <= _CACHED_MESSAGE_CHARS:
            if len(_KEY_CACHE) >= _TEMPLATE_CACHE_SIZE:
                _KEY_CACHE.clear()
            _KEY_CACHE[(source, template)] = key
    return key
