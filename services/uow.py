"""One transaction of a handler: its state changes, its inbox row and its outbox events.

After a successful commit that staged events it wakes the outbox relay, so events leave
within milliseconds instead of at the next poll (read-only transactions do not wake it).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession

from services.db import SessionFactory
from services.outbox import STAGED


class TransactionRunner:
    def __init__(self, session_factory: SessionFactory, relay_wake: asyncio.Event | None) -> None:
        self._session_factory = session_factory
        self._relay_wake = relay_wake

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """Yield a session inside a transaction; commit on success, roll back on error."""
        async with self._session_factory() as session:
            async with session.begin():
                yield session
            staged = session.info.get(STAGED, False)
        if staged and self._relay_wake is not None:
            self._relay_wake.set()
