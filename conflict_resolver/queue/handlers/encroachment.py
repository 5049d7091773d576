"""Resolving a ``DIRECT_ENCROACHMENT`` case: sales ops say what happens between the partner's
protection and direct sales' opportunity. It changes no protection (the partner's stands
whatever they choose); it closes the case, records it, and tells the holder in words that
name no one (``DirectEncroachmentResolved``)."""

from __future__ import annotations

from typing import Any

from conflict_resolver.adapters.outcomes import emit
from conflict_resolver.domain.encroachment import REASON_CODE, Resolution, resolution_notice
from conflict_resolver.domain.protection import Cause
from conflict_resolver.queue import store
from conflict_resolver.queue.domain import QueueError
from conflict_resolver.queue.handlers.context import QueueContext
from conflict_resolver.queue.handlers.reading import get_case
from conflict_resolver.queue.metrics import CONFLICTS_DECIDED
from schemas.encroachment import DirectEncroachmentResolved
from services.clock import new_id
from services.principals import OpsCaller as Operator


async def resolve_encroachment(
    ctx: QueueContext, operator: Operator, case_id: str, *, resolution: Resolution, reason: str
) -> dict[str, Any]:
    """Resolve an open encroachment case; 409 if it is decided or of another kind."""
    now = ctx.clock.now()
    async with ctx.transactions.transaction() as session:
        row = await store.get_case(session, case_id, lock=True)
        if row is None:
            raise QueueError("not_found", "No such conflict case.")
        if row["reason_code"] != REASON_CODE:
            raise QueueError(
                "conflict", "Only a DIRECT_ENCROACHMENT case is resolved; decide this one."
            )
        closed = await store.close_case(
            session,
            case_id,
            decided_at=now,
            decided_by=operator.actor,
            reason=reason,
            approved_registration_id=None,
        )
        if not closed:
            raise QueueError("conflict", "The case is already decided.")
        await store.set_resolution(session, case_id, resolution)
        await store.add_history(
            session,
            case_id,
            at=now,
            action="decided",
            actor=operator.actor,
            reason=reason,
            detail={"resolution": resolution},
        )
        direct = (row["evidence"] or {}).get("direct_opportunity") or {}
        holder = (await store.claims_by_id(session, [row["registration_id"]])).get(
            row["registration_id"]
        )
        correlation = (holder["correlation_id"] if holder else None) or new_id()
        resolved = DirectEncroachmentResolved(
            conflict_id=case_id,
            registration_id=row["registration_id"],
            account_key=row["account_key"],
            product_line=row["product_line"],
            crm_system=direct.get("crm_system", "hubspot"),
            opportunity_id=str(direct.get("opportunity_id", "")),
            resolution=resolution,
            partner_reason=resolution_notice(resolution),
            decided_by=operator.actor,
            resolved_at=now,
        )
        await emit(
            session,
            resolved,
            registration_id=row["registration_id"],
            partition_key=row["account_key"],
            cause=Cause(None, correlation),
            now=now,
        )
    CONFLICTS_DECIDED.labels(by="ops", outcome=resolution).inc()
    return await get_case(ctx, case_id)
