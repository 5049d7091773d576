"""Registration statuses and what changes them, as partners see it (DOMAIN.md, "Lifecycle").

Pure: the partner's own actions (withdraw, ask for an extension) and the events of the other
services (decisions, CRM changes) become a :class:`Change` to the registration's view and, when
the partner may see it, a history entry. Nothing here reads a clock or a database: the time
comes in as an argument or from the event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from schemas.cosell import InfluenceAccepted, InfluenceRejected
from schemas.crm import CrmDealClosed, CrmOpportunityChanged, CrmOpportunityMirrored
from schemas.envelope import EventPayload
from schemas.registration import (
    ExtensionDenied,
    ProtectionExpired,
    ProtectionExpiring,
    ProtectionExtended,
    ProtectionTransferred,
    RegistrationApproved,
    RegistrationRejected,
    RegistrationSentToReview,
    WaitlistLeft,
)
from schemas.review import RegistrationReturnedForEdit
from schemas.review_reasons import AMENDABLE_FIELDS, APPEALABLE


class Status(StrEnum):
    SUBMITTED = "submitted"
    PENDING_REVIEW = "pending_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    WON = "won"
    LOST = "lost"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"
    ACTION_REQUIRED = "action_required"
    TRANSFERRED = "transferred"  # sales ops moved its protection to another registration
    ACCEPTED = "accepted"  # an influence claim the rules accepted: recorded, never protected


ALLOWED_TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.SUBMITTED: frozenset(
        {
            Status.APPROVED,
            Status.REJECTED,
            Status.PENDING_REVIEW,
            Status.WITHDRAWN,
            Status.ACCEPTED,
        }
    ),
    Status.PENDING_REVIEW: frozenset(
        {Status.APPROVED, Status.REJECTED, Status.WITHDRAWN, Status.ACTION_REQUIRED}
    ),
    # Returned for edit: the partner's edit submits it again (or it withdraws).
    Status.ACTION_REQUIRED: frozenset({Status.SUBMITTED, Status.WITHDRAWN}),
    Status.APPROVED: frozenset(
        {Status.WON, Status.LOST, Status.EXPIRED, Status.WITHDRAWN, Status.TRANSFERRED}
    ),
    # A waitlisted rejection (ALREADY_REGISTERED) is re-evaluated when it is promoted: approved,
    # or sent to review (see ``_decided``: only from the waitlist); a reviewer's rejection goes
    # back to review once, on the partner's appeal.
    Status.REJECTED: frozenset({Status.APPROVED, Status.PENDING_REVIEW}),
    Status.WON: frozenset(),
    Status.LOST: frozenset(),
    # A deal won in the CRM after its protection window ended is still won.
    Status.EXPIRED: frozenset({Status.WON}),
    Status.WITHDRAWN: frozenset(),
    Status.TRANSFERRED: frozenset(),
    # An influence claim is never protected: it can only be withdrawn.
    Status.ACCEPTED: frozenset({Status.WITHDRAWN}),
}


WAITLISTED = "ALREADY_REGISTERED"  # the reason code of a rejection that waits on the waitlist


def can_transition(current: Status, target: Status) -> bool:
    return target in ALLOWED_TRANSITIONS[current]


# --- who caused a step ------------------------------------------------------------------------

RULES = "rules"
CRM = "crm"


def partner_actor(partner_id: str) -> str:
    return f"partner:{partner_id}"


def actor_of(event: EventPayload) -> str:
    """Who caused the step an event tells of, as ops read it: ``rules``, ``ops:<user id>``,
    ``policy:sla`` (the SLA policy of the conflict queue), ``admin`` or ``crm``."""
    match event:
        case CrmOpportunityMirrored() | CrmOpportunityChanged() | CrmDealClosed():
            return CRM
        case (
            RegistrationApproved()
            | RegistrationRejected()
            | ProtectionExtended()
            | RegistrationReturnedForEdit()
            | ProtectionTransferred()
        ):
            return event.decided_by
    return RULES


_LEGACY_ACTORS = {"conflict_resolver": RULES, "crm_sync": CRM}


def actor_for_ops(actor: str) -> str:
    """The stored actor in the words of today (rows written before actors were named)."""
    return _LEGACY_ACTORS.get(actor, actor)


def actor_for_partner(actor: str) -> str:
    """What a partner reads of who caused a step: the kind of actor, never an identity (not
    another partner's, not a sales-ops user's): ``partner`` (itself: only its own actions
    are in its history), ``rules``, ``ops``, ``admin`` or ``crm``."""
    kind = actor_for_ops(actor).partition(":")[0]
    return RULES if kind == "policy" else kind


class Extension(StrEnum):
    REQUESTED = "requested"
    GRANTED = "granted"
    DENIED = "denied"


class TransitionRefusedError(Exception):
    """The partner asked for something the registration's state does not allow (HTTP 409)."""


