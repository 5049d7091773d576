"""crm_sync's use cases for the registration lifecycle: what the CRM opportunity should say.

Each consumed event updates the *desired* owned fields of a mirrored deal and marks it pending;
the pusher (``crm_sync.outbound``) sends only the changed fields to the CRM. The handlers are
typed (``services.events``): the runtime has already checked the payload's type, opened the
transaction and claimed the inbox row; the SQL is in ``crm_sync.adapters.mirror``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crm_sync.adapters import deal_partners, mirror
from crm_sync.adapters.db import Session
from crm_sync.adapters.tables import outbox
from crm_sync.domain.amendments import SalesAmendment, with_amendment
from crm_sync.domain.handover import HANDED_OVER, Opportunity, adopted
from crm_sync.domain.lifecycle import LifecycleNote
from crm_sync.domain.partners import DealPartner, partner_roles
from crm_sync.ports import CrmConnector
from crm_sync.settings import CrmSettings
from schemas.cosell import CoSellAccepted, CoSellDeclined, InfluenceAccepted
from schemas.crm import CrmOpportunityMirrored
from schemas.envelope import EventEnvelope
from schemas.registration import (
    ProtectionExpired,
    ProtectionExtended,
    ProtectionTransferred,
    RegistrationApproved,
    RegistrationWithdrawn,
)
from schemas.review import RegistrationAmended
from services.clock import Clock
from services.events import Emitter, EventContext
from services.tracing import current_traceparent
from services.uow import TransactionRunner

# The one consumer group that reads everything the mirror needs (approvals on decisions,
# withdrawals on registrations); the inbox keeps its two historical names so that events
# processed before the groups were merged are still recognised.
MIRROR_GROUP = "crm_sync.mirror"
APPROVALS_CONSUMER = "crm_sync.approvals"
LIFECYCLE_CONSUMER = "crm_sync.lifecycle"
NOTES_CONSUMER = "crm_sync.protection_notes"
PARTNERS_CONSUMER = "crm_sync.deal_partners"
SOURCE = "/dealreg/crm_sync"
EMITTER = Emitter(source=SOURCE, outbox=outbox)

DeadLetterSink = Callable[[str, dict[str, Any], str], Awaitable[None]]


async def _no_sink(_system: str, _payload: dict[str, Any], _reason: str) -> None:
    return None


@dataclass
class Context:
    transactions: TransactionRunner
    clock: Clock
    connector: CrmConnector | None = None
    settings: CrmSettings = field(default_factory=CrmSettings)
    wake_pusher: asyncio.Event = field(default_factory=asyncio.Event)
    dead_letters: DeadLetterSink = _no_sink


def desired_fields(
    *,
    registration_id: str,
    partner_id: str,
    partner_name: str,
    product_line: str,
    protection_expires_at: datetime,
    status: str,
) -> dict[str, str]:
    """The owned fields of a registration's opportunity, in canonical names."""
    return {
        "registration_id": registration_id,
        "partner_id": partner_id,
        "partner_name": partner_name,
        "product_line": product_line,
        "protection_expires_at": protection_expires_at.isoformat(),
        "registration_status": status,
    }


LifecycleChange = (
    ProtectionExtended | ProtectionExpired | ProtectionTransferred | RegistrationWithdrawn
)


def lifecycle_note(change: LifecycleChange) -> LifecycleNote:
    """What an extended, expired or withdrawn event says about the registration's status."""
    if isinstance(change, ProtectionExtended):
        return LifecycleNote(status="approved", protection_expires_at=change.protection_expires_at)
    if isinstance(change, ProtectionExpired):
        return LifecycleNote(status="expired")
    if isinstance(change, ProtectionTransferred):
        return LifecycleNote(status="transferred")
    return LifecycleNote(status="withdrawn")


@dataclass
class _ApprovalsView:
    """What the approvals of one batch read, read once for all of them (their notes locked)."""

    batch: tuple[EventEnvelope[Any], ...]
    session: Session
    notes: dict[str, LifecycleNote]
    mirrored: set[str]
    handed_over: dict[str, mirror.MirroredDeal]
    partners: list[Any]
    # New deals, inserted together before the batch commits (or before one is adopted into).
    new_deals: list[dict[str, Any]] = field(default_factory=list)

    async def insert_new_deals(self) -> None:
        deals, self.new_deals = self.new_deals, []
        await mirror.insert_deals(self.session, deals)


