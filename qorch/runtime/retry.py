"""Retries with bounded exponential backoff and seeded jitter (FR-007, NFR-002).

Attempt ``k`` (``k = 1`` is the first retry) waits a delay drawn uniformly from
``[(1 - jitter) · d_k, d_k]`` where ``d_k = min(cap_s, base_s · factor^(k-1))``: never
more than ``cap_s``, never less than ``(1 - jitter)`` of the nominal delay, and the
same seed gives the same delays (NFR-001). After ``attempts`` tries in all the policy
says stop, and the fallback policy takes over.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import attrs


@attrs.frozen
class RetryPolicy:
    """How often and how patiently one operation is retried."""

    attempts: int = attrs.field(default=3, validator=attrs.validators.ge(1))
    base_s: float = attrs.field(default=0.05, validator=attrs.validators.ge(0.0))
    factor: float = attrs.field(default=2.0, validator=attrs.validators.ge(1.0))
    cap_s: float = attrs.field(default=2.0, validator=attrs.validators.ge(0.0))
    jitter: float = attrs.field(
        default=0.5, validator=[attrs.validators.ge(0.0), attrs.validators.le(1.0)]
    )

    def nominal(self, retry: int) -> float:
        """The delay before retry number ``retry`` (1-based) without jitter."""
        if retry < 1:
            raise ValueError("retries are numbered from 1")
        return min(self.cap_s, self.base_s * self.factor ** (retry - 1))

    def delays(self, rng: random.Random) -> Iterator[float]:
        """The waits before each retry: ``attempts - 1`` of them, drawn from ``rng``."""
        for retry in range(1, self.attempts):
            d = self.nominal(retry)
            yield rng.uniform((1.0 - self.jitter) * d, d)

    def total_bound(self) -> float:
        """The longest all the waits together can take."""
        return sum(self.nominal(k) for k in range(1, self.attempts))
