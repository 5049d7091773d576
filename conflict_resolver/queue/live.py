"""The live change feed behind ``GET /v1/conflicts/stream`` (server-sent events).

One poller per process reads the open queue every 250 ms (id, owner, escalation, due time) and
compares it with the previous read: new ids are ``opened``, vanished ids ``closed``, changed
ones ``updated``. The database is the only source of truth, so this is correct whichever
instance or path (the rules' consumer, an ops decision, the SLA job, another process) changed a
case, and a case committed out of order is never skipped, unlike a "greater than the last id
seen" watermark. It polls only while at least one console is connected. The cost is one indexed
query (``state = 'open'``) per process every 250 ms, whatever the number of consoles.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from conflict_resolver.queue import store
from conflict_resolver.queue.domain import CaseChange, Fingerprint, diff_open_cases
from services.uow import TransactionRunner

log = structlog.get_logger(__name__)
POLL_SECONDS = 0.25


class LiveFeed:
    """Fans changes of the open queue out to every connected console of this process."""

    def __init__(self, transactions: TransactionRunner, *, poll_seconds: float = POLL_SECONDS):
        self._transactions = transactions
        self._poll_seconds = poll_seconds
        self._subscribers: set[asyncio.Queue[CaseChange]] = set()
        self._snapshot: dict[str, Fingerprint] | None = None
        self._wanted = asyncio.Event()

    def subscribe(self) -> asyncio.Queue[CaseChange]:
        queue: asyncio.Queue[CaseChange] = asyncio.Queue(maxsize=1000)
        self._subscribers.add(queue)
        self._wanted.set()
        return queue

    def unsubscribe(self, queue: asyncio.Queue[CaseChange]) -> None:
        self._subscribers.discard(queue)

    async def run(self) -> None:
        """Poll while anyone listens; until cancelled."""
        while True:
            if not self._subscribers:
                self._snapshot = None
                self._wanted.clear()
                await self._wanted.wait()
            await self.poll_once()
            await asyncio.sleep(self._poll_seconds)

    async def poll_once(self) -> list[CaseChange]:
        async with self._transactions.transaction() as session:
            current = await store.open_snapshot(session)
        previous, self._snapshot = self._snapshot, current
        if previous is None:
            return []
        changes = diff_open_cases(previous, current)
        for change in changes:
            for queue in list(self._subscribers):
                with contextlib.suppress(asyncio.QueueFull):
                    # A console this far behind reloads on reconnect anyway.
                    queue.put_nowait(change)
        return changes
