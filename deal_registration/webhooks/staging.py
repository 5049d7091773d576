"""Deliveries staged with the change they tell of (the ``webhook_deliveries`` table is an outbox).

A delivery is written in the same transaction as the change, so a change is never told without
having happened, nor happened without being told.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from deal_registration.adapters import repository as repo
from deal_registration.domain.lifecycle import Entry, actor_for_partner


async def stage_delivery(
    session: AsyncSession,
    registration: Mapping[str, Any],
    entry: Entry,
    *,
    actor: str,
    now: datetime,
) -> None:
    """Queue a delivery for this change if the registration's partner has a webhook; who
    caused it is told as a kind (``actor_for_partner``), never an identity. It is due now,
    by this service's clock: the step's own time (``entry.at``, often another service's
    clock) only goes into the payload."""
    if entry.status.value == "submitted":
        return
    hook = await repo.get_webhook(session, registration["partner_id"])
    if hook is None:
        return
    payload = {
        "type": entry.webhook_type,
        "timestamp": entry.at.isoformat(),
        "data": {
            "registration_id": registration["id"],
            "partner_reference": registration.get("partner_reference"),
            "status": entry.status.value,
            "reason_code": entry.reason_code,
            "reason": entry.reason,
            "protection_expires_at": _iso(registration.get("protection_expires_at")),
            "extension": registration.get("extension_state"),
            "actor": actor_for_partner(actor),
        },
    }
    await repo.insert_delivery(
        session,
        {
            "id": f"msg_{uuid.uuid4().hex}",
            "partner_id": registration["partner_id"],
            "registration_id": registration["id"],
            "event_type": entry.webhook_type,
            "payload": payload,
            "state": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        },
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