@dataclass(frozen=True)
class Mirror:
    """The mirror's consumer handlers; each wakes the pusher once its change is committed."""

    wake_pusher: asyncio.Event
    # The last batch of approvals' view (``_approvals_view``); a one-element list so that this
    # frozen handler object can replace it.
    _views: list[_ApprovalsView] = field(default_factory=list, compare=False, repr=False)

    async def _approvals_view(self, event: EventContext) -> _ApprovalsView | None:
        """For a batch of nothing but approvals: what each approval reads, read for all in
        five statements instead of five per approval (the backlog drain's cost). Nothing an
        approval writes is read by another one of a different registration, so reading first
        sees what reading one by one would; any other event in the batch (a transfer, an
        amendment) and the approvals are read one by one, as without batches."""
        batch = event.batch
        if len(batch) < 2 or not all(isinstance(e.data, RegistrationApproved) for e in batch):
            return None
        if (
            self._views
            and self._views[0].batch is batch
            and self._views[0].session is event.session
        ):
            return self._views[0]
        session = event.session
        approvals = [e.data for e in batch if isinstance(e.data, RegistrationApproved)]
        ids = [a.registration_id for a in approvals]
        notes = await mirror.lock_notes(session, ids, event.now)
        view = _ApprovalsView(
            batch=batch,
            session=session,
            notes=notes,
            mirrored=await mirror.mirrored_among(session, ids),
            handed_over=await mirror.handed_over_to_any(session, ids),
            partners=await deal_partners.partners_of_any(
                session, registration_ids=ids, account_keys=[a.account_key for a in approvals]
            ),
        )
        self._views[:] = [view]
        event.before_commit(view.insert_new_deals)
        return view

    async def record_approval(self, approved: RegistrationApproved, event: EventContext) -> None:
        """Remember an approved registration as a deal to mirror into the CRM (once).

        A withdrawal, expiry or extension that arrived first (another topic) is folded in, so
        the deal is created already withdrawn, never approved for good (``domain.lifecycle``).
        """
        session, now = event.session, event.now
        registration_id = approved.registration_id
        view = await self._approvals_view(event)
        if view is not None:
            early = view.notes[registration_id]
            if registration_id in view.mirrored:
                return
            partners = deal_partners.partners_among(
                view.partners,
                registration_id=registration_id,
                account_key=approved.account_key,
                product_line=approved.product_line,
            )
        else:
            early = await mirror.lock_note(session, registration_id, now)
            if await mirror.is_mirrored(session, registration_id):
                return
            partners = await deal_partners.partners_of(
                session,
                registration_id=registration_id,
                account_key=approved.account_key,
                product_line=approved.product_line,
            )
        summary = approved.registration
        desired = early.applied_to(
            desired_fields(
                registration_id=registration_id,
                partner_id=summary.partner_id,
                partner_name=summary.partner_name,
                product_line=approved.product_line,
                protection_expires_at=approved.protection_expires_at,
                status="approved",
            )
        )
        desired["partner_roles"] = partner_roles(
            [DealPartner(summary.partner_id, summary.partner_name, "sourced"), *partners]
        )
        deal = {
            "registration_id": registration_id,
            "account_key": approved.account_key,
            "partner_id": summary.partner_id,
            "product_line": approved.product_line,
            "amount_value": summary.amount.value,
            "amount_currency": summary.amount.currency,
            "protection_expires_at": approved.protection_expires_at,
            "registration": summary.model_dump(mode="json"),
            "sync_state": "pending",
            "approved_at": approved.decided_at,
            "updated_at": now,
            "desired": desired,
            "pending_since": now,
            "next_attempt_at": now,
            "correlation_id": event.cause.correlation_id,
            "traceparent": current_traceparent(),
        }
        if view is not None:
            view.mirrored.add(registration_id)
            view.new_deals.append(deal)
            source = view.handed_over.get(registration_id)
            if source is not None:
                await view.insert_new_deals()  # the adopting deal must exist
        else:
            await mirror.insert_deal(session, deal)
            source = await mirror.handed_over_to(session, registration_id)
        if source is not None:  # the transfer came first (it usually does: same partition)
            await _adopt(session, source, registration_id)
        event.after_commit(self.wake_pusher.set)

    async def record_amendment(self, amended: RegistrationAmended, event: EventContext) -> None:
        """The partner amended an approved registration's amount or close date: the deal's
        seed takes them (an opportunity not created yet is created with them) and the
        amendment is sent once to an existing one (``domain.amendments``)."""
        session, now = event.session, event.now
        await mirror.lock_note(session, amended.registration_id, now)
        row = await mirror.deal(session, amended.registration_id)
        if row is None:
            return  # not mirrored (yet): the approval carries the values it was approved with
        amendment = SalesAmendment(
            amount=amended.amount.value,
            currency=amended.amount.currency,
            close_date=amended.expected_close_date,
            amended_at=amended.amended_at,
        )
        registration = {
            **(row.registration or {}),
            "expected_close_date": amended.expected_close_date.isoformat(),
            "amount": amended.amount.model_dump(mode="json"),
        }
        await mirror.update_deal(
            session,
            amended.registration_id,
            amount_value=amended.amount.value,
            amount_currency=amended.amount.currency,
            registration=registration,
            desired=with_amendment(row.desired or {}, amendment),
            sync_state="pending" if row.sync_state != "dead" else "dead",
            pending_since=now,
            next_attempt_at=now,
            updated_at=now,
            traceparent=current_traceparent(),
        )
        event.after_commit(self.wake_pusher.set)

    async def record_influence(self, accepted: InfluenceAccepted, event: EventContext) -> None:
        """An accepted influence claim: its partner goes on every deal of the account and
        product line, now or when one is approved later."""
        await deal_partners.record(
            event.session,
            {
                "id": accepted.registration_id,
                "kind": "influence",
                "registration_id": None,
                "account_key": accepted.account_key,
                "product_line": accepted.product_line,
                "partner_id": accepted.partner_id,
                "partner_name": accepted.partner_name,
                "role": "influence",
                "active": True,
                "updated_at": event.now,
            },
        )
        await self._refresh_account(event, accepted.account_key, accepted.product_line)

    async def record_co_sell(
        self, answered: CoSellAccepted | CoSellDeclined, event: EventContext
    ) -> None:
        """An invitee accepted (its partner and role go on the sourced deal) or declined
        (nothing goes on it; an earlier acceptance cannot be declined). The deal's note lock
        orders it with the approval's mirroring, which reads the partners it finds."""
        await mirror.lock_note(event.session, answered.registration_id, event.now)
        if isinstance(answered, CoSellDeclined):
            await deal_partners.deactivate(event.session, answered.invitation_id, now=event.now)
        else:
            await deal_partners.record(
                event.session,
                {
                    "id": answered.invitation_id,
                    "kind": "co_sell",
                    "registration_id": answered.registration_id,
                    "account_key": answered.account_key,
                    "product_line": answered.product_line,
                    "partner_id": answered.partner_id,
                    "partner_name": answered.partner_name,
                    "role": answered.role,
                    "active": True,
                    "updated_at": event.now,
                },
            )
        if await refresh_partners(event.session, answered.registration_id, now=event.now):
            event.after_commit(self.wake_pusher.set)

    async def _refresh_account(self, event: EventContext, account_key: str, line: str) -> None:
        changed = False
        for registration_id in await deal_partners.deals_on(event.session, account_key, line):
            await mirror.lock_note(event.session, registration_id, event.now)
            changed |= await refresh_partners(event.session, registration_id, now=event.now)
        if changed:
            event.after_commit(self.wake_pusher.set)

    async def record_lifecycle(self, change: LifecycleChange, event: EventContext) -> None:
        """Extended, expired or withdrawn: note it (approved yet or not) and update the deal.
        A withdrawn influence claim leaves the deals of its account and product line."""
        if isinstance(change, RegistrationWithdrawn):
            ended = await deal_partners.deactivate(
                event.session, change.registration_id, now=event.now
            )
            if ended is not None:
                await self._refresh_account(event, ended.account_key, ended.product_line)
                return
        note = lifecycle_note(change)
        session, now = event.session, event.now
        registration_id = change.registration_id
        merged = (await mirror.lock_note(session, registration_id, now)).merge(note)
        await mirror.save_note(session, registration_id, merged)
        row = await mirror.desired_of(session, registration_id)
        if row is None:
            return  # not approved (yet): the approval folds the note in when it comes
        desired = note.applied_to(row.desired or {})
        if desired == row.desired:
            return
        await mirror.update_deal(
            session,
            registration_id,
            desired=desired,
            sync_state="pending" if row.sync_state not in ("dead", HANDED_OVER) else row.sync_state,
            pending_since=now,
            next_attempt_at=now,
            updated_at=now,
            traceparent=current_traceparent(),
        )
        event.after_commit(self.wake_pusher.set)

    async def record_transfer(self, moved: ProtectionTransferred, event: EventContext) -> None:
        """The old holder's deal is ``transferred`` and hands its CRM opportunity to the new
        holder's (``domain.handover``): one opportunity for the customer, its partner fields
        moved. The new holder's approval may be mirrored before or after this."""
        await self.record_lifecycle(moved, event)
        session = event.session
        source = await mirror.deal(session, moved.registration_id)
        if source is None or source.sync_state == HANDED_OVER:
            return  # never mirrored (nothing to hand over), or handed over already
        await mirror.lock_note(session, moved.to_registration_id, event.now)
        target = await mirror.deal(session, moved.to_registration_id)
        if target is not None and target.crm_opportunity_id is not None:
            return  # the new holder has its own opportunity already; the old one says so
        await mirror.update_deal(
            session,
            moved.registration_id,
            handed_over_to=moved.to_registration_id,
            sync_state=HANDED_OVER,
            pending_since=None,
            next_attempt_at=None,
        )
        if target is not None:
            await _adopt(session, source, moved.to_registration_id)


