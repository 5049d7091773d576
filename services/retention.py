"""Bounded growth: bookkeeping rows are deleted once nothing can need them any more.

The inbox, published outbox rows, idempotency records, webhook deliveries and CRM webhook
de-duplication rows grow with every event. Each :class:`PruneRule` says how long one kind of
row matters (its window: an inbox row must outlive every redelivery of its event, an
idempotency record the retry promise of API.md) and the :class:`Pruner` deletes older rows on
a schedule, a small batch per short transaction so API writes never queue behind it (on SQLite
a transaction holds the one write lock). Lifetimes come from ``DEALREG_RETENTION_*``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import ColumnElement, Table, delete, select, tuple_

from services.clock import Clock
from services.polling import poll
from services.settings import RetentionSettings
from services.uow import TransactionRunner

log = structlog.get_logger(__name__)


@dataclass(frozen=True, kw_only=True)
class PruneRule:
    """Rows of ``table`` whose ``timestamp`` is older than ``keep_for`` (and match ``only``)."""

    name: str
    table: Table
    timestamp: ColumnElement[Any]
    keep_for: timedelta
    only: ColumnElement[bool] | None = None


def bookkeeping_rules(
    settings: RetentionSettings,
    *,
    inbox: Table,
    outbox: Table,
    inbox_only: ColumnElement[bool] | None = None,
) -> list[PruneRule]:
    """The rules every service has: its inbox and its published outbox rows.

    An unpublished outbox row is never pruned (``published_at`` is NULL, so never older).
    """
    return [
        PruneRule(
            name="inbox",
            table=inbox,
            timestamp=inbox.c.processed_at,
            keep_for=timedelta(days=settings.inbox_days),
            only=inbox_only,
        ),
        PruneRule(
            name="outbox",
            table=outbox,
            timestamp=outbox.c.published_at,
            keep_for=timedelta(days=settings.outbox_published_days),
        ),
    ]


class Pruner:
    def __init__(
        self,
        *,
        transactions: TransactionRunner,
        clock: Clock,
        rules: Sequence[PruneRule],
        batch_size: int,
        interval_seconds: float,
    ) -> None:
        self._transactions = transactions
        self._clock = clock
        self._rules = list(rules)
        self._batch_size = batch_size
        self._interval = interval_seconds

    async def run(self) -> None:
        """Prune now and then every interval, until cancelled."""

        async def step() -> bool:
            pruned = await self.prune_once()
            if any(pruned.values()):
                log.info("pruned old bookkeeping rows", **pruned)
            return False  # one pass an interval

        await poll(step, idle_seconds=self._interval)

    async def prune_once(self) -> dict[str, int]:
        """Delete every row past its window; returns how many each rule deleted."""
        return {rule.name: await self._prune(rule) for rule in self._rules}

    async def _prune(self, rule: PruneRule) -> int:
        cutoff = self._clock.now() - rule.keep_for
        total = 0
        while True:
            deleted = await self._delete_batch(rule, cutoff)
            total += deleted
            if deleted < self._batch_size:
                return total

    async def _delete_batch(self, rule: PruneRule, cutoff: Any) -> int:
        key_columns = list(rule.table.primary_key.columns)
        expired = rule.timestamp < cutoff
        if rule.only is not None:
            expired = expired & rule.only
        batch = select(*key_columns).where(expired).limit(self._batch_size)
        async with self._transactions.transaction() as session:
            result = await session.execute(
                delete(rule.table).where(tuple_(*key_columns).in_(batch))
            )
        return int(result.rowcount)  # type: ignore[attr-defined]
