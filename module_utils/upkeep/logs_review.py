# -*- coding: utf-8 -*-
"""The access-log review of upkeep_log_scan beyond the error rate: what GoAccess shows first.

For the window's requests: each status code, the paths most often answered 404 and 5xx, the
distinct clients and the busiest ones, the bytes served and the requests per hour. The line
parser and the block counter (logs_combined_fast) add to the same Review, with the same figures.

Memory stays flat whatever the log holds: at most MAX_CLIENTS clients and MAX_PATHS paths per
status are tracked; past that, those already tracked keep counting and the review says the
figures are a lower bound ("at least") rather than pretend.

Standard library only: shipped to managed hosts.
"""

from __future__ import annotations

import time
from collections import Counter

MAX_CLIENTS = 50000
MAX_PATHS = 10000


def _add(counts, key, count, limit):
    """Add to ``counts`` unless it is full and ``key`` new; False when it was left out."""
    if key in counts:
        counts[key] += count
        return True
    if len(counts) < limit:
        counts[key] = count
        return True
    return False


class Review(object):
    """Counters of a request log's window."""

    __slots__ = ("codes", "not_found", "server_errors", "clients", "clients_full", "served_bytes", "hours")

    def __init__(self):
        self.codes = {}           # status (int) -> requests
        self.not_found = {}       # path -> 404 responses
        self.server_errors = {}   # path -> 5xx responses
        self.clients = Counter()  # client (bytes) -> requests
        self.clients_full = False
        self.served_bytes = 0
        self.hours = {}           # UTC hour (epoch) -> requests

    def add(self, stamp, status, path, client, size):
        """One request of the window, as the line parser reads it."""
        self.codes[status] = self.codes.get(status, 0) + 1
        if status == 404:
            _add(self.not_found, path or "-", 1, MAX_PATHS)
        elif status >= 500:
            _add(self.server_errors, path or "-", 1, MAX_PATHS)
        # Clients are kept as bytes, as the block counter finds them (decoded once, at the end).
        if client is not None and not _add(self.clients, client.encode("utf-8", "surrogateescape"), 1, MAX_CLIENTS):
            self.clients_full = True
        if size:
            self.served_bytes += size
        hour = int(stamp // 3600) * 3600
        self.hours[hour] = self.hours.get(hour, 0) + 1

    def add_tally(self, tally, errors):
        """A block of the window counted whole (logs_combined_fast), its 5xx lines parsed in ``errors``."""
        for code, count in tally.codes.items():
            status = int(code)
            self.codes[status] = self.codes.get(status, 0) + count
        for path, count in tally.not_found.items():
            _add(self.not_found, path.split(b"?", 1)[0].decode("utf-8", "replace"), count, MAX_PATHS)
        for record in errors:
            _add(self.server_errors, record[6] or "-", 1, MAX_PATHS)
        self._add_clients(tally.clients)
        self.served_bytes += tally.served_bytes
        for hour, count in tally.hours.items():
            self.hours[hour] = self.hours.get(hour, 0) + count

    def _add_clients(self, clients):
        """Add the client of each request of a block: counted in C (Counter.update of a list) while
        there is room, and once the limit is reached only for the clients already tracked."""
        mine = self.clients
        if not self.clients_full:
            mine.update(clients)
            if len(mine) > MAX_CLIENTS:
                self.clients_full = True  # this block's new clients are kept; later ones are not
            return
        block = Counter(clients)
        for client in block.keys() & mine.keys():
            mine[client] += block[client]

    def merge(self, other):
        """Add a worker's Review (same source, a later part of the files)."""
        for name, limit in (("codes", None), ("not_found", MAX_PATHS), ("server_errors", MAX_PATHS),
                            ("hours", None)):
            mine = getattr(self, name)
            for key, count in getattr(other, name).items():
                if limit is None:
                    mine[key] = mine.get(key, 0) + count
                else:
                    _add(mine, key, count, limit)
        for client, count in other.clients.items():
            if not _add(self.clients, client, count, MAX_CLIENTS):
                self.clients_full = True
        self.clients_full = self.clients_full or other.clients_full
        self.served_bytes += other.served_bytes


def is_request_log(stats):
    """Whether a source's entries are requests (an access log, or a custom format with a status)."""
    source = stats.source
    return source["format"] == "combined" or bool(source.get("_requests"))


def _top(counts, limit, key_name):
    return [{key_name: key, "requests": count}
            for key, count in sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))[:limit]]


def _hour(epoch):
    return time.strftime("%Y-%m-%dT%H:00Z", time.gmtime(epoch))


def access_review(stats, top_n):
    """(metrics, extra check keys) of a request log's window."""
    review = stats.review
    hours = review.hours
    metrics = {"distinct_clients": len(review.clients), "served_bytes": review.served_bytes,
               "requests_per_hour_peak": max(hours.values()) if hours else 0,
               "requests_per_hour_mean": round(float(sum(hours.values())) / len(hours), 1) if hours else 0.0,
               "status_404": review.codes.get(404, 0)}
    extra = {"status_codes": {str(code): count for code, count in sorted(review.codes.items())},
             "top_404_paths": _top(review.not_found, top_n, "path"),
             "top_5xx_paths": _top(review.server_errors, top_n, "path"),
             "top_clients": [dict(item, client=item["client"].decode("utf-8", "replace"))
                             for item in _top(review.clients, top_n, "client")],
             # Every hour of the window that had requests, oldest first: a week is 168 entries.
             "requests_per_hour": {_hour(hour): hours[hour] for hour in sorted(hours)[-24 * 31:]}}
    if review.clients_full:
        extra["clients_note"] = ("more than %d distinct clients: distinct_clients is a lower bound and the top "
                                 "clients are among the first %d seen" % (len(review.clients), len(review.clients)))
    return metrics, extra
