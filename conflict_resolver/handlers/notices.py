"""'Protection expires in N days': the holder is told at the times the policy sets, each
notice once per expiry (``domain.protection.notices``), across restarts and instances: the
notice is recorded with its event in one transaction, and a second instance's record of the
same notice is refused by the table's primary key (its transaction, event and all, rolls
back)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from conflict_resolver.adapters import notices as store
from conflict_resolver.adapters import outcomes, policy_store
from conflict_resolver.adapters.guards import exclusivity_refusals
from conflict_resolver.adapters.session import Session
from conflict_resolver.domain.protection import Cause, Emission, Outcome, ProtectionConflictError
from conflict_resolver.domain.protection.notices import notice_words, notices_due
from conflict_resolver.handlers.context import Context
from schemas.registration import ProtectionExpiring, RegistrationSubmitted


async def notify_one(ctx: Context) -> bool:
    """Send (or pass) the notices due for one protection; False when none is due or another
    instance recorded them first."""
    now = ctx.clock.now()
    try:
        with exclusivity_refusals("recorded by another instance"):
            async with ctx.transactions.transaction() as session:
                return await _notify_one(session, now=now)
    except ProtectionConflictError:
        return False


async def _notify_one(session: Session, *, now: datetime) -> bool:
    # A background job does not store the default policy (the first caller that must does).
    policy = await policy_store.current_policy(session, now=now, store_default=False)
    for notice in sorted(policy.expiry_notices):
        row = await store.next_unnoticed(session, notice, now=now)
        if row is None:
            continue
        recorded = await store.recorded_notices(session, row["registration_id"], row["expires_at"])
        plan = notices_due(
            expires_at=row["expires_at"],
            granted_at=row["decided_at"],
            notices=policy.expiry_notices,
            recorded=recorded,
            now=now,
        )
        await store.record_notices(
            session,
            row["registration_id"],
            row["expires_at"],
            notices=plan.record or (notice,),
            sent=plan.send,
            now=now,
        )
        if plan.send is not None:
            passed = tuple(n for n in plan.record if n != plan.send)
            await outcomes.persist(session, _told(row, plan.send, passed, now=now), now=now)
        return True
    return False


def _told(
    row: dict[str, Any], notice: timedelta, passed: tuple[timedelta, ...], *, now: datetime
) -> Outcome:
    submitted = RegistrationSubmitted.model_validate(row["submitted"])
    expires_at: datetime = row["expires_at"]
    expiring = ProtectionExpiring(
        registration_id=submitted.registration_id,
        account_key=submitted.account_key,
        product_line=submitted.product_line,
        protection_expires_at=expires_at,
        notice=notice,
        noticed_at=now,
        passed=passed,  # recorded with it: the resolver's record of this expiry's notices
        reason=(
            f"Your protection expires in {notice_words(notice)}, at "
            f"{expires_at.isoformat(timespec='minutes')}. You may ask to extend it before then "
            "if the deal is still open."
        ),
    )
    cause = Cause(None, row["correlation_id"])
    return Outcome(
        events=(Emission(expiring, submitted.registration_id, submitted.account_key, cause),)
    )