async def refresh_partners(session: Session, registration_id: str, *, now: datetime) -> bool:
    """Recompute the deal's ``partner_roles`` (``domain.partners``); mark it pending when the
    text changed. False when there is no such deal (yet) or nothing changed."""
    row = await mirror.deal(session, registration_id)
    if row is None or row.sync_state == HANDED_OVER:
        return False
    desired: dict[str, str] = dict(row.desired or {})
    holder = DealPartner(
        desired.get("partner_id", row.partner_id),
        desired.get("partner_name", (row.registration or {}).get("partner_name", "")),
        "sourced",
    )
    others = await deal_partners.partners_of(
        session,
        registration_id=registration_id,
        account_key=row.account_key,
        product_line=row.product_line,
    )
    text = partner_roles([holder, *others])
    if desired.get("partner_roles") == text:
        return False
    await mirror.update_deal(
        session,
        registration_id,
        desired={**desired, "partner_roles": text},
        sync_state="pending" if row.sync_state != "dead" else "dead",
        pending_since=now,
        next_attempt_at=now,
        updated_at=now,
        traceparent=current_traceparent(),
    )
    return True


async def hand_over_late(session: Session, registration_id: str) -> None:
    """The push that created this deal's opportunity ran while a transfer handed the deal over
    (it had no opportunity to give then): give it now, unless the new holder has its own."""
    source = await mirror.deal(session, registration_id)
    if source is None or source.sync_state != HANDED_OVER or not source.handed_over_to:
        return
    target = await mirror.deal(session, source.handed_over_to)
    if target is not None and target.crm_opportunity_id is None:
        await _adopt(session, source, source.handed_over_to)


