"""Retry and backoff bounds (FR-007, NFR-002), property-tested (NFR-004)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qorch.runtime.retry import RetryPolicy

policies = st.builds(
    RetryPolicy,
    attempts=st.integers(1, 12),
    base_s=st.floats(0.0, 5.0),
    factor=st.floats(1.0, 4.0),
    cap_s=st.floats(0.0, 30.0),
    jitter=st.floats(0.0, 1.0),
)


@given(policies, st.integers(0, 2**32))
def test_delays_are_bounded_counted_and_reproducible(policy, seed):
    delays = list(policy.delays(random.Random(seed)))
    assert len(delays) == policy.attempts - 1
    for k, d in enumerate(delays, start=1):
        nominal = policy.nominal(k)
        assert nominal <= policy.cap_s
        assert (1 - policy.jitter) * nominal - 1e-12 <= d <= nominal + 1e-12
    assert sum(delays) <= policy.total_bound() + 1e-9
    assert delays == list(policy.delays(random.Random(seed)))


@given(policies)
def test_nominal_delays_grow_until_the_cap(policy):
    nominal = [policy.nominal(k) for k in range(1, 12)]
    assert nominal == sorted(nominal)
    assert all(d <= policy.cap_s for d in nominal)


def test_the_documented_defaults_and_bad_values():
    p = RetryPolicy()
    assert [p.nominal(k) for k in (1, 2, 3, 10)] == [0.05, 0.1, 0.2, 2.0]
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(jitter=1.5)
    with pytest.raises(ValueError):
        p.nominal(0)