class FieldsRefusedError(Exception):
    """The partner changed fields it may not change now (HTTP 422, naming each)."""

    def __init__(self, fields: tuple[str, ...], why: str) -> None:
        super().__init__(why)
        self.fields = fields
        self.why = why


@dataclass(frozen=True)
class Current:
    """What the rules need to know about a registration as it stands."""

    status: Status
    extension: Extension | None = None
    protection_expires_at: datetime | None = None
    crm_changed_at: datetime | None = None
    reason_code: str | None = None
    appealed: bool = False
    extensions_left: int | None = None  # the policy's limit, as the resolver last said it
    editable_fields: tuple[str, ...] = ()

    @property
    def waitlisted(self) -> bool:
        """Rejected because another partner holds protection: it waits to be promoted."""
        return self.status is Status.REJECTED and self.reason_code == WAITLISTED


@dataclass(frozen=True)
class Entry:
    """A step of the history the partner sees (and, with a webhook, is told about)."""

    status: Status
    reason_code: str | None
    reason: str | None
    at: datetime
    kind: str = ""

    @property
    def webhook_type(self) -> str:
        return f"registration.{self.kind or self.status.value}"


@dataclass(frozen=True)
class Change:
    """Columns to update and, if the partner sees this step, its history entry."""

    updates: dict[str, Any] = field(default_factory=dict)
    entry: Entry | None = None


# --- the partner's own actions ----------------------------------------------------------


def withdraw(current: Current, *, now: datetime) -> Change:
    """Withdraw a live registration; an approved one gives up its protection now."""
    if not can_transition(current.status, Status.WITHDRAWN):
        raise TransitionRefusedError(
            f"A registration that is {current.status.value} cannot be withdrawn; only "
            "submitted, pending_review and approved registrations can."
        )
    updates: dict[str, Any] = {
        "status": Status.WITHDRAWN.value,
        "reason_code": "WITHDRAWN",
        "reason": "Withdrawn by the partner.",
        "updated_at": now,
    }
    if current.status is Status.APPROVED:
        updates["protection_expires_at"] = now
    return Change(
        updates=updates,
        entry=Entry(Status.WITHDRAWN, "WITHDRAWN", "Withdrawn by the partner.", now),
    )


def request_extension(current: Current, *, now: datetime) -> Change:
    """Ask, while approved and protected, to extend the protection; one request at a time.

    How many extensions a registration may have is the policy's (``max_extensions``): the
    resolver says it with each approval (``extensions_allowed``) and grant
    (``extensions_left``), and intake refuses (409) a request past it, so the partner hears
    the same limit at once; the resolver still decides every request it is sent.
    """
    if current.status is not Status.APPROVED:
        raise TransitionRefusedError(
            f"Only an approved registration can be extended; this one is {current.status.value}."
        )
    if current.extension is Extension.REQUESTED:
        raise TransitionRefusedError(
            "An extension was already requested for this registration and awaits the "
            "resolver's answer; a registration may ask only once at a time."
        )
    if current.protection_expires_at is not None and current.protection_expires_at <= now:
        raise TransitionRefusedError("The protection window has already ended.")
    if current.extensions_left is not None and current.extensions_left <= 0:
        raise TransitionRefusedError(
            "The policy allows no more extensions of this protection; it has used them."
        )
    reason = "The partner asked to extend the protection."
    return Change(
        updates={
            "extension_state": Extension.REQUESTED.value,
            "extension_requested_at": now,
            "updated_at": now,
        },
        entry=Entry(Status.APPROVED, "EXTENSION_REQUESTED", reason, now, "extension_requested"),
    )


APPEALED = "APPEALED"
EDITED = "EDITED"
AMENDED = "AMENDED"
RETURNED_FOR_EDIT = "RETURNED_FOR_EDIT"


def appeal(current: Current, *, now: datetime) -> Change:
    """Appeal a reviewer's rejection (a code of ``schemas.review_reasons``), once: it stays
    ``rejected`` until the resolver reopens its case (then ``pending_review``)."""
    if current.status is not Status.REJECTED or current.reason_code not in APPEALABLE:
        raise TransitionRefusedError(
            "Only a rejection by sales ops' review can be appealed; this registration is "
            f"{current.status.value} ({current.reason_code or 'no reason code'})."
        )
    if current.appealed:
        raise TransitionRefusedError("A rejection can be appealed only once; it was appealed.")
    reason = "The partner appealed the rejection."
    return Change(
        updates={"appealed_at": now, "updated_at": now},
        entry=Entry(Status.REJECTED, APPEALED, reason, now, "appealed"),
    )


