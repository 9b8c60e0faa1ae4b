# -*- coding: utf-8 -*-
"""The access-log review of upkeep_log_scan beyond the error rate: what GoAccess shows first.

Standard library only: shipped to managed hosts.
"""

from __future__ import annotations


def is_request_log(stats):
    """Whether a source's entries are requests (an access log, or a custom format with a status)."""
    source = stats.source
    return source["format"] == "combined" or bool(source.get("_requests"))


def access_review(stats, top_n):
    """(metrics, extra check keys) of a request log's current window."""
    return {}, {}
