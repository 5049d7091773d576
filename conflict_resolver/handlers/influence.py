"""An influence registration: decided by :func:`domain.influence.judge_influence`, recorded in
``influence_claims`` and answered with ``InfluenceAccepted`` or ``InfluenceRejected``, in the
event's transaction. It never reads or writes claims, protections or waitlists."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from conflict_resolver.adapters import influence as store
from conflict_resolver.adapters import policy_store
from conflict_resolver.adapters.house_accounts import house_account_hit
from conflict_resolver.adapters.outcomes import emit
from conflict_resolver.domain.influence import judge_influence
from conflict_resolver.domain.protection import normalised, submission_of
from conflict_resolver.handlers.context import cause_of
from schemas.cosell import InfluenceAccepted, InfluenceRejected
from schemas.envelope import EventPayload
from schemas.registration import RegistrationSubmitted
from services.events import EventContext


async def decide_influence(submitted: RegistrationSubmitted, event: EventContext) -> None:
    """Accept or reject one influence claim; a redelivered one changes nothing."""
    session, now = event.session, event.now
    if await store.get(session, submitted.registration_id) is not None:
        return
    policy = await policy_store.current_policy(session, now=now)
    house = await policy_store.current_house_accounts(session)
    hit = house_account_hit(house, normalised(submitted.customer), submitted.account_key, policy)
    verdict = judge_influence(
        submission_of(submitted),
        house_account=hit,
        house_account_action=policy.house_account_action,
    )
    cause = cause_of(event)
    await store.insert_claim(
        session,
        influence_row(
            submitted,
            status=verdict.outcome,
            reason_code=verdict.reason_code,
            policy_version=policy.version,
            decided_at=now,
            correlation_id=cause.correlation_id,
        ),
    )
    common = {
        "registration_id": submitted.registration_id,
        "account_key": submitted.account_key,
        "product_line": submitted.product_line,
        "partner_id": submitted.partner.id,
        "decided_at": now,
        "policy_version": policy.version,
        "rule": verdict.rule,
        "reason_code": verdict.reason_code,
        "reason": verdict.reason,
    }
    payload: EventPayload = (
        InfluenceAccepted.model_validate({**common, "partner_name": submitted.partner.name})
        if verdict.outcome == "accepted"
        else InfluenceRejected.model_validate(common)
    )
    await emit(
        session,
        payload,
        registration_id=submitted.registration_id,
        partition_key=submitted.account_key,
        cause=cause,
        now=now,
    )


def influence_row(
    submitted: RegistrationSubmitted,
    *,
    status: str,
    reason_code: str | None,
    policy_version: int,
    decided_at: datetime,
    correlation_id: str,
) -> dict[str, Any]:
    """The record of a decided influence claim (decided here, or replayed from its event)."""
    return {
        "registration_id": submitted.registration_id,
        "partner_id": submitted.partner.id,
        "account_key": submitted.account_key,
        "product_line": submitted.product_line,
        "status": status,
        "reason_code": reason_code,
        "policy_version": policy_version,
        "submitted": submitted.model_dump(mode="json"),
        "decided_at": decided_at,
        "correlation_id": correlation_id,
    }
