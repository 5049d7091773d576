"""What a protection change reads (:class:`Claim`) and returns (:class:`Outcome`), and the
small readings of a registration every change needs. Data only: the rules are in the
sibling modules."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from conflict_resolver.domain.matching import (
    CustomerProfile,
    NormalisedCustomer,
    blocking_keys,
    normalise_customer,
)
from conflict_resolver.domain.matching import cache_info as matching_caches
from conflict_resolver.domain.rules import Match, Submission
from schemas.attribution import DealAttributed
from schemas.envelope import EventPayload
from schemas.registration import CustomerData, RegistrationSubmitted


class ProtectionConflictError(Exception):
    """An approval that would break exclusivity or first-to-register (the queue answers 409)."""


# --- What the functions read ----------------------------------------------------------------


@dataclass(frozen=True)
class Cause:
    """What caused a change: the event (for causation) and the registration's correlation."""

    event_id: str | None
    correlation_id: str


@dataclass(frozen=True)
class Claim:
    """A registration as the resolver recorded it, with the protection it holds (if any)."""

    submitted: RegistrationSubmitted
    status: str
    protection_key: str
    correlation_id: str
    holds_until: datetime | None = None  # the ``protections`` row's expiry, if it holds one
    waitlisted: bool = False
    extension_count: int = 0

    @property
    def registration_id(self) -> str:
        return self.submitted.registration_id

    @property
    def account_key(self) -> str:
        return self.submitted.account_key

    @property
    def product_line(self) -> str:
        return self.submitted.product_line

    @property
    def submission_seq(self) -> int:
        return self.submitted.submission_seq

    def holds_live_protection(self, now: datetime) -> bool:
        return self.holds_until is not None and self.holds_until > now

    def holds_stale_protection(self, now: datetime) -> bool:
        """Its window has passed but nobody has ended it yet."""
        return self.holds_until is not None and self.holds_until <= now


# --- What the functions return --------------------------------------------------------------


@dataclass(frozen=True)
class ClaimUpdate:
    registration_id: str
    values: Mapping[str, Any]


@dataclass(frozen=True)
class ProtectionWrite:
    """A new ``protections`` row; its primary key (account key, product line) refuses a
    second live one whatever path writes it."""

    account_key: str
    product_line: str
    registration_id: str
    partner_id: str
    expires_at: datetime


@dataclass(frozen=True)
class ProtectionMove:
    """An existing protection's new expiry (an extension)."""

    registration_id: str
    expires_at: datetime


@dataclass(frozen=True)
class KeyFiling:
    """Drop the registration's blocking keys, then file these (none: only drop)."""

    registration_id: str
    product_line: str
    keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class IncumbentWrite:
    account_key: str
    product_line: str
    partner_id: str
    registration_id: str
    won_at: datetime


@dataclass(frozen=True)
class CaseToOpen:
    case_id: str
    registration_id: str
    account_key: str
    product_line: str
    rule: str
    reason_code: str
    evidence: dict[str, Any]
    competing_registration_ids: tuple[str, ...]
    opened_at: datetime
    due_at: datetime


@dataclass(frozen=True)
class CaseToClose:
    """The registration's open case leaves the queue (the partner withdrew it, or sales ops
    gave it a protection by transfer)."""

    registration_id: str
    closed_at: datetime
    decided_by: str = "partner"
    reason: str = "The partner withdrew the registration."
    approved_registration_id: str | None = None


@dataclass(frozen=True)
class CaseToReopen:
    """The registration's decided case opens again (an appeal): its evidence and competing
    claims are the original ones; it gets a new due time and a line in its history."""

    case_id: str
    registration_id: str
    reopened_at: datetime
    due_at: datetime
    actor: str
    note: str


@dataclass(frozen=True)
class Emission:
    """An event to stage in the outbox, with what its envelope needs."""

    payload: EventPayload
    registration_id: str
    partition_key: str
    cause: Cause


@dataclass(frozen=True)
class WaitlistToMove:
    """A protection ended without a win: re-evaluate the waitlist behind this key."""

    protection_key: str
    product_line: str


