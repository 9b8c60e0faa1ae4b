# -*- coding: utf-8 -*-
"""A streaming quantile estimate with bounded memory and a guaranteed relative error.

A log-bucketed histogram in the manner of DDSketch (Masson, Rim, Lee, VLDB 2019): a value x > 0
goes to bucket ceil(log_gamma(x)) with gamma = (1 + a) / (1 - a); every value of a bucket lies
within a relative distance ``a`` of the bucket's representative 2 * gamma**i / (gamma + 1). So the
estimate of any quantile is within ``a`` (relative) of the exact value of the sample at that
rank. Memory is one counter per occupied bucket: latencies between 1 µs and 10^9 ms need at most
about 1 500 buckets at a = 1 %, whatever the number of values.

Standard library only: shipped to managed hosts.
"""

from __future__ import annotations

import math

DEFAULT_RELATIVE_ACCURACY = 0.01
# Values below this (ms) are counted as zero: their absolute error is under a microsecond.
MIN_INDEXABLE = 1e-3


class QuantileSketch(object):
    """Counts of values per logarithmic bucket; ``quantile(q)`` within ``relative_accuracy``."""

    __slots__ = ("relative_accuracy", "_gamma", "_log_gamma", "_buckets", "_zeros", "count", "total",
                 "min", "max")

    def __init__(self, relative_accuracy=DEFAULT_RELATIVE_ACCURACY):
        if not 0 < relative_accuracy < 1:
            raise ValueError("relative_accuracy must be in (0, 1), got %r" % (relative_accuracy,))
        self.relative_accuracy = relative_accuracy
        self._gamma = (1 + relative_accuracy) / (1 - relative_accuracy)
        self._log_gamma = math.log(self._gamma)
        self._buckets = {}
        self._zeros = 0
        self.count = 0
        self.total = 0.0
        self.min = None
        self.max = None

    def add(self, value, count=1):
        """Count a non-negative value ``count`` times; negative and non-finite values are ignored."""
        if not value >= 0 or value == float("inf") or count < 1:
            return
        self.count += count
        self.total += value * count
        if self.min is None or value < self.min:
            self.min = value
        if self.max is None or value > self.max:
            self.max = value
        if value < MIN_INDEXABLE:
            self._zeros += count
            return
        index = int(math.ceil(math.log(value) / self._log_gamma))
        buckets = self._buckets
        buckets[index] = buckets.get(index, 0) + count

    def merge(self, other):
        """Add another sketch's counts (same accuracy), e.g. from a second worker."""
        if other.relative_accuracy != self.relative_accuracy:
            raise ValueError("cannot merge sketches of different accuracy")
        for index, count in other._buckets.items():
            self._buckets[index] = self._buckets.get(index, 0) + count
        self._zeros += other._zeros
        self.count += other.count
        self.total += other.total
        for value in (other.min, other.max):
            if value is not None:
                self.min = value if self.min is None else min(self.min, value)
                self.max = value if self.max is None else max(self.max, value)

    @property
    def bucket_count(self):
        return len(self._buckets) + (1 if self._zeros else 0)

    def quantile(self, q):
        """Estimate of the ``q`` quantile by linear interpolation between closest ranks, or None.

        The definition is the one numpy, R (type 7) and spreadsheets use by default: with the n
        values sorted as x[0] <= ... <= x[n-1] and h = q * (n - 1), the quantile is
        x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)]). Reading only the value at
        floor(h) (nearest rank) is off by the whole gap when h falls between two distant values,
        as at the p99 of response times with a gap in their tail; interpolating the estimates of
        both neighbours keeps the bound, since each is within ``relative_accuracy`` of its exact
        value and a weighted mean of errors within a * x[i] and a * x[i+1] is within a times the
        same weighted mean of the values. Values below MIN_INDEXABLE count as exactly 0 (an
        absolute error under a microsecond); estimates are clamped to the observed min and max.
        """
        if self.count == 0:
            return None
        if not 0 <= q <= 1:
            raise ValueError("quantile must be in [0, 1], got %r" % (q,))
        position = q * (self.count - 1)
        low = int(math.floor(position))
        fraction = position - low
        below = self._value_at_rank(low)
        if fraction == 0 or low + 1 >= self.count:
            return below
        return below + fraction * (self._value_at_rank(low + 1) - below)

    def _value_at_rank(self, rank):
        """Estimate of the value at 0-based ``rank`` of the sorted values."""
        seen = self._zeros
        if rank < seen:
            return 0.0 if self.min < MIN_INDEXABLE else self.min
        for index in sorted(self._buckets):
            seen += self._buckets[index]
            if rank < seen:
                estimate = 2.0 * self._gamma ** index / (self._gamma + 1)
                return min(max(estimate, self.min), self.max)
        return self.max
