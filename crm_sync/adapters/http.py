"""HTTP plumbing shared by the connectors: a client-side rate limiter and retries.

Retries use tenacity (exponential backoff with jitter) and honour ``Retry-After`` and the
rate-limit headers when the server sends them. The limiter keeps us under the CRM's documented
limits before the CRM has to say 429.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from opentelemetry.propagate import inject
from opentelemetry.trace import Span, SpanKind, StatusCode
from prometheus_client import Counter
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from crm_sync.ports import CrmRejectedError, CrmUnavailableError
from services.tracing import tracer

CRM_CALLS = Counter(
    "dealreg_crm_calls_total", "HTTP calls to the CRM by outcome", ["crm_system", "outcome"]
)


class SlidingWindowLimiter:
    """At most ``limit`` acquisitions in any ``period`` seconds, for each (limit, period) pair.

    A call counts from its acquisition; once it is answered (:meth:`settle`) it counts from the
    answer instead, in the windows of a minute or less. The CRM counted it somewhere between
    the two, so the call leaves our window no sooner than it leaves the CRM's, however slow the
    network or the CRM: a limiter at the CRM's exact limit does not overshoot it.

    The limits can be learnt from the CRM's answers (:meth:`learn`). ``clock`` and ``sleep`` are
    injectable so the rule is tested without waiting.
    """

    def __init__(
        self,
        windows: list[tuple[int, float]],
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._windows = [_Window(limit, period) for limit, period in windows if limit > 0]
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()

    def delay(self) -> float:
        """Seconds until one more call fits every window (0 when it fits now)."""
        now = self._clock()
        return max((window.delay(now) for window in self._windows), default=0.0)

    def record(self) -> list[list[float]]:
        """Count a call now; what :meth:`settle` takes once it is answered."""
        now = self._clock()
        return [stamp for window in self._windows if (stamp := window.add(now)) is not None]

    async def acquire(self) -> list[list[float]]:
        async with self._lock:
            while (wait := self.delay()) > 0:
                await self._sleep(wait)
            return self.record()

    def settle(self, ticket: list[list[float]]) -> None:
        """The call of ``ticket`` (from :meth:`acquire`) was answered: it counts from now."""
        now = self._clock()
        for stamp in ticket:
            stamp[0] = max(stamp[0], now)

    def learn(
        self, index: int, *, limit: int, period: float | None = None, remaining: int | None = None
    ) -> None:
        """What the CRM said of window ``index`` (in the order given): its limit, its period,
        and how many calls it still takes now. Calls the CRM counts beyond ours (another client
        of the same token) are counted as made now."""
        if not 0 <= index < len(self._windows) or limit <= 0:
            return
        window = self._windows[index]
        window.limit = limit
        if period is not None and period > 0:
            window.period = period
        if remaining is not None:
            now = self._clock()
            window.expire(now)
            for _ in range(max(0, limit - remaining - len(window.stamps))):
                window.add(now)

    @property
    def limits(self) -> list[tuple[int, float]]:
        """Each window's (limit, period), as configured or learnt."""
        return [(window.limit, window.period) for window in self._windows]


class _Window:
    """One (limit, period) of a limiter. Stamps are one-element lists so that a call's stamp can
    move to its answer (``settle``); a window longer than a minute (the day's) is not settled:
    a second either way is nothing to it."""

    SETTLED_UP_TO = 60.0

    def __init__(self, limit: int, period: float) -> None:
        self.limit = limit
        self.period = period
        self.stamps: deque[list[float]] = deque()

    def expire(self, now: float) -> None:
        # Stamps are in acquisition order; one settled late may hide a later one that expired,
        # which only makes the window count a call a little longer than it must.
        while self.stamps and self.stamps[0][0] <= now - self.period:
            self.stamps.popleft()

    def delay(self, now: float) -> float:
        self.expire(now)
        if len(self.stamps) < self.limit:
            return 0.0
        live = sorted(s[0] for s in self.stamps if s[0] > now - self.period)
        if len(live) < self.limit:
            return 0.0
        # The oldest ``len - limit + 1`` calls must leave before one more fits.
        return live[len(live) - self.limit] + self.period - now

    def add(self, now: float) -> list[float] | None:
        stamp = [now]
        self.stamps.append(stamp)
        return stamp if self.period <= self.SETTLED_UP_TO else None


def retry_after_seconds(response: httpx.Response) -> float | None:
    """``Retry-After`` (seconds), else HubSpot's interval header when the window is spent."""
    header = response.headers.get("retry-after")
    if header is not None:
        try:
            return max(0.0, float(header))
        except ValueError:
            return None
    if response.headers.get("x-hubspot-ratelimit-remaining") == "0":
        interval = response.headers.get("x-hubspot-ratelimit-interval-milliseconds")
        if interval and interval.isdigit():
            return int(interval) / 1000
    return None


