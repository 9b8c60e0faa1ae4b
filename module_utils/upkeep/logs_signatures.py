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

# Order matters: secrets first (their values may look like anything), then the specific shapes,
# then the generic ones (quoted strings, path segments with digits, bare numbers).
_SECRET_PATTERNS = [
    (re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 <secret>"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), "<jwt>"),
    (re.compile(r"(?i)\b([a-z0-9_-]*(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|"
                r"authorization|auth|cookie|session[_-]?id|credential)s?)(\"?\s*[=:]\s*\"?)([^\s\"',;&}]+)"),
     r"\1\2<secret>"),
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@"), r"\1<secret>@"),
    (re.compile(r"\b(?:sk|pk|rk|ghp|gho|xox[abp]|AKIA)[-_A-Za-z0-9]{12,}\b"), "<secret>"),
    # A long run of letters and digits with both: an API key, session id or the like.
    (re.compile(r"\b(?=[A-Za-z0-9_]*[0-9])(?=[A-Za-z0-9_]*[A-Za-z])[A-Za-z0-9_]{32,}\b"), "<token>"),
]

_TEMPLATE_PATTERNS = [
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"), "<uuid>"),
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "<email>"),
    (re.compile(r"\b\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d| ?[A-Z]{3})?"), "<ts>"),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b"), "<ip>"),
    # IPv6: with "::" compression, or at least four groups (so a clock time 20:42:55 is not one).
    (re.compile(r"(?i)(?<![\w:])(?:(?:[0-9a-f]{1,4}:){1,7}:(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4})*)?"
                r"|(?:[0-9a-f]{1,4}:){3,7}[0-9a-f]{1,4})(?![\w:])"), "<ip>"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "<hex>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*[0-9])(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{12,}\b"), "<hex>"),
    (re.compile(r"\"(?:[^\"\\]|\\.)*\""), '"<str>"'),
    (re.compile(r"(?<![A-Za-z])'(?:[^'\\]|\\.)*'"), "'<str>'"),
    # A path segment holding a digit is an id (/products/812, /u/ab12cd); the query is dropped.
    (re.compile(r"(?<=/)[^/\s?#\"']*\d[^/\s?#\"']*"), "<id>"),
    (re.compile(r"(?<=[/\w])\?[^\s\"']*"), "?<query>"),
    (re.compile(r"(?<![A-Za-z_<\d])\d+(?:\.\d+)?(?!\d)"), "<n>"),
    (re.compile(r"\s+"), " "),
]


def mask_secrets(text):
    """``text`` with secret-looking values replaced by placeholders."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def template_of(message):
    """The signature template of an error message (secrets and variable parts masked)."""
    text = mask_secrets(message[:MAX_MESSAGE_CHARS])
    for pattern, replacement in _TEMPLATE_PATTERNS:
        text = pattern.sub(replacement, text)
    return text.strip()


def example_of(message):
    """A message as shown beside its template: secrets masked, shortened."""
    text = mask_secrets(message[:MAX_MESSAGE_CHARS]).strip()
    if len(text) > MAX_EXAMPLE_CHARS:
        text = text[:MAX_EXAMPLE_CHARS - 3] + "..."
    return text


def signature_key(source, template):
    """A short stable key for a (source, template) pair, as the state file stores it."""
    return hashlib.sha1(("%s\x00%s" % (source, template)).encode("utf-8", "replace")).hexdigest()[:16]
