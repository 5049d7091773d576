"""crm_sync reads the CRM's companies (HubSpot companies, Salesforce accounts) from the CRM
sandbox through its real connectors and publishes each change once: names, alias domains,
former names and the parent company (``crm_sync.companies``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import requests
from simple_salesforce import Salesforce
from sqlalchemy import select

from crm_sync.adapters.connectors import build_connector
from crm_sync.adapters.tables import metadata, outbox
from crm_sync.companies import company_source, receive_company_notices, sweep_companies
from crm_sync.handlers import Context
from crm_sync.notices import hubspot_notices
from crm_sync.settings import CrmSettings
from services.clock import SystemClock
from services.db import create_engine, create_session_factory
from services.uow import TransactionRunner
from tests.support.crm_sandbox import CrmSandbox
from tests.support.infra import ROOT

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sandbox() -> Iterator[CrmSandbox]:
    box = CrmSandbox(artifacts=ROOT / "test-artifacts" / "crm_companies").start(
        rate_per_ten_seconds=1000, search_per_second=50
    )
    yield box
    box.stop()


@pytest.fixture
async def transactions(database_url: str) -> AsyncIterator[TransactionRunner]:
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    try:
        yield TransactionRunner(create_session_factory(engine), None)
    finally:
        await engine.dispose()


async def published(transactions: TransactionRunner) -> list[dict[str, Any]]:
    async with transactions.transaction() as session:
        rows = (await session.execute(select(outbox).order_by(outbox.c.id))).mappings().all()
    return [{"type": row["event_type"], **row["envelope"]["data"]} for row in rows]


def settings(**values: Any) -> CrmSettings:
    return CrmSettings(reconcile_overlap_seconds=0, reconcile_index_lag_seconds=0, **values)


async def test_hubspot_companies_are_published_once_per_change_and_removed_when_deleted(
    sandbox: CrmSandbox, transactions: TransactionRunner
) -> None:
    sandbox.control("POST", "/reset")
    credentials = sandbox.credentials()
    config = settings(
        connector="hubspot",
        hubspot_base_url=sandbox.url,
        hubspot_token=credentials["hubspot_token"],
    )
    connector = build_connector(config)
    source = company_source(connector)
    assert source is not None
    ctx = Context(transactions, SystemClock(), connector=connector, settings=config)
    user = {"Authorization": f"Bearer {credentials['hubspot_user_token']}"}
    async with httpx.AsyncClient(base_url=sandbox.url, headers=user) as hubspot:

        async def create(**properties: str) -> str:
            answer = await hubspot.post(
                "/crm/v3/objects/companies", json={"properties": properties}
            )
            assert answer.status_code == 201, answer.text
            return str(answer.json()["id"])

        parent = await create(name="Globex Holdings", domain="globex.com")
        acme = await create(
            name="Acme Corporation",
            domain="acme.com",
            hs_additional_domains="acme-widgets.io; acme.co.uk",
            dealreg_former_names="Roadrunner Supplies",
            country="us",
            hs_parent_company_id=parent,
        )
        assert await sweep_companies(ctx, source) == 2
        await sweep_companies(ctx, source)  # nothing changed: nothing published again
        events = await published(transactions)
        assert [e["type"] for e in events] == ["dealreg.crm.company_upserted"] * 2
        [acme_event] = [e for e in events if e["company_id"] == acme]
        assert acme_event["domains"] == ["acme.com", "acme-widgets.io", "acme.co.uk"]
        assert acme_event["former_names"] == ["Roadrunner Supplies"]
        assert acme_event["parent_company_id"] == parent
        assert acme_event["country"] == "US"
        assert acme_event["account_key"] == "d:acme.com"

        renamed = await hubspot.patch(
            f"/crm/v3/objects/companies/{acme}",
            json={"properties": {"name": "Acme Global", "dealreg_former_names": "Acme Corp"}},
        )
        assert renamed.status_code == 200, renamed.text
        await sweep_companies(ctx, source)
        latest = (await published(transactions))[-1]
        assert (latest["name"], latest["former_names"]) == ("Acme Global", ["Acme Corp"])
        assert len(await published(transactions)) == 3

        assert (await hubspot.delete(f"/crm/v3/objects/companies/{parent}")).status_code == 204
    deletion = {
        "subscriptionType": "company.deletion",
        "objectId": int(parent),
        "occurredAt": 1,
        "eventId": 1,
        "changeSource": "CRM_UI",
    }
    notices = hubspot_notices([deletion], credentials["hubspot_app_id"])
    assert await receive_company_notices(ctx, source, notices) == 1
    assert await receive_company_notices(ctx, source, notices) == 0  # delivered again
    removed = (await published(transactions))[-1]
    assert removed["type"] == "dealreg.crm.company_removed"
    assert removed["company_id"] == parent
    await connector.aclose()  # type: ignore[union-attr]


async def test_salesforce_accounts_are_companies_with_parent_and_aliases(
    sandbox: CrmSandbox, transactions: TransactionRunner
) -> None:
    sandbox.control("POST", "/reset")
    credentials = sandbox.credentials()
    config = settings(
        connector="salesforce",
        salesforce_instance_url=sandbox.salesforce_url,
        salesforce_client_id=credentials["salesforce_client_id"],
        salesforce_client_secret=credentials["salesforce_client_secret"],
        salesforce_ca_bundle=sandbox.cert,
    )
    connector = build_connector(config)  # no DeprecationWarning: warnings are errors here
    source = company_source(connector)
    assert source is not None
    ctx = Context(transactions, SystemClock(), connector=connector, settings=config)
    session = requests.Session()
    session.verify = sandbox.cert
    session.trust_env = False
    token = session.post(
        f"{sandbox.salesforce_url}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": credentials["salesforce_client_id"],
            "client_secret": credentials["salesforce_client_secret"],
        },
    ).json()
    salesforce = Salesforce(
        instance_url=token["instance_url"], session_id=token["access_token"], session=session
    )
    parent = salesforce.Account.create({"Name": "Globex Holdings", "Website": "globex.com"})
    salesforce.Account.create(
        {
            "Name": "Initech",
            "Website": "https://www.initech.com",
            "ParentId": parent["id"],
            "BillingCountryCode": "US",
            "Dealreg_Alias_Domains__c": "initech.io",
            "Dealreg_Former_Names__c": "Initrode; Intertrode",
        }
    )
    assert await sweep_companies(ctx, source) == 2
    [initech] = [e for e in await published(transactions) if e["name"] == "Initech"]
    assert initech["parent_company_id"] == parent["id"]
    assert initech["domains"] == ["https://www.initech.com", "initech.io"]
    assert initech["account_key"] == "d:initech.com"
    assert initech["former_names"] == ["Initrode", "Intertrode"]
    await connector.aclose()  # type: ignore[union-attr]
