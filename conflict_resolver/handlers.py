"""conflict_resolver's use cases, each in one transaction with its inbox row and outbox events.

- :func:`decide_submission`: a submitted registration through the rules of engagement.
- :func:`withdraw`, :func:`close_deal`, :func:`expire_one`: protections end; the waitlist moves.
- :func:`request_extension`: extend a protection once, by policy.
- :func:`open_direct_opportunity` / :func:`close_direct_opportunity`: what crm_sync reports.
- :func:`publish_policy`, :func:`publish_house_accounts`: new versions from sales ops.

The invariant (never two approved protections for one account and product line) is the
primary key of ``protections`` on the canonical account key: whichever instance, partition
or ops decision writes second fails and its retry sees the holder.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from conflict_resolver.adapters import claims_store as store
from conflict_resolver.adapters import conflicts as conflicts_store
from conflict_resolver.adapters import policy_store
from conflict_resolver.adapters.conflicts import open_case
from conflict_resolver.adapters.tables import (
    claims,
    direct_opportunities,
    inbox,
    incumbents,
    outbox,
    protections,
)
from conflict_resolver.domain.policy import Policy
from conflict_resolver.domain.rules import (
    DeadlineDecision,
    Decision,
    Submission,
    decide,
    decide_at_deadline,
    decide_extension,
)
from schemas.crm import CrmDealClosed, DirectOpportunityClosed, DirectOpportunityOpened
from schemas.envelope import EventEnvelope, EventPayload, new_envelope
from schemas.registration import (
    ExtensionDenied,
    ExtensionRequested,
    ProtectionExpired,
    ProtectionExtended,
    RegistrationApproved,
    RegistrationRejected,
    RegistrationSentToReview,
    RegistrationSubmitted,
    RegistrationSummary,
    RegistrationWithdrawn,
)
from services.clock import Clock, new_id
from services.db import dialect_name
from services.inbox import claim_event
from services.kafka.consumer import payload_of
from services.outbox import stage_events
from services.uow import TransactionRunner

log = structlog.get_logger(__name__)

SOURCE = "/dealreg/conflict_resolver"
SUBMISSIONS_CONSUMER = "conflict_resolver.submissions"
CRM_CONSUMER = "conflict_resolver.crm"


@dataclass(frozen=True)
class Context:
    transactions: TransactionRunner
    clock: Clock
    policy: Policy  # the built-in default; decisions use the latest stored version


@dataclass(frozen=True)
class _Cause:
    """What caused a change: the event (for causation) and the registration's correlation."""

    event_id: str | None
    correlation_id: str


async def _claim(
    session: AsyncSession, consumer: str, envelope: EventEnvelope[Any], now: datetime
) -> bool:
    return await claim_event(
        session, inbox, consumer=consumer, event_id=envelope.id, event_type=envelope.type, now=now
    )


# --- Submissions -------------------------------------------------------------------------------


async def decide_submission(ctx: Context, envelope: EventEnvelope[Any]) -> None:
    """Decide one submitted registration and record the decision, its evidence and its event
    together with the inbox row."""
    submitted = payload_of(envelope, RegistrationSubmitted)
    now = ctx.clock.now()
    async with ctx.transactions.transaction() as session:
        if not await _claim(session, SUBMISSIONS_CONSUMER, envelope, now):
            return
        if await store.claim_row(session, submitted.registration_id) is not None:
            return
        policy = await policy_store.current_policy(session, now=now)
        cause = _Cause(envelope.id, envelope.correlationid)
        decision = await _evaluate(session, submitted, policy, now=now, cause=cause)
        await _insert_claim(session, submitted, decision, policy, cause, now=now)
        await _apply(session, submitted, decision, policy, cause, now=now, promoted=False)


def submission_of(submitted: RegistrationSubmitted) -> Submission:
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


async def _evaluate(
    session: AsyncSession,
    submitted: RegistrationSubmitted,
    policy: Policy,
    *,
    now: datetime,
    cause: _Cause,
) -> Decision:
    """Lock the registration's blocking keys, gather its situation and run the rules.

    A holder whose window has passed but that the expiry job has not ended yet is ended here
    first (with its waitlist, which came earlier than this registration).
    """
    house = await policy_store.current_house_accounts(session)
    customer = store.normalised(submitted.customer)
    await store.lock_keys(session, store.customer_keys(customer), submitted.product_line)
    gathered = await store.gather(session, submitted, policy, house=house, now=now)
    if gathered.stale_holders:
        for registration_id in gathered.stale_holders:
            await _end_protection(
                session, registration_id, ending="expired", policy=policy, now=now, cause=cause
            )
        gathered = await store.gather(session, submitted, policy, house=house, now=now)
    return decide(submission_of(submitted), gathered.situation, policy, now=now)


