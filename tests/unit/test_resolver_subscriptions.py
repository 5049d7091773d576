"""conflict_resolver's subscriptions (``app.subscriptions``): what it consumes, on which
topics, in which consumer groups, and which of them hear only the declared sender."""

from __future__ import annotations

from typing import cast

from sqlalchemy import MetaData

from conflict_resolver import handlers
from conflict_resolver.app import subscriptions
from conflict_resolver.queue.handlers import PRINCIPALS_CONSUMER
from schemas.flows import CONFLICT_RESOLVER
from schemas.topics import CRM, PRINCIPALS, REGISTRATIONS
from services.clock import SystemClock
from services.events import Emitter, UnitOfWork
from services.tables import inbox_table, outbox_table
from services.uow import TransactionRunner


def _unit() -> UnitOfWork:
    """Subscriptions only record their handlers when declared: no I/O is needed to list them."""
    return UnitOfWork(
        transactions=cast(TransactionRunner, None),
        clock=SystemClock(),
        inbox=inbox_table(MetaData()),
        emitter=Emitter(source="/test", outbox=outbox_table(MetaData())),
    )


def test_conflict_resolver_consumes_what_the_flows_declare() -> None:
    declared = [p for s in subscriptions(_unit()) for p in s.payload_types]
    assert len(declared) == len(set(declared))
    assert set(declared) == set(CONFLICT_RESOLVER.receives)


def test_each_group_reads_one_topic_and_control_topics_hear_only_their_sender() -> None:
    groups = {s.consumer: (s.topics, s.trusted_senders_only) for s in subscriptions(_unit())}
    assert groups == {
        handlers.SUBMISSIONS_CONSUMER: ([REGISTRATIONS.name], False),
        handlers.CRM_CONSUMER: ([CRM.name], True),
        PRINCIPALS_CONSUMER: ([PRINCIPALS.name], True),
    }
