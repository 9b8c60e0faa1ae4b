"""The streaming quantile sketch stays within its stated relative error of the exact percentile."""

from __future__ import annotations

import random

import pytest

from ansible.module_utils.upkeep.logs_quantile import DEFAULT_RELATIVE_ACCURACY, QuantileSketch


def _exact(ordered, q):
    return ordered[int(q * (len(ordered) - 1))]


@pytest.mark.parametrize("distribution", ["lognormal", "uniform", "pareto", "bimodal"])
def test_quantiles_within_stated_bound(distribution):
    rng = random.Random(distribution)
    draw = {
        "lognormal": lambda: rng.lognormvariate(4, 1.2),
        "uniform": lambda: rng.uniform(0.5, 3000),
        "pareto": lambda: rng.paretovariate(1.1) * 10,
        "bimodal": lambda: rng.gauss(40, 5) if rng.random() < 0.9 else rng.gauss(2500, 300),
    }[distribution]
    values = [max(0.01, draw()) for _ in range(50000)]
    sketch = QuantileSketch()
    for value in values:
        sketch.add(value)
    ordered = sorted(values)
    for q in (0.0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0):
        exact = _exact(ordered, q)
        assert abs(sketch.quantile(q) - exact) <= DEFAULT_RELATIVE_ACCURACY * exact + 1e-12, (q, exact)
    assert sketch.count == len(values) and sketch.bucket_count < 2000


def test_memory_is_bounded_by_the_value_range_not_the_count():
    sketch = QuantileSketch()
    rng = random.Random(7)
    for _ in range(200000):
        sketch.add(rng.uniform(1, 10000))
    # log(10^4) / log(1.01/0.99) is about 461 buckets, whatever the number of values.
    assert sketch.bucket_count <= 470


def test_zero_negative_and_empty():
    sketch = QuantileSketch()
    assert sketch.quantile(0.5) is None
    for value in (0.0, 0.0, -5, float("nan"), float("inf"), 10.0):
        sketch.add(value)
    assert sketch.count == 3 and sketch.quantile(0.0) == 0.0 and abs(sketch.quantile(1.0) - 10.0) <= 0.1


def test_merge_equals_single_sketch():
    rng = random.Random(3)
    values = [rng.expovariate(0.01) for _ in range(10000)]
    whole, left, right = QuantileSketch(), QuantileSketch(), QuantileSketch()
    for index, value in enumerate(values):
        whole.add(value)
        (left if index % 2 else right).add(value)
    left.merge(right)
    assert [left.quantile(q) for q in (0.5, 0.95, 0.99)] == [whole.quantile(q) for q in (0.5, 0.95, 0.99)]