async def _insert_claim(
    session: AsyncSession,
    submitted: RegistrationSubmitted,
    decision: Decision,
    policy: Policy,
    cause: _Cause,
    *,
    now: datetime,
) -> None:
    await session.execute(
        insert(claims).values(
            registration_id=submitted.registration_id,
            submission_seq=submitted.submission_seq,
            partner_id=submitted.partner.id,
            account_key=submitted.account_key,
            product_line=submitted.product_line,
            submitted=submitted.model_dump(mode="json"),
            status="submitted",
            correlation_id=cause.correlation_id,
            protection_key=decision.protection_key,
            waitlisted=False,
            extension_count=0,
        )
    )


async def _apply(
    session: AsyncSession,
    submitted: RegistrationSubmitted,
    decision: Decision,
    policy: Policy,
    cause: _Cause,
    *,
    now: datetime,
    promoted: bool,
) -> None:
    """Record a decision on an existing claim: status, protection, keys, case, event."""
    registration_id = submitted.registration_id
    values: dict[str, Any] = {
        "status": decision.outcome,
        "decision": decision.outcome,
        "rule": decision.rule,
        "reason_code": decision.reason_code,
        "reason": decision.reason,
        "policy_version": policy.version,
        "decided_at": now,
        "protection_expires_at": decision.protection_expires_at,
        "protection_key": decision.protection_key,
        "waitlisted": decision.waitlisted,
        "evidence": decision.evidence,
    }
    await store.update_claim(session, registration_id, **values)
    if decision.outcome != "rejected" or decision.waitlisted:
        await store.drop_keys(session, registration_id)
        keys = store.customer_keys(store.normalised(submitted.customer))
        await store.file_keys(session, registration_id, keys, submitted.product_line)
    else:
        await store.drop_keys(session, registration_id)
    event: EventPayload
    if decision.outcome == "approved":
        assert decision.protection_expires_at is not None  # noqa: S101 - approve() sets it
        await session.execute(
            insert(protections).values(
                account_key=decision.protection_key,
                product_line=submitted.product_line,
                registration_id=registration_id,
                partner_id=submitted.partner.id,
                expires_at=decision.protection_expires_at,
            )
        )
        event = _approved(submitted, decision, policy, now=now, promoted=promoted)
    elif decision.outcome == "pending_review":
        due_at = now + policy.review_sla
        case_id = await open_case(
            session,
            registration_id=registration_id,
            account_key=decision.protection_key,
            product_line=submitted.product_line,
            rule=decision.rule,
            reason_code=decision.reason_code or "REVIEW",
            evidence=decision.evidence,
            competing_registration_ids=list(decision.competing_registration_ids),
            opened_at=now,
            due_at=due_at,
        )
        event = RegistrationSentToReview(
            registration_id=registration_id,
            account_key=submitted.account_key,
            product_line=submitted.product_line,
            decided_at=now,
            policy_version=policy.version,
            rule=decision.rule,
            reason_code=decision.reason_code or "REVIEW",
            reason=decision.reason,
            conflict_id=case_id,
            due_at=due_at,
        )
    else:
        event = RegistrationRejected(
            registration_id=registration_id,
            account_key=submitted.account_key,
            product_line=submitted.product_line,
            decided_at=now,
            policy_version=policy.version,
            rule=decision.rule,
            reason_code=decision.reason_code or "REJECTED",
            reason=decision.reason,
            blocking_registration_id=decision.blocking_registration_id,
            blocked_until=decision.blocked_until,
            waitlisted=decision.waitlisted,
        )
    await _emit(session, event, registration_id, submitted.account_key, cause, now=now)


