"""Small helpers that speak the public API the way a PRM frontend would."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import httpx


def registration_body(
    *,
    name: str = "Acme Corporation",
    domain: str | None = "acme.com",
    country: str = "US",
    product_line: str = "network-security",
    amount: str = "125000.00",
    deal_type: str = "new",
) -> dict[str, Any]:
    customer: dict[str, Any] = {"name": name, "country": country}
    if domain is not None:
        customer["domain"] = domain
    return {
        "customer": customer,
        "product_line": product_line,
        "deal_type": deal_type,
        "amount": {"value": amount, "currency": "USD"},
        "expected_close_date": (date.today() + timedelta(days=120)).isoformat(),  # noqa: DTZ011
        "contact": {"name": "Dana Lee", "email": "dana.lee@example.com"},
    }


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def create_partner(
    client: httpx.Client, admin_token: str, *, name: str, product_lines: list[str] | None = None
) -> dict[str, Any]:
    response = client.post(
        "/v1/partners",
        json={"name": name, "tier": "gold", "product_lines": product_lines or ["network-security"]},
        headers=bearer(admin_token),
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def wait_for_view(
    client: httpx.Client,
    token: str,
    registration_id: str,
    done: Callable[[dict[str, Any]], bool],
    *,
    timeout: float = 30,
) -> dict[str, Any]:
    """Poll the registration's view, as a partner polling would, until ``done`` holds; returns
    its last view (the caller's assert shows it). The view follows events through
    deal_registration's own consumers, which may lag behind any other service: wait for it
    rather than read it once. ``timeout`` is a bound on waiting, not a speed goal."""
    deadline = time.monotonic() + timeout
    while True:
        view = client.get(f"/v1/registrations/{registration_id}", headers=bearer(token)).json()
        if done(view) or time.monotonic() > deadline:
            return dict(view)
        time.sleep(0.05)


def wait_for_status(
    client: httpx.Client,
    token: str,
    registration_id: str,
    *,
    leaving: str = "submitted",
    timeout: float = 30,
) -> dict[str, Any]:
    """Poll until the registration's status is no longer ``leaving`` (by default: until it is
    decided); returns its last view. A second change (approved -> transferred, won, expired...)
    is waited for with ``leaving="approved"``, never read once after the first."""
    return wait_for_view(
        client, token, registration_id, lambda view: view["status"] != leaving, timeout=timeout
    )
