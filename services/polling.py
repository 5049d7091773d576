"""Background work, one way: do a step; when it found nothing to do, idle for a poll interval
(or less, when something wakes it); until cancelled.

The expiry and SLA jobs, the outbox relay, the webhook dispatcher, the CRM pusher and the
retention pruner all run like this. Failures are the supervisor's (``ServiceRuntime``): a step
that raises ends the loop, and the supervisor restarts it with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import NoReturn

Step = Callable[[], Awaitable[bool]]


async def idle(seconds: float, wake: asyncio.Event | None = None) -> None:
    """Wait ``seconds``, or until ``wake`` is set (it is cleared for the next wait)."""
    if wake is None:
        await asyncio.sleep(seconds)
        return
    # asyncio.timeout, not wait_for: on Python 3.11 a wait_for whose timeout fires as the task
    # is cancelled swallows the cancellation, and the loop ran on while its service stopped
    # (a stop took 30 s, until the lifespan's own timeout).
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await wake.wait()
    wake.clear()


async def poll(step: Step, *, idle_seconds: float, wake: asyncio.Event | None = None) -> NoReturn:
    """Run ``step`` until cancelled: again at once while it reports work done (True), after
    ``idle_seconds`` (or a ``wake``) when it reports none (False)."""
    while True:
        if not await step():
            await idle(idle_seconds, wake)