class _WaitHonouringRetryAfter:
    def __init__(self, initial: float, maximum: float) -> None:
        # ``multiplier``: tenacity deprecated ``initial`` (same meaning); its warning fails tests.
        self._backoff = wait_exponential_jitter(multiplier=initial, max=maximum)
        self._maximum = maximum

    def __call__(self, state: RetryCallState) -> float:
        backoff = float(self._backoff(state))
        error = state.outcome.exception() if state.outcome else None
        hint = getattr(error, "retry_after", None)
        if hint is not None:
            return float(min(hint, self._maximum * 4))
        return backoff


class CrmHttp:
    """One CRM's HTTP client: limiter, retries, error mapping; never logs secrets."""

    def __init__(
        self,
        *,
        system: str,
        client: httpx.AsyncClient,
        limiter: SlidingWindowLimiter,
        attempts: int,
        initial_backoff: float,
        max_backoff: float,
        classify: Callable[[httpx.Response], Exception | None],
        on_unauthorized: Callable[[], Awaitable[None]] | None = None,
        learn: Callable[[SlidingWindowLimiter, httpx.Response], None] | None = None,
    ) -> None:
        """``learn`` reads the limits the CRM states in an answer into the limiter the call
        counted on (HubSpot's ``X-HubSpot-RateLimit-*``)."""
        self.system = system
        self.client = client
        self._limiter = limiter
        self._attempts = attempts
        self._wait = _WaitHonouringRetryAfter(initial_backoff, max_backoff)
        self._classify = classify
        self._on_unauthorized = on_unauthorized
        self._learn = learn

    async def call(
        self, method: str, url: str, *, limiter: SlidingWindowLimiter | None = None, **kwargs: Any
    ) -> httpx.Response:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=self._wait,
            retry=retry_if_exception_type(CrmUnavailableError),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._once(method, url, limiter, **kwargs)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _once(
        self, method: str, url: str, limiter: SlidingWindowLimiter | None, **kwargs: Any
    ) -> httpx.Response:
        # A call with a limiter of its own (HubSpot's search) counts on that one only.
        counted_on = limiter or self._limiter
        ticket = await counted_on.acquire()
        try:
            with crm_call_span(self.system, method, self.client.base_url.join(url)) as span:
                # The CRM may take part in the trace too: W3C `traceparent` on the request.
                headers = dict(kwargs.pop("headers", None) or {})
                inject(headers)
                response = await self._send(method, url, headers=headers, **kwargs)
                span.set_attribute("http.response.status_code", response.status_code)
                if response.status_code >= 400:
                    span.set_status(StatusCode.ERROR)
        finally:
            counted_on.settle(ticket)
        if self._learn is not None:
            self._learn(counted_on, response)
        if response.status_code == 401 and self._on_unauthorized is not None:
            CRM_CALLS.labels(crm_system=self.system, outcome="401").inc()
            await self._on_unauthorized()
            raise CrmUnavailableError("401: token refreshed", retry_after=0)
        problem = self._classify(response)
        CRM_CALLS.labels(
            crm_system=self.system, outcome="ok" if problem is None else str(response.status_code)
        ).inc()
        if problem is not None:
            raise problem
        return response

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self.client.request(method, url, **kwargs)
        except httpx.HTTPError as error:
            CRM_CALLS.labels(crm_system=self.system, outcome="network").inc()
            raise CrmUnavailableError(f"{method} {url}: {type(error).__name__}") from error


@contextmanager
def crm_call_span(system: str, method: str, url: httpx.URL) -> Iterator[Span]:
    """A client span per CRM call: method, host and path only (never the query, which may
    carry a token), the status on the way out."""
    with tracer.start_as_current_span(
        f"{method} {system}",
        kind=SpanKind.CLIENT,
        attributes={
            "http.request.method": method,
            "server.address": url.host,
            "url.path": url.path,
            "crm.system": system,
        },
    ) as span:
        yield span


# Answers that say "not now" rather than "not this data": wait, however long it takes. A
# refused token or scope (401, 403) is an operator's fix, not a reason to drop the deal.
WAIT_STATUSES = frozenset({401, 403, 408, 423, 425, 429})


def default_classify(response: httpx.Response) -> Exception | None:
    """429, 5xx and the other "not now" answers: try again (after the hint); other 4xx: the
    CRM refused the data."""
    status = response.status_code
    if status in WAIT_STATUSES or status >= 500:
        return CrmUnavailableError(
            f"{status}: {response.text[:300]}", retry_after=retry_after_seconds(response)
        )
    if status >= 400:
        return CrmRejectedError(f"{status}: {response.text[:500]}")
    return None
