"""The keys of CRM webhook notices already applied, in the inbox under their own consumer
name (pruned on a window of their own, see ``crm_sync.app.retention_rules``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_sync.adapters.tables import inbox
from services.inbox import claim_event

CRM_WEBHOOK_DEDUP_CONSUMER = "crm_sync.webhooks"


async def seen(session: AsyncSession, keys: list[str]) -> set[str]:
    """Which of these notice keys were applied already."""
    return set(
        (
            await session.execute(
                select(inbox.c.event_id).where(
                    inbox.c.consumer == CRM_WEBHOOK_DEDUP_CONSUMER, inbox.c.event_id.in_(keys)
                )
            )
        ).scalars()
    )


async def claim(session: AsyncSession, key: str, now: datetime) -> bool:
    """Record the notice as applied; False if it already was."""
    return await claim_event(
        session,
        inbox,
        consumer=CRM_WEBHOOK_DEDUP_CONSUMER,
        event_id=key,
        event_type="webhook",
        now=now,
    )
