"""A token bucket: ``rate`` requests per second on average, up to ``burst`` at once. Pure."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class TokenBucket:
    """Refills continuously at ``rate`` tokens a second up to ``burst``; a request takes one.

    Time is a monotonic number of seconds passed in by the caller, so the bucket is tested
    without a clock.
    """

    rate: float
    burst: float
    tokens: float
    updated_at: float

    @classmethod
    def full(cls, *, rate: float, burst: float, now: float) -> TokenBucket:
        return cls(rate=rate, burst=burst, tokens=burst, updated_at=now)

    def take(self, now: float) -> float:
        """Take a token: 0 when allowed, else the seconds until one is available."""
        elapsed = max(0.0, now - self.updated_at)
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
        self.updated_at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


def retry_after_header(wait_seconds: float) -> int:
    """``Retry-After`` is whole seconds: round up, never 0."""
    return max(1, math.ceil(wait_seconds))
