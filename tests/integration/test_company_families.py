"""Company families and aliases in the resolver, on its database: the CRM's companies
(``CrmCompanyUpserted``) are kept, and a registration naming an alias domain or a former name
competes with the company's other registrations; parent and subsidiary are one account under
``one_account`` and two under ``separate``."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from conflict_resolver import handlers
from conflict_resolver.adapters import crm_companies
from conflict_resolver.adapters.tables import protections
from conflict_resolver.domain.policy import CompanyFamiliesPolicy, Policy
from schemas.companies import CrmCompanyRemoved, CrmCompanyUpserted
from schemas.topics import REGISTRATIONS
from services.db import create_engine
from services.kafka.admin import ensure_topics
from services.kafka.producer import KafkaEventPublisher
from services.migrations import upgrade
from tests.support.databases import Databases
from tests.support.resolver import (
    START,
    HandClock,
    ResolverInstance,
    deliver,
    envelope_of,
    recorded,
    resolver_context,
    submitted,
    wait_decided,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    await asyncio.to_thread(upgrade, "conflict_resolver", database_url)
    subject = create_engine(database_url)
    yield subject
    await subject.dispose()


def company(company_id: str, name: str, domains: list[str], **extra: object) -> object:
    payload = CrmCompanyUpserted(
        crm_system="hubspot",
        company_id=company_id,
        account_key=f"d:{domains[0]}",
        name=name,
        domains=domains,
        changed_at=START,
        **extra,  # type: ignore[arg-type]
    )
    return envelope_of(payload, key=payload.account_key, subject=company_id)


ACME = company(
    "1",
    "Acme Corporation",
    ["acme.com", "acme-widgets.io", "acme.co.uk"],
    former_names=["Roadrunner Supplies"],
    country="US",
)
GLOBEX = company("10", "Globex Holdings", ["globex.com"])
INITECH = company("11", "Initech", ["initech.com"], parent_company_id="10")


async def test_a_former_name_and_an_alias_domain_are_the_crm_account(engine: AsyncEngine) -> None:
    ctx = resolver_context(engine, HandClock())
    await deliver(ctx, ACME)  # type: ignore[arg-type]
    holder = submitted(partner="a", name="Acme Corporation", domain="acme.com")
    by_former_name = submitted(partner="b", name="Roadrunner Supplies Inc", domain=None)
    by_alias = submitted(partner="c", name="ACME Corp", domain="shop.acme.co.uk")
    for registration in (holder, by_former_name, by_alias):
        await deliver(ctx, registration)

    claims = await recorded(engine)
    assert claims[holder.data.registration_id].status == "approved"
    for later in (by_former_name, by_alias):
        claim = claims[later.data.registration_id]
        assert (claim.status, claim.reason_code) == ("rejected", "ALREADY_REGISTERED")
        assert claim.evidence is not None
        assert claim.evidence["crm_company"]["name"] == "Acme Corporation"
    former = claims[by_former_name.data.registration_id].evidence
    assert former is not None
    assert former["crm_company"]["matched_by"] == "former_name"


async def test_an_alias_holder_blocks_a_registration_of_the_current_name(
    engine: AsyncEngine,
) -> None:
    ctx = resolver_context(engine, HandClock())
    await deliver(ctx, ACME)  # type: ignore[arg-type]
    holder = submitted(partner="a", name="Acme Widgets", domain="acme-widgets.io")
    later = submitted(partner="b", name="ACME Corp", domain="acme.co.uk")
    await deliver(ctx, holder)
    await deliver(ctx, later)
    claims = await recorded(engine)
    assert claims[holder.data.registration_id].status == "approved"
    assert claims[later.data.registration_id].reason_code == "ALREADY_REGISTERED"


async def test_without_the_crm_company_the_former_name_is_another_account(
    engine: AsyncEngine,
) -> None:
    ctx = resolver_context(engine, HandClock())
    await deliver(ctx, ACME)  # type: ignore[arg-type]
    removed = CrmCompanyRemoved(
        crm_system="hubspot", company_id="1", account_key="d:acme.com", removed_at=START
    )
    await deliver(ctx, envelope_of(removed, key="d:acme.com", subject="1"))
    holder = submitted(partner="a", name="Acme Corporation", domain="acme.com")
    other = submitted(partner="b", name="Roadrunner Supplies Inc", domain=None)
    await deliver(ctx, holder)
    await deliver(ctx, other)
    assert (await recorded(engine))[other.data.registration_id].status == "approved"


@pytest.mark.parametrize(
    ("families", "expected"),
    [
        (CompanyFamiliesPolicy(), ("approved", None)),
        (CompanyFamiliesPolicy(mode="one_account"), ("rejected", "ALREADY_REGISTERED")),
        (
            CompanyFamiliesPolicy(product_lines={"network-security": "one_account"}),
            ("rejected", "ALREADY_REGISTERED"),
        ),
        (CompanyFamiliesPolicy(product_lines={"endpoint": "one_account"}), ("approved", None)),
    ],
)
async def test_parent_and_subsidiary_by_the_family_policy(
    engine: AsyncEngine, families: CompanyFamiliesPolicy, expected: tuple[str, str | None]
) -> None:
    ctx = resolver_context(engine, HandClock())
    await handlers.publish_policy(ctx, Policy(company_families=families), created_by="test")
    await deliver(ctx, GLOBEX)  # type: ignore[arg-type]
    await deliver(ctx, INITECH)  # type: ignore[arg-type]
    parent = submitted(partner="a", name="Globex Holdings", domain="globex.com")
    subsidiary = submitted(partner="b", name="Initech", domain="initech.com")
    await deliver(ctx, parent)
    await deliver(ctx, subsidiary)
    claims = await recorded(engine)
    assert claims[parent.data.registration_id].status == "approved"
    claim = claims[subsidiary.data.registration_id]
    assert (claim.status, claim.reason_code) == expected
    assert claim.evidence is not None
    assert claim.evidence["crm_company"]["relation"] == "subsidiary of Globex Holdings"


async def test_partners_racing_on_three_aliases_over_kafka_get_one_approval(
    databases: Databases, kafka_bootstrap: str, topic_prefix: str
) -> None:
    """Acme by its current name and domain, by its former name and by an alias domain: three
    account keys (three partitions, decided by three instances at once) and one company."""
    spellings = [
        ("Acme Corporation", "acme.com"),
        ("Roadrunner Supplies", None),
        ("Acme Widgets", "acme-widgets.io"),
    ]
    racers = [
        submitted(
            partner=f"p{n}",
            name=spellings[n % 3][0],
            domain=spellings[n % 3][1],
            seq=2000 + n,
        )
        for n in range(60)
    ]
    assert len({r.data.account_key for r in racers}) == 3
    ids = {r.data.registration_id for r in racers}
    async with databases.fresh() as url:
        await asyncio.to_thread(upgrade, "conflict_resolver", url)
        await ensure_topics(kafka_bootstrap, prefix=topic_prefix)
        engine = create_engine(url)
        try:
            async with AsyncSession(engine) as session, session.begin():
                await crm_companies.record_upserted(session, ACME.data)  # type: ignore[attr-defined]
            async with contextlib.AsyncExitStack() as stack:
                for _ in range(3):
                    await stack.enter_async_context(
                        ResolverInstance(
                            database_url=url,
                            bootstrap=kafka_bootstrap,
                            topic_prefix=topic_prefix,
                            admin_token="test-admin-token-0123456789abcdef",
                        )
                    )
                publisher = KafkaEventPublisher(
                    bootstrap_servers=kafka_bootstrap, client_id="test", topic_prefix=topic_prefix
                )
                await publisher.start()
                try:
                    await asyncio.gather(
                        *(
                            publisher.publish(
                                REGISTRATIONS.name, [r for r in racers if r.data.customer.name == n]
                            )
                            for n, _ in spellings
                        )
                    )
                finally:
                    await publisher.stop()
                claims = await wait_decided(engine, ids)
            async with engine.connect() as connection:
                held = (await connection.execute(protections.select())).mappings().all()
        finally:
            await engine.dispose()
    assert len(held) == 1
    assert held[0]["account_key"] == "d:acme.com"
    outcomes = Counter(claims[rid].status for rid in ids)
    assert outcomes["approved"] == 1, outcomes
    assert outcomes["approved"] + outcomes["rejected"] + outcomes["pending_review"] == 60
