"""SIGKILL the conflict resolver mid-stream: every registration ends decided exactly once."""

from __future__ import annotations

import asyncio
import itertools
import signal
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from schemas.registration import RegistrationApproved, RegistrationRejected
from tests.support.api import bearer, create_partner, registration_body
from tests.support.kafka_reader import read_all
from tests.support.stack import ServiceStack

pytestmark = pytest.mark.e2e

REGISTRATIONS = 200
ACCOUNTS = 40
KILL_AFTER = 60


def test_killed_resolver_decides_each_registration_once_and_never_twice_approves(
    stack: ServiceStack,
) -> None:
    # A load of 200 from five keys in a few seconds; partners' rate limits are not under test.
    stack.extra_env.update(
        {"DEALREG_RATE_LIMIT_PER_SECOND": "1000", "DEALREG_RATE_LIMIT_BURST": "1000"}
    )
    stack.start_all()
    client = httpx.Client(base_url=stack.url("deal_registration"), timeout=30)
    partners = [create_partner(client, stack.admin_token, name=f"Partner {i}") for i in range(5)]

    def submit(index: int) -> tuple[str, str, str]:
        partner = partners[index % len(partners)]
        domain = f"customer{index % ACCOUNTS}-dealreg-test.com"
        response = client.post(
            "/v1/registrations",
            json=registration_body(name=f"Customer {index % ACCOUNTS}", domain=domain),
            headers=bearer(partner["api_key"]),
        )
        assert response.status_code == 202, response.text
        return response.json()["id"], domain, partner["api_key"]

    accepted = itertools.count(1)

    def submit_and_kill_midway(index: int) -> tuple[str, str, str]:
        result = submit(index)
        # While submissions keep streaming in, the resolver dies mid-batch: some events are
        # decided but not yet committed as offsets, others not yet read.
        if next(accepted) == KILL_AFTER:
            stack.kill("conflict_resolver", signal.SIGKILL)
        return result

    with ThreadPoolExecutor(max_workers=8) as pool:
        submitted = list(pool.map(submit_and_kill_midway, range(REGISTRATIONS)))
    undecided_while_down = sum(
        client.get(f"/v1/registrations/{rid}", headers=bearer(key)).json()["status"] == "submitted"
        for rid, _domain, key in submitted
    )
    assert undecided_while_down > 0, "the kill came too late to leave anything in flight"
    stack.start("conflict_resolver", migrate=False)
    stack.wait_ready("conflict_resolver")

    views = _wait_all_decided(client, submitted)
    client.close()

    approved_by_domain: dict[str, list[str]] = defaultdict(list)
    for (registration_id, domain, _key), view in zip(submitted, views, strict=True):
        assert view["status"] in {"approved", "rejected"}, view
        if view["status"] == "approved":
            approved_by_domain[domain].append(registration_id)
    assert len(approved_by_domain) == ACCOUNTS
    assert all(len(ids) == 1 for ids in approved_by_domain.values()), approved_by_domain

    decisions = asyncio.run(
        read_all(stack.kafka_bootstrap, f"{stack.topic_prefix}dealreg.decisions")
    )
    distinct = {event.id: event for event in decisions}.values()  # a relay may republish an id
    # The decisions about registrations (the policy versions stored are told there too).
    per_registration = Counter(
        event.data.registration_id
        for event in distinct
        if isinstance(event.data, RegistrationApproved | RegistrationRejected)
    )
    assert set(per_registration) == {registration_id for registration_id, _, _ in submitted}
    assert set(per_registration.values()) == {1}, "a registration was decided twice"
    assert sum(isinstance(event.data, RegistrationApproved) for event in distinct) == ACCOUNTS


def _wait_all_decided(
    client: httpx.Client, submitted: list[tuple[str, str, str]], timeout: float = 120
) -> list[dict[str, str]]:
    deadline = time.monotonic() + timeout
    while True:
        views = [
            client.get(f"/v1/registrations/{rid}", headers=bearer(key)).json()
            for rid, _domain, key in submitted
        ]
        pending = [view for view in views if view["status"] == "submitted"]
        if not pending or time.monotonic() > deadline:
            return views
        time.sleep(0.5)
