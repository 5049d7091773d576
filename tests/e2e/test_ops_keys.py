"""An ops key issued by deal_registration works on crm_sync, and stops working when revoked."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.support.api import bearer
from tests.support.stack import ServiceStack

pytestmark = pytest.mark.e2e


def status_code_within(url: str, token: str, expected: int, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while True:
        code = httpx.get(url, headers=bearer(token)).status_code
        if code == expected or time.monotonic() > deadline:
            return code
        time.sleep(0.1)


def test_ops_keys_reach_crm_sync_and_their_revocation_too(stack: ServiceStack) -> None:
    stack.start_all()
    registration = httpx.Client(base_url=stack.url("deal_registration"), timeout=10)
    ops = registration.post(
        "/v1/ops-users", json={"name": "Sam Ortiz"}, headers=bearer(stack.admin_token)
    ).json()
    status_url = f"{stack.url('crm_sync')}/v1/sync/status"

    assert httpx.get(status_url, headers=bearer("drk_not-a-key")).status_code == 401
    assert status_code_within(status_url, ops["api_key"], 200) == 200

    revoked = registration.delete(
        f"/v1/api-keys/{ops['api_key_id']}", headers=bearer(stack.admin_token)
    )
    assert revoked.status_code == 204
    assert status_code_within(status_url, ops["api_key"], 401) == 401
    registration.close()