def _approved(
    submitted: RegistrationSubmitted,
    decision: Decision,
    policy: Policy,
    *,
    now: datetime,
    promoted: bool,
) -> RegistrationApproved:
    assert decision.protection_expires_at is not None  # noqa: S101 - approve() sets it
    return RegistrationApproved(
        registration_id=submitted.registration_id,
        account_key=submitted.account_key,
        product_line=submitted.product_line,
        decided_at=now,
        protection_expires_at=decision.protection_expires_at,
        policy_version=policy.version,
        rule=decision.rule,
        reason=decision.reason,
        reason_code="WAITLIST_PROMOTED" if promoted else None,
        registration=RegistrationSummary(
            partner_id=submitted.partner.id,
            partner_name=submitted.partner.name,
            customer=submitted.customer,
            product_line=submitted.product_line,
            deal_type=submitted.deal_type,
            amount=submitted.amount,
            expected_close_date=submitted.expected_close_date,
            submitted_at=submitted.submitted_at,
        ),
    )


async def _emit(
    session: AsyncSession,
    payload: EventPayload,
    registration_id: str,
    account_key: str,
    cause: _Cause,
    *,
    now: datetime,
) -> None:
    envelope = new_envelope(
        payload,
        event_id=new_id(),
        source=SOURCE,
        subject=registration_id,
        time=now,
        correlation_id=cause.correlation_id,
        causation_id=cause.event_id,
        partition_key=account_key,
    )
    await stage_events(session, outbox, [envelope], now=now)


# --- Protections ending, and the waitlist ------------------------------------------------------


async def _lock_claim(session: AsyncSession, registration_id: str) -> None:
    """Take the claim's key locks before any row lock, in the order every decision takes
    them, so that ending a protection never deadlocks with a decision on the same account."""
    claim = await store.claim_row(session, registration_id)
    if claim is not None:
        keys = store.customer_keys(store.normalised(claim["submitted"]["customer"]))
        await store.lock_keys(session, keys, claim["product_line"])


async def _end_protection(
    session: AsyncSession,
    registration_id: str,
    *,
    ending: str,
    policy: Policy,
    now: datetime,
    cause: _Cause | None,
) -> bool:
    """End a registration's protection (expired, withdrawn, won, lost) and, unless it was won,
    re-evaluate the waitlist. False when another transaction ended it first."""
    claim = await store.claim_row(session, registration_id, for_update=True)
    removed = await store.remove_protection(session, registration_id)
    if claim is None or not removed:
        return removed  # a protection without a claim (never expected) is still ended
    await store.update_claim(session, registration_id, status=ending, ended_at=now)
    own_cause = cause or _Cause(None, claim["correlation_id"])
    if ending == "won":
        await _set_incumbent(session, claim, now=now)
    else:
        await store.drop_keys(session, registration_id)
    if ending == "expired":
        expired = ProtectionExpired(
            registration_id=registration_id,
            account_key=claim["account_key"],
            product_line=claim["product_line"],
            expired_at=now,
        )
        await _emit(session, expired, registration_id, claim["account_key"], own_cause, now=now)
    if ending != "won":
        key = claim["protection_key"] or claim["account_key"]
        await _promote_waitlist(session, key, claim["product_line"], policy, now=now)
    return True


async def _promote_waitlist(
    session: AsyncSession, protection_key: str, product_line: str, policy: Policy, *, now: datetime
) -> None:
    """The next in line, by submission order, is re-evaluated against the rules now: approved
    (``WAITLIST_PROMOTED``), sent to review, or, when the rules now reject it for another
    reason (or its expected close date passed), off the waitlist and on to the next."""
    while waiting := await store.next_waitlisted(session, protection_key, product_line):
        submitted = RegistrationSubmitted.model_validate(waiting["submitted"])
        cause = _Cause(None, waiting["correlation_id"])
        if submitted.expected_close_date < now.date():
            await store.update_claim(session, submitted.registration_id, waitlisted=False)
            await store.drop_keys(session, submitted.registration_id)
            continue
        # Off the waitlist while it is evaluated, so that it does not see itself.
        await store.update_claim(session, submitted.registration_id, waitlisted=False)
        decision = await _evaluate(session, submitted, policy, now=now, cause=cause)
        if decision.outcome == "rejected" and decision.waitlisted:
            await store.update_claim(
                session, submitted.registration_id, waitlisted=True,
                protection_key=decision.protection_key,
            )  # fmt: skip
            return
        await _apply(session, submitted, decision, policy, cause, now=now, promoted=True)
        if decision.outcome != "rejected":
            return


async def _set_incumbent(session: AsyncSession, claim: dict[str, Any], *, now: datetime) -> None:
    values = {
        "account_key": claim["protection_key"] or claim["account_key"],
        "product_line": claim["product_line"],
        "partner_id": claim["partner_id"],
        "registration_id": claim["registration_id"],
        "won_at": now,
    }
    dialect = postgresql if dialect_name(session) == "postgresql" else sqlite
    statement = dialect.insert(incumbents).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=["account_key", "product_line"],
        set_={k: statement.excluded[k] for k in ("partner_id", "registration_id", "won_at")},
    )
    await session.execute(statement)