def edit(current: Current, *, changed: tuple[str, ...], now: datetime) -> Change:
    """The partner changes its registration: returned for edit (``action_required``), only
    the fields the reviewer named, and it is ``submitted`` again for the rules; approved,
    only its sales fields (an amendment the CRM mirrors). Anything else is refused."""
    if current.status is Status.ACTION_REQUIRED:
        allowed, why = frozenset(current.editable_fields), "not returned for edit"
    elif current.status is Status.APPROVED:
        allowed, why = AMENDABLE_FIELDS, "not amendable once approved"
    else:
        raise TransitionRefusedError(
            "Only a registration returned for edit (action_required) or an approved one can be "
            f"changed; this one is {current.status.value}."
        )
    if not changed:
        raise TransitionRefusedError("The request changes nothing.")
    refused = tuple(name for name in changed if name not in allowed)
    if refused:
        raise FieldsRefusedError(refused, why)
    if current.status is Status.APPROVED:
        reason = "The partner amended " + ", ".join(changed) + "."
        return Change(
            updates={"updated_at": now},
            entry=Entry(Status.APPROVED, AMENDED, reason, now, "amended"),
        )
    reason = "The partner edited " + ", ".join(changed) + "; the rules decide again."
    return Change(
        updates={
            "status": Status.SUBMITTED.value,
            "reason_code": EDITED,
            "reason": reason,
            "editable_fields": None,
            "updated_at": now,
        },
        entry=Entry(Status.SUBMITTED, EDITED, reason, now, "edited"),
    )


# --- what the other services tell us ----------------------------------------------------


def change_for(event: EventPayload, current: Current, *, now: datetime) -> Change | None:
    """The change an event makes to the partner's view, or None when it changes nothing.

    A late or repeated event (the view already moved on) changes nothing rather than failing.
    """
    match event:
        case RegistrationApproved():
            return _decided(current, Status.APPROVED, event.reason_code, event.reason, event, now)
        case InfluenceAccepted() | InfluenceRejected():
            return _influence_decided(current, event, now)
        case RegistrationRejected():
            return _decided(current, Status.REJECTED, event.reason_code, event.reason, event, now)
        case RegistrationSentToReview():
            return _decided(
                current, Status.PENDING_REVIEW, event.reason_code, event.reason, event, now
            )
        case ProtectionExtended():
            return _extended(current, event, now)
        case ExtensionDenied():
            return _extension_denied(current, event, now)
        case WaitlistLeft():
            return _left_waitlist(current, event, now)
        case RegistrationReturnedForEdit():
            return _returned_for_edit(current, event, now)
        case ProtectionExpiring():
            return _expiring(current, event, now)
        case ProtectionTransferred():
            return _closed(
                current,
                Status.TRANSFERRED,
                event.reason_code,
                event.reason,
                event.transferred_at,
                now,
            )
        case ProtectionExpired():
            reason = "The protection window ended."
            return _closed(
                current, Status.EXPIRED, "PROTECTION_EXPIRED", reason, event.expired_at, now
            )
        case CrmDealClosed():
            code = event.outcome.upper()
            reason = f"The deal was {event.outcome} in the vendor's CRM."
            target = Status.WON if event.outcome == "won" else Status.LOST
            return _closed(current, target, code, reason, event.closed_at, now)
        case CrmOpportunityMirrored():
            updates: dict[str, Any] = {
                "crm_system": event.crm_system,
                "crm_opportunity_id": event.opportunity_id,
                "updated_at": now,
            }
            if event.stage is not None and current.crm_changed_at is None:
                updates["crm_stage"] = event.stage
            return Change(updates=updates)
        case CrmOpportunityChanged():
            if current.crm_changed_at is not None and event.changed_at <= current.crm_changed_at:
                return None  # an older change arriving late
            updates = {
                "crm_system": event.crm_system,
                "crm_opportunity_id": event.opportunity_id,
                "crm_changed_at": event.changed_at,
                "updated_at": now,
            }
            # The CRM owns the sales fields: its stage, amount and close date are the truth.
            if event.stage is not None:
                updates["crm_stage"] = event.stage
            if event.amount is not None:
                updates["amount_value"] = event.amount.value
                updates["amount_currency"] = event.amount.currency
            if event.close_date is not None:
                updates["expected_close_date"] = event.close_date
            return Change(updates=updates)
    return None


def _decided(
    current: Current,
    target: Status,
    reason_code: str | None,
    reason: str,
    event: RegistrationApproved | RegistrationRejected | RegistrationSentToReview,
    now: datetime,
) -> Change | None:
    if not (can_transition(current.status, target) or _rejected_off_the_waitlist(current, event)):
        return None
    appeal_heard = current.appealed and target is Status.PENDING_REVIEW
    if current.status is Status.REJECTED and not (current.waitlisted or appeal_heard):
        return None  # only a waitlisted (promoted) or appealed rejection is decided again
    updates: dict[str, Any] = {
        "status": target.value,
        "reason_code": reason_code,
        "reason": reason,
        "updated_at": now,
    }
    if target is not Status.PENDING_REVIEW:
        updates["decided_at"] = event.decided_at
    updates["protection_expires_at"] = (
        event.protection_expires_at if isinstance(event, RegistrationApproved) else None
    )
    if isinstance(event, RegistrationApproved) and event.extensions_allowed is not None:
        updates["extensions_left"] = event.extensions_allowed
    return Change(updates=updates, entry=Entry(target, reason_code, reason, event.decided_at))


