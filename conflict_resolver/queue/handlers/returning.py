"""Returning a case's registration to its partner for edit (``action_required``), instead of
deciding it: the case closes (its history says who returned it, why and which fields), the
claim holds nothing until the edit, and the partner is told. The policy caps the round trips;
past them the reviewer must approve or reject (409)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from conflict_resolver.domain.protection import ProtectionConflictError
from conflict_resolver.handlers import review
from conflict_resolver.queue import store
from conflict_resolver.queue.domain import QueueError
from conflict_resolver.queue.handlers.context import QueueContext
from conflict_resolver.queue.handlers.reading import get_case
from services.principals import OpsCaller as Operator


async def return_for_edit(
    ctx: QueueContext,
    operator: Operator,
    case_id: str,
    *,
    comments: str,
    fields: Sequence[str],
) -> dict[str, Any]:
    now = ctx.clock.now()
    with store.exclusivity_guarded():
        async with ctx.transactions.transaction() as session:
            row = await store.get_case(session, case_id, lock=True)
            if row is None:
                raise QueueError("not_found", "No such conflict case.")
            if row["state"] != "open":
                raise QueueError("conflict", "The case is already decided.")
            try:
                await review.return_reviewed(
                    session,
                    row["registration_id"],
                    comments=comments,
                    fields=fields,
                    actor=operator.actor,
                    now=now,
                )
            except ProtectionConflictError as refused:
                raise QueueError("conflict", str(refused)) from refused
            if not await store.close_case(
                session,
                case_id,
                decided_at=now,
                decided_by=operator.actor,
                reason=comments,
                approved_registration_id=None,
            ):
                raise QueueError("conflict", "The case is already decided.")
            await store.add_history(
                session,
                case_id,
                at=now,
                action="returned",
                actor=operator.actor,
                reason=comments,
                detail={"fields": list(fields)},
            )
    return await get_case(ctx, case_id)
