"""A same-account match brings its own account key to the CRM checks, even when it holds no
protection under it (claims_store.gather reads it with the match)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas.crm import DirectOpportunityOpened
from schemas.registration import CustomerData
from services.db import create_engine
from services.migrations import upgrade
from tests.support.resolver import (
    START,
    HandClock,
    deliver,
    envelope_of,
    recorded,
    resolver_context,
    submitted,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    await asyncio.to_thread(upgrade, "conflict_resolver", database_url)
    subject = create_engine(database_url)
    yield subject
    await subject.dispose()


async def test_a_direct_opportunity_on_a_same_account_claims_own_key_is_found(
    engine: AsyncEngine,
) -> None:
    ctx = resolver_context(engine, HandClock())
    holder = submitted(partner="p1", name="Acme Corporation", domain="acme.com", seq=1)
    by_name = submitted(partner="p2", name="Acme Inc", domain=None, seq=2)
    await deliver(ctx, holder)
    await deliver(ctx, by_name)  # rejected, under the holder's protection key
    name_key = by_name.data.account_key
    assert (await recorded(engine))[by_name.data.registration_id].protection_key == "d:acme.com"
    opened = DirectOpportunityOpened(
        crm_system="salesforce",
        opportunity_id="006NAME",
        account_key=name_key,
        customer=CustomerData(name="Acme Inc", domain=None, country="US"),
        product_line="network-security",
        opened_at=START,
    )
    await deliver(ctx, envelope_of(opened, key=name_key, subject="x"))
    # Same account as by_name (same name, no domain on its side), only possible against the
    # holder (unrelated domains): by_name's own account key is where the CRM has the deal.
    third = submitted(partner="p3", name="Acme Inc", domain="acme-corp.com", seq=3)
    await deliver(ctx, third)

    claim = (await recorded(engine))[third.data.registration_id]
    assert claim.reason_code == "DIRECT_OPPORTUNITY_CONFLICT"
    assert claim.evidence is not None
    assert claim.evidence["direct_opportunity"]["opportunity_id"] == "006NAME"
