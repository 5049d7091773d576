"""Two crm_sync instances on one database: each deal is pushed once, and a survivor takes over."""

from __future__ import annotations

import dataclasses

import httpx
import pytest

from schemas.topics import DECISIONS
from tests.e2e.crm.conftest import wire_hubspot
from tests.support.api import bearer
from tests.support.crm_events import approval, publish, wait_until
from tests.support.crm_sandbox import CrmSandbox
from tests.support.databases import only_on
from tests.support.stack import ServiceStack, free_port

pytestmark = pytest.mark.e2e


def _status(stack: ServiceStack) -> dict[str, object]:
    return dict(
        httpx.get(
            f"{stack.url('crm_sync')}/v1/sync/status",
            headers=bearer(stack.admin_token),
            timeout=5,
        ).json()
    )


def _deal_writes(sandbox: CrmSandbox) -> int:
    return int(sandbox.control("GET", "/stats")["deal_writes"]["hubspot"])


# PostgreSQL only: several instances of a service share a database only there. SQLite is the
# single-process mode of `make run` (one instance per file), where this cannot arise.
@only_on("postgresql")
async def test_two_instances_push_every_deal_once_and_the_survivor_takes_over(
    stack: ServiceStack, sandbox: CrmSandbox, crm_sync_port: int
) -> None:
    wire_hubspot(
        stack,
        sandbox,
        crm_sync_port,
        DEALREG_CRM_LEASE_TTL_SECONDS="2",
        DEALREG_CRM_LEASE_HEARTBEAT_SECONDS="0.3",
        DEALREG_CRM_RECONCILE_INTERVAL_SECONDS="3600",  # sweeps only when asked
    )
    stack.extra_env["DEALREG_CRM_INSTANCE_ID"] = "first"
    stack.start("crm_sync")
    stack.wait_ready("crm_sync")  # bound: the second instance's free port cannot be this one
    other = dataclasses.replace(
        stack,
        artifacts=stack.artifacts / "second",
        extra_env={**stack.extra_env, "DEALREG_CRM_INSTANCE_ID": "second"},
        ports={"crm_sync": free_port()},
        processes={},
    )
    try:
        other.start("crm_sync", migrate=False)
        other.wait_ready("crm_sync")
        first = [approval(i) for i in range(300)]
        await publish(stack.kafka_bootstrap, stack.topic_prefix, DECISIONS.name, first)
        await wait_until(
            lambda: sandbox.control("GET", "/stats")["hubspot_deals"] >= 300, timeout=60
        )
        await wait_until(lambda: _status(stack)["connectors"][0]["pending"] == 0, timeout=30)
        assert _deal_writes(sandbox) == 300

        leases = {lease["name"]: lease["owner"] for lease in _status(stack)["leases"]}
        # A sweep asked of the instance that does not hold the reconciler's lease still runs.
        bystander = other if leases["crm-reconciler"] == "first" else stack
        assert _status(stack)["connectors"][0]["last_reconciled_at"] is None
        httpx.post(
            f"{bystander.url('crm_sync')}/v1/sync/reconcile",
            headers=bearer(stack.admin_token),
            timeout=5,
        ).raise_for_status()
        await wait_until(
            lambda: _status(stack)["connectors"][0]["last_reconciled_at"] is not None, timeout=30
        )

        holder, survivor = (stack, other) if leases["crm-pusher"] == "first" else (other, stack)
        holder.kill("crm_sync")
        more = [approval(1000 + i) for i in range(50)]
        await publish(stack.kafka_bootstrap, stack.topic_prefix, DECISIONS.name, more)
        await wait_until(
            lambda: sandbox.control("GET", "/stats")["hubspot_deals"] == 350, timeout=60
        )
        await wait_until(lambda: _status(survivor)["connectors"][0]["pending"] == 0, timeout=30)
        assert _deal_writes(sandbox) == 350
        assert sandbox.control("GET", "/stats")["creations"]["hubspot"] == 350
        owners = {lease["name"]: lease["owner"] for lease in _status(survivor)["leases"]}
        assert owners["crm-pusher"] == survivor.extra_env["DEALREG_CRM_INSTANCE_ID"]
    finally:
        other.stop_all()
