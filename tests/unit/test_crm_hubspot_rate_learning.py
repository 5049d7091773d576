"""The HubSpot limiter learns the token's limits from HubSpot's answers (issue 12, goal 6).

HubSpot states them on every answer counted on the general limits
(``X-HubSpot-RateLimit-Max`` per ``-Interval-Milliseconds`` with ``-Remaining``, ``-Secondly``
with ``-Secondly-Remaining``); the configured budget (90 per 10 s) holds only until the first
answer. A call leaves the window counted from its answer, so a limiter at HubSpot's exact limit
does not overshoot it however slow the answers; a search counts on search's own limit only.
"""

from __future__ import annotations

import asyncio

import httpx

from crm_sync.adapters.http import CrmHttp, SlidingWindowLimiter, default_classify
from crm_sync.adapters.hubspot import hubspot_limiter, learn_rate_limits


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def _stated(
    *, most: int = 100, remaining: int = 99, secondly: int = 10, status: int = 200
) -> httpx.Response:
    return httpx.Response(status, headers=_rate_headers(most, remaining, secondly))


def _rate_headers(most: int, remaining: int, secondly: int) -> dict[str, str]:
    return {
        "X-HubSpot-RateLimit-Max": str(most),
        "X-HubSpot-RateLimit-Remaining": str(remaining),
        "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
        "X-HubSpot-RateLimit-Secondly": str(secondly),
        "X-HubSpot-RateLimit-Secondly-Remaining": str(secondly),
        "X-HubSpot-RateLimit-Daily": "250000",
        "X-HubSpot-RateLimit-Daily-Remaining": "249000",
    }


def _calls_within(limiter: SlidingWindowLimiter, clock: _Clock, seconds: float) -> int:
    async def run() -> int:
        count = 0
        while True:
            ticket = await limiter.acquire()
            if clock.now >= seconds:
                return count
            limiter.settle(ticket)
            count += 1

    return asyncio.run(run())


def test_the_limit_hubspot_states_replaces_the_configured_one() -> None:
    clock = _Clock()
    limiter = hubspot_limiter(90, 240_000, clock=clock, sleep=clock.sleep)
    assert _calls_within(limiter, clock, 10.0) == 90

    clock = _Clock()
    limiter = hubspot_limiter(90, 240_000, clock=clock, sleep=clock.sleep)
    learn_rate_limits(limiter, _stated(remaining=100))
    assert limiter.limits[:2] == [(100, 10.0), (10, 1.0)]
    assert _calls_within(limiter, clock, 10.0) == 100


def test_a_raised_limit_is_used_and_a_lowered_one_respected() -> None:
    clock = _Clock()
    limiter = hubspot_limiter(90, 240_000, clock=clock, sleep=clock.sleep)
    learn_rate_limits(limiter, _stated(most=190, remaining=190, secondly=19))
    assert _calls_within(limiter, clock, 10.0) == 190
    learn_rate_limits(limiter, _stated(most=50, remaining=0, secondly=5))
    assert limiter.limits[:2] == [(50, 10.0), (5, 1.0)]
    assert limiter.delay() > 0  # spent: the window must empty first


def test_calls_hubspot_counts_beyond_ours_are_counted() -> None:
    """Another app of the same token spent 60 of the 100: only 40 more in this window."""
    clock = _Clock()
    limiter = hubspot_limiter(90, 240_000, clock=clock, sleep=clock.sleep)
    learn_rate_limits(limiter, _stated(remaining=40, secondly=100))
    assert _calls_within(limiter, clock, 9.9) == 40


def test_a_call_counts_from_its_answer_so_a_slow_answer_never_overshoots() -> None:
    """HubSpot counted the call somewhere between our sending and its answer: the window
    releases the call 10 s after the answer, not 10 s after the sending."""
    clock = _Clock()
    limiter = SlidingWindowLimiter([(2, 10.0)], clock=clock, sleep=clock.sleep)

    async def run() -> float:
        first = await limiter.acquire()
        clock.now = 0.8  # the first answer took 0.8 s
        limiter.settle(first)
        limiter.settle(await limiter.acquire())
        await limiter.acquire()  # the third must wait for the first to leave
        return clock.now

    assert abs(asyncio.run(run()) - 10.8) < 1e-9


def test_a_search_counts_on_its_own_limit_only() -> None:
    clock = _Clock()
    general = SlidingWindowLimiter([(1, 10.0)], clock=clock, sleep=clock.sleep)
    search = SlidingWindowLimiter([(5, 1.0)], clock=clock, sleep=clock.sleep)
    http = CrmHttp(
        system="hubspot",
        client=httpx.AsyncClient(
            base_url="http://hubspot.test", transport=httpx.MockTransport(lambda _: _ok())
        ),
        limiter=general,
        attempts=1,
        initial_backoff=0.01,
        max_backoff=0.01,
        classify=default_classify,
    )

    async def run() -> None:
        for _ in range(5):
            await http.call("POST", "/crm/v3/objects/companies/search", limiter=search)
        await http.call("POST", "/crm/v3/objects/deals/batch/upsert")
        await http.client.aclose()

    asyncio.run(run())
    assert clock.now == 0.0  # five searches and the general call: none waited on the other


def test_a_429_is_learnt_and_waited_out_then_the_call_goes_through() -> None:
    clock = _Clock()
    limiter = hubspot_limiter(90, 240_000, clock=clock, sleep=clock.sleep)
    answers = [
        httpx.Response(
            429,
            json={"status": "error", "category": "RATE_LIMITS"},
            headers={**_rate_headers(100, 0, 10), "Retry-After": "0"},
        ),
        _ok(),
    ]
    http = CrmHttp(
        system="hubspot",
        client=httpx.AsyncClient(
            base_url="http://hubspot.test",
            transport=httpx.MockTransport(lambda _: answers.pop(0)),
        ),
        limiter=limiter,
        attempts=3,
        initial_backoff=0.01,
        max_backoff=0.01,
        classify=default_classify,
        learn=learn_rate_limits,
    )

    async def run() -> int:
        response = await http.call("POST", "/crm/v3/objects/deals/batch/upsert")
        await http.client.aclose()
        return response.status_code

    assert asyncio.run(run()) == 200
    assert clock.now >= 10.0  # HubSpot said the window was spent: the retry waited it out


def _ok() -> httpx.Response:
    return httpx.Response(200, json={"results": []})
