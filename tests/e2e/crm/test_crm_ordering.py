"""Lifecycle events that overtake their approval (another topic) still end up in the CRM."""

from __future__ import annotations

import httpx
import pytest

from schemas.topics import DECISIONS, REGISTRATIONS
from tests.e2e.crm.conftest import wire_hubspot
from tests.support.api import bearer
from tests.support.crm_events import (
    approval,
    consumed_by_some_group,
    publish,
    wait_until,
    wait_until_async,
    withdrawal,
)
from tests.support.crm_sandbox import CrmSandbox
from tests.support.stack import ServiceStack

pytestmark = pytest.mark.e2e


def _status(stack: ServiceStack) -> dict[str, object]:
    answer = httpx.get(
        f"{stack.url('crm_sync')}/v1/sync/status", headers=bearer(stack.admin_token), timeout=5
    ).json()
    return dict(answer["connectors"][0])


def _deals_by_registration(sandbox: CrmSandbox) -> dict[str, dict[str, str]]:
    return {
        deal["properties"]["dealreg_registration_id"]: deal["properties"]
        for deal in sandbox.control("GET", "/hubspot/deals")
    }


async def test_a_withdrawal_published_before_its_approval_leaves_the_deal_withdrawn(
    stack: ServiceStack, sandbox: CrmSandbox, crm_sync_port: int
) -> None:
    wire_hubspot(stack, sandbox, crm_sync_port)
    stack.start("crm_sync")
    stack.wait_ready("crm_sync")
    withdrawn, kept = approval(1), approval(2)
    await publish(
        stack.kafka_bootstrap, stack.topic_prefix, REGISTRATIONS.name, [withdrawal(withdrawn)]
    )
    await wait_until_async(
        lambda: consumed_by_some_group(
            stack.kafka_bootstrap, stack.topic_prefix + REGISTRATIONS.name, stack.topic_prefix
        ),
        timeout=30,
    )
    await publish(stack.kafka_bootstrap, stack.topic_prefix, DECISIONS.name, [withdrawn, kept])

    await wait_until(lambda: len(_deals_by_registration(sandbox)) == 2, timeout=30)
    await wait_until(lambda: _status(stack)["pending"] == 0, timeout=30)
    deals = _deals_by_registration(sandbox)
    assert deals[withdrawn.subject]["dealreg_registration_status"] == "withdrawn"
    assert deals[kept.subject]["dealreg_registration_status"] == "approved"
    assert sandbox.control("GET", "/stats")["creations"]["hubspot"] == 2