@dataclass(frozen=True)
class Outcome:
    """Everything one change does; ``adapters.outcomes.persist`` writes it in a fixed order
    (claims, protection deletes, moves, keys, writes, incumbents, cases, reopened
    cases, events, attributions)."""

    claim_updates: tuple[ClaimUpdate, ...] = ()
    protection_deletes: tuple[str, ...] = ()
    protection_moves: tuple[ProtectionMove, ...] = ()
    key_filings: tuple[KeyFiling, ...] = ()
    protection_writes: tuple[ProtectionWrite, ...] = ()
    incumbents: tuple[IncumbentWrite, ...] = ()
    cases_to_open: tuple[CaseToOpen, ...] = ()
    cases_to_close: tuple[CaseToClose, ...] = ()
    cases_to_reopen: tuple[CaseToReopen, ...] = ()
    events: tuple[Emission, ...] = ()
    attributions: tuple[DealAttributed, ...] = ()  # a win credited, kept for the what-if
    waitlists_to_move: tuple[WaitlistToMove, ...] = ()

    def then(self, other: Outcome) -> Outcome:
        """This outcome followed by another, as one."""
        return Outcome(
            **{
                name: getattr(self, name) + getattr(other, name)
                for name in self.__dataclass_fields__
            }
        )

    @property
    def empty(self) -> bool:
        return self == Outcome()


# --- Reading a registration -----------------------------------------------------------------


def submission_of(submitted: RegistrationSubmitted) -> Submission:
    """The registration as the rules read it."""
    return Submission(
        registration_id=submitted.registration_id,
        submission_seq=submitted.submission_seq,
        partner_id=submitted.partner.id,
        partner_tier=submitted.partner.tier,
        partner_status=submitted.partner.status,
        partner_product_lines=tuple(submitted.partner.product_lines),
        account_key=submitted.account_key,
        product_line=submitted.product_line,
        deal_type=submitted.deal_type,
        amount=submitted.amount.value,
        currency=submitted.amount.currency,
        expected_close_date=submitted.expected_close_date,
    )


def normalised(customer: CustomerData | Mapping[str, Any]) -> NormalisedCustomer:
    data = customer.model_dump() if isinstance(customer, CustomerData) else customer
    return _normalised(data["name"], data.get("domain"), data.get("country"))


# Full, about 0.6 KB an entry on made-up companies (tracemalloc): about 10 MB; see
# ``matching.GENERIC_FORM_CACHE_ENTRIES`` for why the matching caches are bounded so.
NORMALISED_CACHE_ENTRIES: Final = 16_384


@functools.lru_cache(maxsize=NORMALISED_CACHE_ENTRIES)
def _normalised(name: str, domain: str | None, country: str | None) -> NormalisedCustomer:
    """Candidates are scored again and again: normalise each spelling once per process."""
    return normalise_customer(CustomerProfile(name=name, domain=domain, country=country))


def matching_cache_info() -> dict[str, functools._CacheInfo]:
    """Hits, misses and size of every matching cache (this module's and ``matching``'s)."""
    return {"normalised": _normalised.cache_info(), **matching_caches()}


def customer_keys(customer: CustomerData | Mapping[str, Any]) -> tuple[str, ...]:
    """The blocking keys a customer is filed and locked under."""
    data = customer.model_dump() if isinstance(customer, CustomerData) else customer
    return _customer_keys(data["name"], data.get("domain"), data.get("country"))


@functools.lru_cache(maxsize=NORMALISED_CACHE_ENTRIES)
def _customer_keys(name: str, domain: str | None, country: str | None) -> tuple[str, ...]:
    """A batch asks for a customer's keys three times (its locks, its key sizes, its filing):
    worked out once per spelling."""
    return tuple(dict.fromkeys(blocking_keys(_normalised(name, domain, country))))


def stale_holders(matches: Iterable[Match], now: datetime) -> tuple[str, ...]:
    """Registrations that still have a protection row although its window has passed."""
    return tuple(
        m.registration_id
        for m in matches
        if m.state == "protected" and m.expires_at is not None and m.expires_at <= now
    )