async def _adopt(session: Session, source: mirror.MirroredDeal, registration_id: str) -> None:
    """The new holder's deal becomes the mirror of the old holder's opportunity."""
    values = adopted(
        Opportunity(
            crm_system=source.crm_system,
            crm_opportunity_id=source.crm_opportunity_id,
            last_written=source.last_written,
            applied=source.applied,
            applied_modified_at=source.applied_modified_at,
            written_modified_at=source.written_modified_at,
        )
    )
    if values:
        await mirror.update_deal(session, registration_id, **values)
        await mirror.update_deal(session, source.registration_id, crm_opportunity_id=None)


async def record_mirrored(mirrored: CrmOpportunityMirrored, event: EventContext) -> None:
    """Replay only (``crm_sync.replay``): the push that created this opportunity happened, so
    record its id and what it wrote instead of calling the CRM again. A change that came after
    it (a later event) leaves the deal pending, to be written once more (idempotently)."""
    session = event.session
    row = await mirror.desired_of(session, mirrored.registration_id)
    if row is None:
        return
    await mirror.update_deal(
        session,
        mirrored.registration_id,
        crm_system=mirrored.crm_system,
        crm_opportunity_id=mirrored.opportunity_id,
        last_written=row.desired,
        sync_state="synced" if row.sync_state == "pending" else row.sync_state,
        pending_since=None,
        next_attempt_at=None,
        attempts=0,
    )
