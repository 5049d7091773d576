"""New policy and house-account versions from sales ops."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from conflict_resolver.adapters import outcomes, policy_store
from conflict_resolver.domain.policy import Policy
from conflict_resolver.domain.protection import Cause
from conflict_resolver.domain.rules.capacity import capacity_caps_of
from conflict_resolver.handlers.context import Context
from schemas.attribution import ExchangeRatesPublished
from services.clock import new_id


async def publish_policy(ctx: Context, policy: Policy, *, created_by: str) -> Policy:
    """Store a new policy version; decisions from now on use it. When its capacity caps
    differ from the version before, they are told to deal_registration in the same
    transaction (partners read their capacity there)."""
    now = ctx.clock.now()
    async with ctx.transactions.transaction() as session:
        before = await policy_store.current_policy(session, now=now)
        stored = await policy_store.publish_policy(session, policy, created_by=created_by, now=now)
        subject = f"policy-{stored.version}"
        cause = Cause(None, new_id())
        if _rates_of(stored) != _rates_of(before):
            await outcomes.emit(
                session, exchange_rates_of(stored, now=now), registration_id=subject,
                partition_key="policy", cause=cause, now=now,
            )  # fmt: skip
        if stored.capacity == before.capacity:
            return stored
        caps = capacity_caps_of(stored, now=now)
        await outcomes.emit(
            session, caps, registration_id=subject, partition_key="policy", cause=cause, now=now
        )
        return stored


def exchange_rates_of(policy: Policy, *, now: datetime) -> ExchangeRatesPublished:
    """What deal_registration needs to state partners' figures in one currency."""
    return ExchangeRatesPublished(
        policy_version=policy.version,
        published_at=now,
        base_currency=policy.base_currency,
        exchange_rates=dict(policy.exchange_rates),
    )


def _rates_of(policy: Policy) -> tuple[str, dict[str, Decimal]]:
    return policy.base_currency, dict(policy.exchange_rates)


async def publish_house_accounts(
    ctx: Context, accounts: policy_store.HouseAccountList, *, created_by: str
) -> int:
    async with ctx.transactions.transaction() as session:
        return await policy_store.publish_house_accounts(
            session, accounts, created_by=created_by, now=ctx.clock.now()
        )
