"""conflict_resolver's use cases, each in one transaction with its inbox row and outbox events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from conflict_resolver.adapters.tables import claims, inbox, outbox, protections
from conflict_resolver.domain.policy import Policy
from conflict_resolver.domain.rules import Decision, LiveProtection, Submission, decide
from schemas.envelope import EventEnvelope, EventPayload, new_envelope
from schemas.registration import (
    RegistrationApproved,
    RegistrationRejected,
    RegistrationSubmitted,
    RegistrationSummary,
)
from services.clock import Clock, new_id
from services.db import dialect_name
from services.inbox import claim_event
from services.kafka.consumer import PoisonEventError
from services.outbox import stage_events
from services.uow import TransactionRunner

SOURCE = "/dealreg/conflict_resolver"
SUBMISSIONS_CONSUMER = "conflict_resolver.submissions"


@dataclass(frozen=True)
class Context:
    transactions: TransactionRunner
    clock: Clock
    policy: Policy


async def decide_submission(ctx: Context, envelope: EventEnvelope[Any]) -> None:
    """Decide one submitted registration and record the decision and its event together.

    If another instance writes a protection for the same account and product line between our
    read and our write, the primary key of ``protections`` refuses ours; the transaction rolls
    back and the consumer retries, and the retry sees the holder.
    """
    submitted = envelope.data
    if not isinstance(submitted, RegistrationSubmitted):
        raise PoisonEventError(f"not a submission: {envelope.type}")
    now = ctx.clock.now()
    async with ctx.transactions.transaction() as session:
        if not await claim_event(
            session,
            inbox,
            consumer=SUBMISSIONS_CONSUMER,
            event_id=envelope.id,
            event_type=envelope.type,
            now=now,
        ):
            return
        if await _already_decided(session, submitted.registration_id):
            return
        holder = await _live_protection(session, submitted.account_key, submitted.product_line)
        decision = decide(_submission(submitted), holder, ctx.policy, now=now)
        if decision.outcome == "approved" and holder is not None:
            # The holder's window has passed but the expiry job has not ended it yet.
            await _end_protection(session, submitted.account_key, submitted.product_line)
        await _record(session, submitted, decision, ctx.policy, envelope, now=now)


def _submission(submitted: RegistrationSubmitted) -> Submission:
    return Submission(
        registration_id=submitted.registration_id,
        submission_seq=submitted.submission_seq,
        partner_id=submitted.partner.id,
        partner_tier=submitted.partner.tier,
        account_key=submitted.account_key,
        product_line=submitted.product_line,
    )


async def _already_decided(session: AsyncSession, registration_id: str) -> bool:
    query = select(claims.c.registration_id).where(claims.c.registration_id == registration_id)
    return (await session.execute(query)).first() is not None


async def _live_protection(
    session: AsyncSession, account_key: str, product_line: str
) -> LiveProtection | None:
    query = select(protections).where(
        protections.c.account_key == account_key, protections.c.product_line == product_line
    )
    if dialect_name(session) == "postgresql":
        query = query.with_for_update()
    row = (await session.execute(query)).mappings().first()
    if row is None:
        return None
    return LiveProtection(
        registration_id=row["registration_id"],
        partner_id=row["partner_id"],
        expires_at=row["expires_at"],
    )


async def _end_protection(session: AsyncSession, account_key: str, product_line: str) -> None:
    await session.execute(
        delete(protections).where(
            protections.c.account_key == account_key, protections.c.product_line == product_line
        )
    )


async def _record(
    session: AsyncSession,
    submitted: RegistrationSubmitted,
    decision: Decision,
    policy: Policy,
    cause: EventEnvelope[Any],
    *,
    now: Any,
) -> None:
    if decision.outcome == "approved":
        assert decision.protection_expires_at is not None  # noqa: S101 - approve() sets it
        await session.execute(
            insert(protections).values(
                account_key=submitted.account_key,
                product_line=submitted.product_line,
                registration_id=submitted.registration_id,
                partner_id=submitted.partner.id,
                expires_at=decision.protection_expires_at,
            )
        )
    await session.execute(
        insert(claims).values(
            registration_id=submitted.registration_id,
            submission_seq=submitted.submission_seq,
            partner_id=submitted.partner.id,
            account_key=submitted.account_key,
            product_line=submitted.product_line,
            submitted=submitted.model_dump(mode="json"),
            status=decision.outcome,
            rule=decision.rule,
            reason_code=decision.reason_code,
            reason=decision.reason,
            policy_version=policy.version,
            decided_at=now,
            protection_expires_at=decision.protection_expires_at,
            correlation_id=cause.correlationid,
        )
    )
    event = _decision_event(submitted, decision, policy, now=now)
    await stage_events(session, outbox, [_envelope(event, submitted, cause, now=now)], now=now)


def _decision_event(
    submitted: RegistrationSubmitted, decision: Decision, policy: Policy, *, now: Any
) -> EventPayload:
    if decision.outcome == "approved":
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
    return RegistrationRejected(
        registration_id=submitted.registration_id,
        account_key=submitted.account_key,
        product_line=submitted.product_line,
        decided_at=now,
        policy_version=policy.version,
        rule=decision.rule,
        reason_code=decision.reason_code or "REJECTED",
        reason=decision.reason,
        blocking_registration_id=decision.blocking_registration_id,
        blocked_until=decision.blocked_until,
    )


def _envelope(
    payload: EventPayload, submitted: RegistrationSubmitted, cause: EventEnvelope[Any], *, now: Any
) -> EventEnvelope[Any]:
    return new_envelope(
        payload,
        event_id=new_id(),
        source=SOURCE,
        subject=submitted.registration_id,
        time=now,
        correlation_id=cause.correlationid,
        causation_id=cause.id,
        partition_key=submitted.account_key,
    )