async def expire_one(ctx: Context) -> bool:
    """End one protection past its expiry (event + waitlist); False when none is due.

    Safe with several instances: the row is locked (skipping rows another instance holds)
    and deleted in the same transaction as the event.
    """
    now = ctx.clock.now()
    async with ctx.transactions.transaction() as session:
        registration_id = await store.due_protection(session, now)
        if registration_id is None:
            return False
        await _lock_claim(session, registration_id)
        policy = await policy_store.current_policy(session, now=now)
        await _end_protection(
            session, registration_id, ending="expired", policy=policy, now=now, cause=None
        )
        return True


async def withdraw(ctx: Context, envelope: EventEnvelope[Any]) -> None:
    """The partner withdrew: protection ends (and the waitlist moves), or it leaves the queue
    or the waitlist."""
    withdrawn = payload_of(envelope, RegistrationWithdrawn)
    now = ctx.clock.now()
    async with ctx.transactions.transaction() as session:
        if not await _claim(session, SUBMISSIONS_CONSUMER, envelope, now):
            return
        await _lock_claim(session, withdrawn.registration_id)
        claim = await store.claim_row(session, withdrawn.registration_id, for_update=True)
        if claim is None or claim["status"] in ("withdrawn", "won", "lost", "expired"):
            return
        policy = await policy_store.current_policy(session, now=now)
        cause = _Cause(envelope.id, envelope.correlationid)
        if await store.protection_of(session, withdrawn.registration_id) is not None:
            await _end_protection(
                session,
                withdrawn.registration_id,
                ending="withdrawn",
                policy=policy,
                now=now,
                cause=cause,
            )
            return
        await store.update_claim(
            session, withdrawn.registration_id, status="withdrawn", waitlisted=False, ended_at=now
        )
        await store.drop_keys(session, withdrawn.registration_id)
        if claim["status"] == "pending_review":
            await conflicts_store.close_case_withdrawn(session, withdrawn.registration_id, now=now)


async def close_deal(ctx: Context, envelope: EventEnvelope[Any]) -> None:
    """Won or lost in the CRM ends protection; won makes the partner the incumbent, lost frees
    the waitlist."""
    closed = payload_of(envelope, CrmDealClosed)
    now = ctx.clock.now()
    async with ctx.transactions.transaction() as session:
        if not await _claim(session, CRM_CONSUMER, envelope, now):
            return
        await _lock_claim(session, closed.registration_id)
        claim = await store.claim_row(session, closed.registration_id, for_update=True)
        if claim is None:
            return
        policy = await policy_store.current_policy(session, now=now)
        cause = _Cause(envelope.id, envelope.correlationid)
        ended = await _end_protection(
            session,
            closed.registration_id,
            ending=closed.outcome,
            policy=policy,
            now=now,
            cause=cause,
        )
        if not ended and closed.outcome == "won" and claim["status"] in ("approved", "expired"):
            # Won after its window ended: still the partner of record.
            await store.update_claim(session, closed.registration_id, status="won", ended_at=now)
            await _set_incumbent(session, claim, now=now)


async def request_extension(ctx: Context, envelope: EventEnvelope[Any]) -> None:
    """Extend once (policy), before expiry, while the deal is open; else deny with a reason."""
    requested = payload_of(envelope, ExtensionRequested)
    now = ctx.clock.now()
    async with ctx.transactions.transaction() as session:
        if not await _claim(session, SUBMISSIONS_CONSUMER, envelope, now):
            return
        claim = await store.claim_row(session, requested.registration_id, for_update=True)
        holding = await store.protection_of(session, requested.registration_id)
        policy = await policy_store.current_policy(session, now=now)
        verdict = decide_extension(
            holds_protection=claim is not None and claim["status"] == "approved" and bool(holding),
            expires_at=None if holding is None else holding["expires_at"],
            extensions_so_far=0 if claim is None else claim["extension_count"],
            policy=policy,
            now=now,
        )
        cause = _Cause(envelope.id, envelope.correlationid)
        event: EventPayload
        if verdict.granted and claim is not None:
            assert verdict.protection_expires_at is not None  # noqa: S101 - granted sets it
            await session.execute(
                update(protections)
                .where(protections.c.registration_id == requested.registration_id)
                .values(expires_at=verdict.protection_expires_at)
            )
            await store.update_claim(
                session,
                requested.registration_id,
                protection_expires_at=verdict.protection_expires_at,
                extension_count=claim["extension_count"] + 1,
            )
            event = ProtectionExtended(
                registration_id=requested.registration_id,
                account_key=requested.account_key,
                product_line=requested.product_line,
                extended_at=now,
                protection_expires_at=verdict.protection_expires_at,
                reason=verdict.reason,
            )
        else:
            event = ExtensionDenied(
                registration_id=requested.registration_id,
                account_key=requested.account_key,
                product_line=requested.product_line,
                decided_at=now,
                reason_code=verdict.reason_code or "DENIED",
                reason=verdict.reason,
            )
        await _emit(
            session, event, requested.registration_id, requested.account_key, cause, now=now
        )


