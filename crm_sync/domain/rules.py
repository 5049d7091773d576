"""Field ownership, echo suppression and ordering: who may write what, and when to listen.

DOMAIN.md: "The CRM is the system of record for sales fields; the registration service is for
partner and protection fields. A change never echoes back and forth."
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from crm_sync.domain.model import (
    OWNED_FIELDS,
    CrmDeal,
    DealSeed,
    Outcome,
    SalesState,
    StageTable,
)


def outbound_changes(
    desired: dict[str, str], last_written: dict[str, str] | None
) -> dict[str, str]:
    """The owned fields to send: those that differ from what we last wrote.

    Sales fields are never in the result, whatever ``desired`` holds: a field is never written
    back to the side that owns it.
    """
    previous = last_written or {}
    return {
        name: value
        for name, value in desired.items()
        if name in OWNED_FIELDS and previous.get(name) != value
    }


def owned_drift(desired: dict[str, str], seen_in_crm: dict[str, str]) -> dict[str, str]:
    """Owned fields someone changed in the CRM: we repair them, never adopt them."""
    return {
        name: value
        for name, value in desired.items()
        if name in OWNED_FIELDS and name in seen_in_crm and seen_in_crm[name] != value
    }


def created_sales(stages: StageTable, seed: DealSeed) -> SalesState:
    """The sales fields of an opportunity as we create it: its seed, at the first stage. Until
    sales change them, reading them back is reading our own write."""
    return SalesState(
        stage=stages.name_of(stages.initial),
        amount=seed.amount,
        currency=seed.currency,
        close_date=seed.close_date,
    )


@dataclass(frozen=True)
class AppliedState:
    """What we last applied from the CRM for one opportunity."""

    modified_at: datetime
    sales: SalesState


@dataclass(frozen=True)
class InboundDecision:
    """What an inbound CRM record means for us."""

    apply: bool
    reason: str
    changed: dict[str, object] = field(default_factory=dict)
    closed: Outcome | None = None

    @property
    def is_echo(self) -> bool:
        return self.reason == "echo"


def decide_inbound(deal: CrmDeal, applied: AppliedState | None) -> InboundDecision:
    """Apply a CRM change only if it is newer than the last one applied and changes a sales
    field; a change we wrote ourselves (or equal to what we hold) is an echo and is dropped."""
    if applied is not None and deal.modified_at <= applied.modified_at:
        return InboundDecision(apply=False, reason="stale")
    before = applied.sales if applied is not None else SalesState()
    after = deal.sales
    changed: dict[str, object] = {
        name: getattr(after, name)
        for name in ("stage", "amount", "currency", "close_date", "owner")
        if getattr(after, name) != getattr(before, name)
    }
    closed = after.outcome if after.outcome != before.outcome else None
    if not changed and closed is None:
        return InboundDecision(apply=False, reason="echo" if deal.modified_by_us else "unchanged")
    return InboundDecision(apply=True, reason="changed", changed=changed, closed=closed)


@dataclass(frozen=True)
class DirectDecision:
    """What to tell the resolver about a direct (sales-created) opportunity."""

    opened: bool = False
    closed: bool = False


def decide_direct(deal: CrmDeal, known_state: str | None) -> DirectDecision:
    """A direct opportunity is reported once when open, once more when it closes or goes."""
    is_open = not deal.archived and deal.sales.outcome is None
    if is_open and known_state != "open":
        return DirectDecision(opened=True)
    if not is_open and known_state == "open":
        return DirectDecision(closed=True)
    return DirectDecision()
