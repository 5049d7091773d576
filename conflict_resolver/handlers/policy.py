"""New policy and house-account versions from sales ops."""

from __future__ import annotations

from conflict_resolver.adapters import policy_store
from conflict_resolver.domain.policy import Policy
from conflict_resolver.handlers.context import Context


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