# --- Direct opportunities ----------------------------------------------------------------------


async def open_direct_opportunity(ctx: Context, envelope: EventEnvelope[Any]) -> None:
    opened = payload_of(envelope, DirectOpportunityOpened)
    now = ctx.clock.now()
    async with ctx.transactions.transaction() as session:
        if not await _claim(session, CRM_CONSUMER, envelope, now):
            return
        dialect = postgresql if dialect_name(session) == "postgresql" else sqlite
        values = {
            "crm_system": opened.crm_system,
            "opportunity_id": opened.opportunity_id,
            "account_key": opened.account_key,
            "product_line": opened.product_line,
            "customer": opened.customer.model_dump(mode="json"),
            "opened_at": opened.opened_at,
            "closed_at": None,
        }
        statement = dialect.insert(direct_opportunities).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=["crm_system", "opportunity_id"],
            set_={k: statement.excluded[k] for k in ("account_key", "product_line", "closed_at")},
        )
        await session.execute(statement)


async def close_direct_opportunity(ctx: Context, envelope: EventEnvelope[Any]) -> None:
    closed = payload_of(envelope, DirectOpportunityClosed)
    now = ctx.clock.now()
    async with ctx.transactions.transaction() as session:
        if not await _claim(session, CRM_CONSUMER, envelope, now):
            return
        await session.execute(
            update(direct_opportunities)
            .where(
                direct_opportunities.c.crm_system == closed.crm_system,
                direct_opportunities.c.opportunity_id == closed.opportunity_id,
            )
            .values(closed_at=closed.closed_at)
        )


# --- Policy and house accounts -----------------------------------------------------------------


async def publish_policy(ctx: Context, policy: Policy, *, created_by: str) -> Policy:
    """Store a new policy version; decisions from now on use it."""
    async with ctx.transactions.transaction() as session:
        return await policy_store.publish_policy(
            session, policy, created_by=created_by, now=ctx.clock.now()
        )


async def publish_house_accounts(
    ctx: Context, accounts: policy_store.HouseAccountList, *, created_by: str
) -> int:
    async with ctx.transactions.transaction() as session:
        return await policy_store.publish_house_accounts(
            session, accounts, created_by=created_by, now=ctx.clock.now()
        )


# --- The review deadline (called by the conflict queue) ----------------------------------------


async def deadline_decision(
    session: AsyncSession,
    *,
    registration_id: str,
    account_key: str,
    product_line: str,
    competing_registration_ids: list[str],
    now: datetime,
) -> DeadlineDecision | None:
    """What the current policy decides for a case still open at its SLA deadline (None: leave
    it to a human and escalate). Reads, in the caller's transaction; writes nothing.

    ``account_key`` is the case's (canonical) account key: approving is only offered when no
    other registration holds protection under it.
    """
    policy = await policy_store.current_policy(session, now=now)
    claim = await store.claim_row(session, registration_id)
    if claim is None:
        return None
    holder = (
        await session.execute(
            select(protections.c.registration_id).where(
                protections.c.account_key == account_key,
                protections.c.product_line == product_line,
            )
        )
    ).scalar_one_or_none()
    live = (
        await session.execute(
            select(claims.c.submission_seq).where(
                claims.c.registration_id.in_(competing_registration_ids),
                claims.c.status.in_(("approved", "pending_review")),
            )
        )
    ).scalars()
    return decide_at_deadline(
        policy,
        submission_seq=claim["submission_seq"],
        competing_live_seqs=tuple(live),
        protection_held_by_another=holder is not None and holder != registration_id,
    )
