"""Per-API-key rate limiting, in this process's memory.

The limit holds per process: deal_registration runs one uvicorn worker, so per process is per
service. With several workers or replicas each enforces the limit on its own (documented in
docs/partner-api.md); a shared store would be the next step.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from deal_registration.domain.rate_limit import TokenBucket, retry_after_header


class RateLimiter:
    """One token bucket per key; the least recently seen keys are forgotten past ``max_keys``."""

    def __init__(
        self,
        *,
        rate: float,
        burst: float,
        monotonic: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self._rate = rate
        self._burst = burst
        self._monotonic = monotonic
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def check(self, key: str) -> int | None:
        """None when the request may go ahead, else the ``Retry-After`` seconds."""
        now = self._monotonic()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = TokenBucket.full(rate=self._rate, burst=self._burst, now=now)
            self._buckets[key] = bucket
            if len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        wait = bucket.take(now)
        return None if wait == 0 else retry_after_header(wait)
