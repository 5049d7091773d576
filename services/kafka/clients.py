"""Starting aiokafka clients so that nothing outlives a cancelled start."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable


async def start_or_stop(
    start: Callable[[], Awaitable[None]], stop: Callable[[], Awaitable[None]]
) -> None:
    """Run ``start``; if it fails or is cancelled, run ``stop`` before re-raising.

    A cancellation (a service stopped while it connects) is not let into ``start``: aiokafka
    0.14 loses the connection it bootstraps through when a cancellation lands while that
    connection waits for its metadata answer (it is not in the client's pool yet, so ``stop``
    cannot close it, and it outlives the event loop). So the start runs to its end, bounded by
    the client's request timeout, and is then stopped.
    """
    starting = asyncio.ensure_future(start())
    try:
        await asyncio.shield(starting)
    except asyncio.CancelledError:
        with contextlib.suppress(BaseException):  # its own failure is not the news here
            await starting
        await stop()
        raise
    except BaseException:
        await stop()
        raise
