"""The sandbox speaks HubSpot and Salesforce closely enough for the vendors' own SDKs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from hubspot import HubSpot
from hubspot.crm.deals import (
    ApiException,
    BatchInputSimplePublicObjectBatchInputUpsert,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInputUpsert,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from simple_salesforce import Salesforce

from tests.support.crm_sandbox import CrmSandbox
from tests.support.infra import ROOT

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sandbox() -> Iterator[CrmSandbox]:
    box = CrmSandbox(artifacts=ROOT / "test-artifacts" / "crm_sandbox_fidelity").start(
        rate_per_ten_seconds=1000, search_per_second=50
    )
    yield box
    box.stop()


@pytest.fixture
def hubspot(sandbox: CrmSandbox) -> HubSpot:
    sandbox.control("POST", "/reset")
    return HubSpot(access_token=sandbox.credentials()["hubspot_token"], host=sandbox.url)


def _upsert(registration_id: str, **props: str) -> SimplePublicObjectBatchInputUpsert:
    return SimplePublicObjectBatchInputUpsert(
        id_property="dealreg_registration_id", id=registration_id, properties=props
    )


def test_hubspot_sdk_creates_reads_updates_and_archives(hubspot: HubSpot) -> None:
    created = hubspot.crm.deals.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"dealname": "Acme", "amount": "10"})
    )
    assert created is not None  # the SDK returns None unless the answer is 201
    assert created.properties["dealname"] == "Acme"
    read = hubspot.crm.deals.basic_api.get_by_id(created.id, properties=["dealname", "amount"])
    assert read.properties["amount"] == "10"
    updated = hubspot.crm.deals.basic_api.update(
        created.id, SimplePublicObjectInput(properties={"amount": "12"})
    )
    assert updated.properties["amount"] == "12"
    hubspot.crm.deals.basic_api.archive(created.id)
    with pytest.raises(ApiException) as missing:
        hubspot.crm.deals.basic_api.get_by_id(created.id)
    assert missing.value.status == 404
    assert '"category":"OBJECT_NOT_FOUND"' in missing.value.body.replace(" ", "")


def test_hubspot_sdk_batch_upserts_by_unique_property_with_the_new_flag(hubspot: HubSpot) -> None:
    batch = BatchInputSimplePublicObjectBatchInputUpsert(
        inputs=[_upsert("reg-1", dealname="One"), _upsert("reg-2", dealname="Two")]
    )
    first = hubspot.crm.deals.batch_api.upsert(batch)
    assert {result.new for result in first.results} == {True}
    again = hubspot.crm.deals.batch_api.upsert(
        BatchInputSimplePublicObjectBatchInputUpsert(inputs=[_upsert("reg-1", dealname="Uno")])
    )
    assert again.results[0].new is False
    assert again.results[0].id == next(
        r.id for r in first.results if r.properties["dealreg_registration_id"] == "reg-1"
    )
    by_registration = hubspot.crm.deals.basic_api.get_by_id(
        "reg-1", id_property="dealreg_registration_id", properties=["dealname"]
    )
    assert by_registration.properties["dealname"] == "Uno"


def test_hubspot_sdk_sees_207_on_partial_failure(hubspot: HubSpot) -> None:
    partial = hubspot.crm.deals.batch_api.upsert(
        BatchInputSimplePublicObjectBatchInputUpsert(
            inputs=[_upsert("ok-1", dealname="fine"), _upsert("bad-1", dealstage="nonsense")]
        )
    )
    assert len(partial.results) == 1
    assert partial.num_errors == 1
    assert partial.errors[0].context == {"ids": ["bad-1"]}


def test_hubspot_sdk_searches_with_filter_groups_and_after_paging(hubspot: HubSpot) -> None:
    hubspot.crm.deals.batch_api.upsert(
        BatchInputSimplePublicObjectBatchInputUpsert(
            inputs=[_upsert(f"s-{i}", dealname=f"deal {i}", amount=str(i)) for i in range(7)]
        )
    )
    request = PublicObjectSearchRequest(
        filter_groups=[
            FilterGroup(filters=[Filter(property_name="amount", operator="GTE", value="2")])
        ],
        sorts=[{"propertyName": "amount", "direction": "ASCENDING"}],
        properties=["amount"],
        limit=3,
    )
    page = hubspot.crm.deals.search_api.do_search(request)
    assert page.total == 5
    assert [r.properties["amount"] for r in page.results] == ["2", "3", "4"]
    request.after = page.paging.next.after
    rest = hubspot.crm.deals.search_api.do_search(request)
    assert [r.properties["amount"] for r in rest.results] == ["5", "6"]
    assert rest.paging is None


def test_hubspot_rate_limit_answers_like_hubspot(sandbox: CrmSandbox, hubspot: HubSpot) -> None:
    sandbox.control("POST", "/faults", json={"status": 429, "count": 1, "target": "hubspot"})
    with pytest.raises(ApiException) as limited:
        hubspot.crm.deals.basic_api.get_page()
    assert limited.value.status == 429
    assert "TEN_SECONDLY_ROLLING" in limited.value.body
    assert limited.value.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    bad = HubSpot(access_token="wrong", host=sandbox.url)
    with pytest.raises(ApiException) as unauthorized:
        bad.crm.deals.basic_api.get_page()
    assert unauthorized.value.status == 401


@pytest.fixture
def salesforce(sandbox: CrmSandbox) -> Salesforce:
    sandbox.control("POST", "/reset")
    credentials = sandbox.credentials()
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
    return Salesforce(
        instance_url=token["instance_url"], session_id=token["access_token"], session=session
    )


def test_simple_salesforce_upserts_by_external_id_queries_and_updates(
    salesforce: Salesforce,
) -> None:
    created = salesforce.Opportunity.upsert(
        "Dealreg_Registration_Id__c/reg-9",
        {"Name": "Acme", "StageName": "Prospecting", "CloseDate": "2027-01-01", "Amount": 5},
    )
    assert created == 201
    again = salesforce.Opportunity.upsert("Dealreg_Registration_Id__c/reg-9", {"Amount": 6})
    assert again == 200
    found = salesforce.query(
        "SELECT Id, Amount, StageName FROM Opportunity WHERE Dealreg_Registration_Id__c = 'reg-9'"
    )
    assert found["totalSize"] == 1
    record = found["records"][0]
    assert record["Amount"] == 6
    assert salesforce.Opportunity.update(record["Id"], {"StageName": "Closed Won"}) == 204
    won = salesforce.Opportunity.get(record["Id"])
    assert won["IsWon"] is True
    assert won["StageName"] == "Closed Won"


def test_salesforce_errors_are_arrays_with_error_codes(
    sandbox: CrmSandbox, salesforce: Salesforce
) -> None:
    from simple_salesforce.exceptions import SalesforceRefusedRequest, SalesforceResourceNotFound

    with pytest.raises(SalesforceResourceNotFound) as missing:
        salesforce.Opportunity.get("006000000009999AAA")
    assert missing.value.content[0]["errorCode"] == "NOT_FOUND"
    sandbox.control("POST", "/faults", json={"status": 403, "count": 1, "target": "salesforce"})
    with pytest.raises(SalesforceRefusedRequest) as limited:
        salesforce.query("SELECT Id FROM Opportunity")
    assert limited.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"


def test_tls_certificate_is_generated_at_start(sandbox: CrmSandbox) -> None:
    assert Path(sandbox.cert).read_text().startswith("-----BEGIN CERTIFICATE-----")
