"""Partner keys issued and suspensions made before account overlap existed reach the resolver
too: deal_registration's migrations stage one event (hash only, for a key) for each."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select

from deal_registration.adapters.tables import api_keys, outbox, partners
from schemas.flows import DEAL_REGISTRATION
from schemas.principals import PartnerKeyIssued, PartnerStatusChanged
from services.db import create_engine
from services.migrations import upgrade
from services.outbox import envelope_from_row

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 1, 9, tzinfo=UTC)


async def test_live_partner_keys_issued_before_are_published_once(database_url: str) -> None:
    await asyncio.to_thread(upgrade, "deal_registration", database_url, "1520")
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                insert(partners).values(
                    id="p-1", name="Old Partner", tier="gold", status="active",
                    product_lines=["network-security"], created_at=NOW, updated_at=NOW,
                )
            )  # fmt: skip
            await connection.execute(
                insert(api_keys),
                [
                    {"id": "k-live", "key_hash": "a" * 64, "role": "partner",
                     "partner_id": "p-1", "name": "Old Partner", "created_at": NOW,
                     "revoked_at": None},
                    {"id": "k-gone", "key_hash": "b" * 64, "role": "partner",
                     "partner_id": "p-1", "name": "Old Partner", "created_at": NOW,
                     "revoked_at": NOW},
                    {"id": "k-ops", "key_hash": "c" * 64, "role": "ops", "partner_id": None,
                     "name": "Sam", "created_at": NOW, "revoked_at": None},
                ],
            )  # fmt: skip
        await asyncio.to_thread(upgrade, "deal_registration", database_url)
        async with engine.connect() as connection:
            rows = (await connection.execute(select(outbox))).all()
    finally:
        await engine.dispose()

    assert [row.event_type for row in rows] == [PartnerKeyIssued.event_type]
    envelope = envelope_from_row(rows[0])
    assert envelope.data == PartnerKeyIssued(
        key_id="k-live", partner_id="p-1", key_hash="a" * 64, issued_at=NOW
    )
    assert envelope.source == DEAL_REGISTRATION.source
    assert envelope.partitionkey == "k-live"
    assert rows[0].topic == "dealreg.principals"


async def test_partners_suspended_before_are_published_once(database_url: str) -> None:
    """Migration 1840 stages one ``partner_status_changed`` per partner suspended then, so the
    resolver refuses their overlap writes too; active partners need no event (no row there
    means active)."""
    await asyncio.to_thread(upgrade, "deal_registration", database_url, "1630")
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                insert(partners),
                [
                    {"id": "p-out", "name": "Suspended Partner", "tier": "gold",
                     "status": "suspended", "product_lines": [], "created_at": NOW,
                     "updated_at": NOW},
                    {"id": "p-in", "name": "Active Partner", "tier": "gold",
                     "status": "active", "product_lines": [], "created_at": NOW,
                     "updated_at": NOW},
                ],
            )  # fmt: skip
        await asyncio.to_thread(upgrade, "deal_registration", database_url)
        async with engine.connect() as connection:
            rows = (await connection.execute(select(outbox))).all()
    finally:
        await engine.dispose()

    assert [row.event_type for row in rows] == [PartnerStatusChanged.event_type]
    envelope = envelope_from_row(rows[0])
    assert envelope.data == PartnerStatusChanged(
        partner_id="p-out", status="suspended", changed_at=NOW
    )
    assert envelope.partitionkey == "p-out"
    assert rows[0].topic == "dealreg.principals"
