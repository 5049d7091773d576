"""Leases: exactly one crm_sync instance runs the pusher, and one the reconciler, at a time.

A lease is a row (name, owner, expires_at). The holder renews it every heartbeat; another
instance takes it only once it has lapsed (a crashed or partitioned holder), and a holder that
stops releases it so the next one takes over at its next heartbeat. Plain UPDATE ... WHERE and
INSERT ... ON CONFLICT DO NOTHING (``crm_sync.adapters.leases``), so it works the same on
SQLite and PostgreSQL. Expiry is read
on the instances' clocks: keep them in sync (NTP) and the TTL well above the skew.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog

from crm_sync.adapters import leases
from services.clock import Clock
from services.uow import TransactionRunner

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class LeaseTerms:
    owner: str
    ttl_seconds: float
    heartbeat_seconds: float


async def try_acquire(
    transactions: TransactionRunner, clock: Clock, name: str, terms: LeaseTerms
) -> bool:
    """Take or renew the lease ``name``; True when ``terms.owner`` holds it afterwards."""
    now = clock.now()
    expires_at = now + timedelta(seconds=terms.ttl_seconds)
    async with transactions.transaction() as session:
        if await leases.renew(session, name, owner=terms.owner, expires_at=expires_at, now=now):
            return True
        return await leases.create(session, name, owner=terms.owner, expires_at=expires_at)


async def release(transactions: TransactionRunner, clock: Clock, name: str, owner: str) -> None:
    async with transactions.transaction() as session:
        await leases.expire(session, name, owner=owner, now=clock.now())


async def holders(transactions: TransactionRunner) -> list[dict[str, Any]]:
    async with transactions.transaction() as session:
        held = await leases.all_leases(session)
    return [
        {"name": lease.name, "owner": lease.owner, "expires_at": lease.expires_at.isoformat()}
        for lease in held
    ]


def leased(
    name: str,
    job: Callable[[], Awaitable[None]],
    *,
    transactions: TransactionRunner,
    clock: Clock,
    terms: LeaseTerms,
) -> Callable[[], Awaitable[None]]:
    """``job`` run only while this instance holds the lease ``name``; stopped when it is lost."""

    async def run() -> None:
        while True:
            if await _holds(transactions, clock, name, terms):
                log.info("lease taken", lease=name, owner=terms.owner)
                await _while_held(name, job, transactions=transactions, clock=clock, terms=terms)
                log.warning("lease lost", lease=name, owner=terms.owner)
            await asyncio.sleep(terms.heartbeat_seconds)

    return run


async def _while_held(
    name: str,
    job: Callable[[], Awaitable[None]],
    *,
    transactions: TransactionRunner,
    clock: Clock,
    terms: LeaseTerms,
) -> None:
    task: asyncio.Future[None] = asyncio.ensure_future(job())
    try:
        while True:
            await asyncio.wait({task}, timeout=terms.heartbeat_seconds)
            if task.done():
                task.result()  # a failed job is restarted by the runtime's supervisor
                return
            if not await _holds(transactions, clock, name, terms):
                return
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        with contextlib.suppress(Exception):
            await release(transactions, clock, name, terms.owner)


async def _holds(
    transactions: TransactionRunner, clock: Clock, name: str, terms: LeaseTerms
) -> bool:
    try:
        return await try_acquire(transactions, clock, name, terms)
    except Exception:  # the database is away: whoever cannot renew must stop working
        log.warning("lease could not be renewed", lease=name, exc_info=True)
        return False
