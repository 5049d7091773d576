"""HubSpot's general limiter spends the 10-second budget evenly (the bench_crm_drain finding).

A backlog pushed as fast as the 10-second window allows spent all 90 calls in the first few
seconds on small batches (a push takes the deals due when it starts, up to four calls each) and
then stalled for the rest of the window; HubSpot also advertises a per-second limit
(``X-HubSpot-RateLimit-Secondly``, a tenth of the 10-second one) that such bursts exceed.
"""

from __future__ import annotations

import asyncio

from crm_sync.adapters.hubspot import hubspot_limiter


def _acquired_at(per_ten_seconds: int, calls: int) -> list[float]:
    now = [0.0]
    stamps: list[float] = []

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    limiter = hubspot_limiter(per_ten_seconds, 240_000, clock=lambda: now[0], sleep=sleep)

    async def run() -> None:
        for _ in range(calls):
            await limiter.acquire()
            stamps.append(now[0])

    asyncio.run(run())
    return stamps


def test_no_second_holds_more_than_a_tenth_of_the_ten_second_budget() -> None:
    stamps = _acquired_at(90, 200)
    for index, stamp in enumerate(stamps):
        in_the_second = [s for s in stamps[index:] if s < stamp + 1.0]
        assert len(in_the_second) <= 9, (stamp, len(in_the_second))


def test_the_ten_second_budget_is_still_used_in_full() -> None:
    stamps = _acquired_at(90, 181)
    # 90 calls in any 10 seconds and no fewer: the 181st call comes at 20 s, not later.
    assert all(sum(1 for s in stamps if start <= s < start + 10.0) <= 90 for start in stamps)
    assert stamps[-1] <= 20.0 + 1e-9


def test_a_small_push_is_not_delayed() -> None:
    assert _acquired_at(90, 4) == [0.0, 0.0, 0.0, 0.0]
