"""A unit of work for listing a service's subscriptions (``services.events``) without I/O."""

from __future__ import annotations

from typing import cast

from sqlalchemy import MetaData

from services.clock import SystemClock
from services.events import Emitter, UnitOfWork
from services.tables import inbox_table, outbox_table
from services.uow import TransactionRunner


def declaration_unit() -> UnitOfWork:
    """Subscriptions only record their handlers when declared: no I/O is needed to list them."""
    return UnitOfWork(
        transactions=cast(TransactionRunner, None),
        clock=SystemClock(),
        inbox=inbox_table(MetaData()),
        emitter=Emitter(source="/test", outbox=outbox_table(MetaData())),
    )
