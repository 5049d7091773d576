"""What the queue's use cases receive, and the names they share."""

from __future__ import annotations

from dataclasses import dataclass

from conflict_resolver.domain.policy import Policy
from services.clock import Clock
from services.uow import TransactionRunner

PRINCIPALS_CONSUMER = "conflict_resolver.principals"
SLA_ACTOR = "policy:sla"


@dataclass(frozen=True)
class QueueContext:
    transactions: TransactionRunner
    clock: Clock
    policy: Policy
    admin_token: str
