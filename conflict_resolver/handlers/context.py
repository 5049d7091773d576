"""What the resolver's use cases receive: the consumer groups' names, the context of the
HTTP-driven and scheduled use cases, and the cause of an event-driven change."""

from __future__ import annotations

from dataclasses import dataclass

from conflict_resolver.domain.policy import Policy
from conflict_resolver.domain.protection import Cause
from services.clock import Clock
from services.events import EventContext
from services.uow import TransactionRunner

SUBMISSIONS_CONSUMER = "conflict_resolver.submissions"
CRM_CONSUMER = "conflict_resolver.crm"


@dataclass(frozen=True)
class Context:
    transactions: TransactionRunner
    clock: Clock
    policy: Policy  # the built-in default; decisions use the latest stored version


def cause_of(event: EventContext) -> Cause:
    """The domain's cause of a change an event makes (its id, its registration's correlation)."""
    return Cause(event.cause.event_id, event.cause.correlation_id)
