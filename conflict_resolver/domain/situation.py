"""What the rules read and what they answer: the registration to decide, the claims and
facts it may collide with, and the decision. Plain immutable data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from conflict_resolver.domain.families import AccountContext
from conflict_resolver.domain.matching import MatchEvidence

Outcome = Literal["approved", "rejected", "pending_review"]
ClaimState = Literal["protected", "in_review", "waitlisted", "won"]


@dataclass(frozen=True)
class Submission:
    """The registration to decide, as the resolver knows it from ``registration.submitted``."""

    registration_id: str
    submission_seq: int
    partner_id: str
    partner_tier: str
    account_key: str
    product_line: str
    partner_status: str = "active"
    partner_product_lines: tuple[str, ...] | None = None  # None: not checked
    deal_type: str = "new"
    amount: Decimal = Decimal(0)
    currency: str = "USD"
    expected_close_date: date | None = None


@dataclass(frozen=True)
class Match:
    """An existing claim (same product line) whose customer was scored against this one."""

    registration_id: str
    partner_id: str
    submission_seq: int
    protection_key: str
    state: ClaimState
    evidence: MatchEvidence
    customer: dict[str, Any] = field(default_factory=dict)
    expires_at: datetime | None = None  # when state is "protected"
    linked: bool = False  # holds the protection of this customer's canonical account key


@dataclass(frozen=True)
class DirectOpportunity:
    """Direct sales holds this open opportunity in the CRM for the account and product line."""

    opportunity_id: str
    crm_system: str
    account_key: str
    opened_at: datetime


@dataclass(frozen=True)
class Incumbent:
    """The partner that won the last deal for the account and product line."""

    partner_id: str
    registration_id: str
    won_at: datetime


@dataclass(frozen=True)
class HouseAccountHit:
    """The house account the customer is (exactly or by matching)."""

    name: str
    account_key: str
    similarity: float


@dataclass(frozen=True)
class Holdings:
    """The live protections the registering partner already holds: one product line each."""

    product_lines: tuple[str, ...] = ()


@dataclass(frozen=True)
class Situation:
    """Everything the rules look at besides the registration and the policy."""

    matches: tuple[Match, ...] = ()
    house_account: HouseAccountHit | None = None
    direct_opportunity: DirectOpportunity | None = None
    incumbent: Incumbent | None = None
    holdings: Holdings = field(default_factory=Holdings)
    # The CRM company the customer is, with its family (``domain.families``); None: unknown.
    company: AccountContext | None = None


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    rule: str
    reason: str
    reason_code: str | None = None
    protection_key: str = ""
    protection_expires_at: datetime | None = None
    blocking_registration_id: str | None = None
    blocked_until: datetime | None = None
    waitlisted: bool = False
    competing_registration_ids: tuple[str, ...] = ()
    evidence: dict[str, Any] = field(default_factory=dict)