def _influence_decided(
    current: Current, event: InfluenceAccepted | InfluenceRejected, now: datetime
) -> Change | None:
    """An influence claim is decided once, from ``submitted``: ``accepted`` (no protection,
    no expiry) or ``rejected``; it never waits in review nor on a waitlist."""
    target = Status.ACCEPTED if isinstance(event, InfluenceAccepted) else Status.REJECTED
    if current.status is not Status.SUBMITTED:
        return None
    updates: dict[str, Any] = {
        "status": target.value,
        "reason_code": event.reason_code,
        "reason": event.reason,
        "decided_at": event.decided_at,
        "protection_expires_at": None,
        "updated_at": now,
    }
    return Change(
        updates=updates, entry=Entry(target, event.reason_code, event.reason, event.decided_at)
    )


def _rejected_off_the_waitlist(
    current: Current,
    event: RegistrationApproved | RegistrationRejected | RegistrationSentToReview,
) -> bool:
    """Re-evaluated from the waitlist and rejected for another reason now (the partner was
    suspended, say): still ``rejected``, but off the waitlist, and the partner is told why."""
    return (
        current.waitlisted
        and isinstance(event, RegistrationRejected)
        and not event.waitlisted
        and event.reason_code != WAITLISTED
    )


def _left_waitlist(current: Current, event: WaitlistLeft, now: datetime) -> Change | None:
    """It stays ``rejected``; the reason now says it left the waitlist and why."""
    if not current.waitlisted:
        return None
    return Change(
        updates={"reason_code": event.reason_code, "reason": event.reason, "updated_at": now},
        entry=Entry(
            Status.REJECTED, event.reason_code, event.reason, event.left_at, "waitlist_left"
        ),
    )


def _returned_for_edit(
    current: Current, event: RegistrationReturnedForEdit, now: datetime
) -> Change | None:
    """A reviewer returned it: ``action_required``, with the comments as its reason and the
    fields the partner may change."""
    if not can_transition(current.status, Status.ACTION_REQUIRED):
        return None
    return Change(
        updates={
            "status": Status.ACTION_REQUIRED.value,
            "reason_code": RETURNED_FOR_EDIT,
            "reason": event.comments,
            "editable_fields": list(event.editable_fields),
            "updated_at": now,
        },
        entry=Entry(Status.ACTION_REQUIRED, RETURNED_FOR_EDIT, event.comments, event.returned_at),
    )


def _extended(current: Current, event: ProtectionExtended, now: datetime) -> Change | None:
    if current.status is not Status.APPROVED:
        return None
    return Change(
        updates={
            "protection_expires_at": event.protection_expires_at,
            "extension_state": Extension.GRANTED.value,
            **(
                {"extensions_left": event.extensions_left}
                if event.extensions_left is not None
                else {}
            ),
            "reason_code": "PROTECTION_EXTENDED",
            "reason": event.reason,
            "updated_at": now,
        },
        entry=Entry(
            Status.APPROVED, "PROTECTION_EXTENDED", event.reason, event.extended_at, "extended"
        ),
    )


def _expiring(current: Current, event: ProtectionExpiring, now: datetime) -> Change | None:
    """A notice, no change: told (history and webhook) while it still holds that expiry."""
    if current.status is not Status.APPROVED:
        return None
    if current.protection_expires_at not in (None, event.protection_expires_at):
        return None  # extended (or moved) since: this notice is about an expiry that is gone
    return Change(
        updates={"updated_at": now},
        entry=Entry(
            Status.APPROVED,
            event.reason_code,
            event.reason,
            event.noticed_at,
            "protection_expiring",
        ),
    )


def _extension_denied(current: Current, event: ExtensionDenied, now: datetime) -> Change | None:
    if current.extension in {Extension.GRANTED, Extension.DENIED}:
        return None
    return Change(
        updates={"extension_state": Extension.DENIED.value, "updated_at": now},
        entry=Entry(
            current.status, event.reason_code, event.reason, event.decided_at, "extension_denied"
        ),
    )


def _closed(
    current: Current, target: Status, code: str, reason: str, at: datetime, now: datetime
) -> Change | None:
    if not can_transition(current.status, target):
        return None
    return Change(
        updates={"status": target.value, "reason_code": code, "reason": reason, "updated_at": now},
        entry=Entry(target, code, reason, at),
    )
