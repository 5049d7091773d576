"""Proposing a review band from sales ops' decisions on possible duplicates (issue 17).

Read-only: the proposal (with its what-if over the decisions on record and the policy document
that would carry it) is published, if at all, by ``PUT /v1/policy`` as a new version.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from conflict_resolver.adapters import policy_store
from conflict_resolver.domain.calibration import Band, LabelledPair, calibrate, what_if
from conflict_resolver.handlers.context import Context
from conflict_resolver.queue import store

MAX_DECISIONS = 100_000


async def propose_calibration(
    ctx: Context, *, target_precision: float | None, limit: int = MAX_DECISIONS
) -> dict[str, Any]:
    """The band ops' latest ``limit`` decisions support at the target precision (the policy's
    own unless given), what it would have changed, and the policy document carrying it."""
    async with ctx.transactions.transaction() as session:
        policy = await policy_store.current_policy(
            session, now=ctx.clock.now(), store_default=False
        )
        rows = await store.match_decision_rows(session, limit=limit)
    target = policy.matching.target_precision if target_precision is None else target_precision
    pairs = [LabelledPair(similarity=row["similarity"], same=row["same"]) for row in rows]
    current = Band(same_account=policy.matching.same_account, review=policy.matching.review)
    result = calibrate(pairs, current, target_precision=target)
    matching = policy.matching.model_dump(mode="json") | {
        "same_account": result.proposed.same_account,
        "review": result.proposed.review,
        "target_precision": target,
        "calibration": [asdict(step) for step in result.steps],
    }
    return {
        "policy_version": policy.version,
        "decisions": result.decisions,
        "target_precision": target,
        "current": asdict(result.current),
        "proposed": asdict(result.proposed),
        "steps": [asdict(step) for step in result.steps],
        "what_if": what_if(pairs, result.proposed, result.current),
        "note": result.note,
        "policy": policy.document() | {"matching": matching},
    }
