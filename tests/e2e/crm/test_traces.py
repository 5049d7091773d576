"""One trace from the partner's HTTP request to the CRM call it causes, across three processes,
Kafka, two outboxes and crm_sync's push loop, as an OTLP collector receives it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.crm.conftest import wire_hubspot
from tests.support.api import bearer, create_partner, registration_body, wait_for_status
from tests.support.crm_events import wait_until
from tests.support.crm_sandbox import CrmSandbox
from tests.support.otlp import CLIENT, CONSUMER, SERVER, OtlpReceiver, ReceivedSpan
from tests.support.stack import ServiceStack

pytestmark = pytest.mark.e2e


@pytest.fixture
def collector() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    receiver.start()
    yield receiver
    receiver.stop()


def _intake_span(spans: list[ReceivedSpan], registration_id: str) -> ReceivedSpan | None:
    """The partner's POST, found (as in a trace backend) by the registration it created."""
    for span in spans:
        if (
            span.service == "deal_registration"
            and span.kind == SERVER
            and span.attributes.get("dealreg.registration_id") == registration_id
        ):
            assert span.attributes.get("http.route") == "/v1/registrations"
            return span
    return None


def _crm_calls(spans: list[ReceivedSpan], trace_id: str) -> list[ReceivedSpan]:
    return [
        s
        for s in spans
        if s.service == "crm_sync"
        and s.kind == CLIENT
        and s.trace_id == trace_id
        and s.attributes.get("crm.system") == "hubspot"
    ]


def _chain_to_intake(spans: list[ReceivedSpan], intake: ReceivedSpan) -> list[ReceivedSpan]:
    """A CRM call's span and its ancestors up to the intake request's span (empty until all
    of them arrived)."""
    by_id = {s.span_id: s for s in spans if s.trace_id == intake.trace_id}
    for call in _crm_calls(spans, intake.trace_id):
        chain = [call]
        while chain[-1].parent_span_id in by_id:
            chain.append(by_id[chain[-1].parent_span_id])
        if chain[-1].span_id == intake.span_id:
            return chain
    return []


async def test_one_trace_links_the_request_the_decision_and_the_crm_call(
    stack: ServiceStack, sandbox: CrmSandbox, crm_sync_port: int, collector: OtlpReceiver
) -> None:
    wire_hubspot(stack, sandbox, crm_sync_port)
    stack.extra_env.update(
        {"DEALREG_OTLP_ENDPOINT": collector.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100"}
    )
    stack.start_all()
    with httpx.Client(base_url=stack.url("deal_registration"), timeout=10) as client:
        partner = create_partner(client, stack.admin_token, name="Northwind Networks")
        created = client.post(
            "/v1/registrations",
            json=registration_body(domain="acme.com"),
            headers=bearer(partner["api_key"]),
        )
        assert created.status_code == 202, created.text
        registration_id = created.json()["id"]
        assert wait_for_status(client, partner["api_key"], registration_id)["status"] == "approved"

    intake = await wait_until(
        lambda: _intake_span(collector.snapshot(), registration_id), timeout=10
    )
    trace_id = intake.trace_id
    # Parents end (and are exported) after their children: wait for the whole chain.
    chain = await wait_until(lambda: _chain_to_intake(collector.snapshot(), intake), timeout=20)
    spans = [s for s in collector.snapshot() if s.trace_id == trace_id]

    # The resolver consumed the submitted event as a child of the request's span itself: the
    # record's traceparent is the staging transaction's, not the outbox relay's.
    consumed = [
        s
        for s in spans
        if s.service == "conflict_resolver" and s.kind == CONSUMER and s.name.startswith("process")
    ]
    assert consumed, f"no resolver consumer span in trace {trace_id}: {spans}"
    assert consumed[0].parent_span_id == intake.span_id
    decisions = [
        s for s in spans if s.service == "conflict_resolver" and s.name == "decide registration"
    ]
    assert [d.attributes["dealreg.registration_id"] for d in decisions] == [registration_id]
    assert decisions[0].parent_span_id == consumed[0].span_id
    assert decisions[0].attributes["dealreg.decision.outcome"] == "approved"

    # crm_sync's call to HubSpot, in the same trace, descends from the request through the
    # resolver's consumer span, crm_sync's consumer span and its push.
    call = chain[0]
    names = [(span.service, span.name) for span in chain]
    services_on_the_way = [service for service, _name in names]
    assert "conflict_resolver" in services_on_the_way, names
    assert ("crm_sync", "crm push") in names
    assert any(service == "crm_sync" and name.startswith("process") for service, name in names)
    # Nothing of the URL's query (where a token could be) is recorded.
    assert "url.full" not in call.attributes
    assert call.attributes["server.address"] == "127.0.0.1"

    # The request's log lines carry its trace id (services.logging), JSON like every line.
    intake_log = (stack.artifacts / "deal_registration.log").read_text().splitlines()
    traced = [json.loads(line) for line in intake_log if trace_id in line]
    assert traced, "no deal_registration log line carries the request's trace id"
    assert {line["trace_id"] for line in traced} == {trace_id}
