"""One registration through the three services over real Kafka, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest

from tests.support.api import bearer, create_partner, registration_body, wait_for_status
from tests.support.stack import ServiceStack

pytestmark = pytest.mark.e2e


def test_first_partner_is_approved_and_second_is_told_only_until_when(stack: ServiceStack) -> None:
    stack.start_all()
    with httpx.Client(base_url=stack.url("deal_registration"), timeout=10) as client:
        partner_a = create_partner(client, stack.admin_token, name="Northwind Networks")
        partner_b = create_partner(client, stack.admin_token, name="Contoso Secure")

        created = client.post(
            "/v1/registrations",
            json=registration_body(domain="https://www.acme.com/contact"),
            headers=bearer(partner_a["api_key"]),
        )
        assert created.status_code == 202
        assert created.headers["location"] == f"/v1/registrations/{created.json()['id']}"
        assert created.json()["status"] == "submitted"
        assert created.json()["customer"]["domain"] == "acme.com"

        approved = wait_for_status(client, partner_a["api_key"], created.json()["id"])
        assert approved["status"] == "approved"
        decided_at = datetime.fromisoformat(approved["decided_at"])
        expires_at = datetime.fromisoformat(approved["protection_expires_at"])
        assert expires_at - decided_at == timedelta(days=90)

        second = client.post(
            "/v1/registrations",
            json=registration_body(name="ACME Corp.", domain="sales.acme.com"),
            headers=bearer(partner_b["api_key"]),
        )
        rejected = wait_for_status(client, partner_b["api_key"], second.json()["id"])
        assert rejected["status"] == "rejected"
        assert rejected["reason_code"] == "ALREADY_REGISTERED"
        assert expires_at.date().isoformat() in rejected["reason"]
        assert "Northwind" not in rejected["reason"]
        assert partner_a["id"] not in str(rejected)

        peek = client.get(
            f"/v1/registrations/{created.json()['id']}", headers=bearer(partner_b["api_key"])
        )
        assert peek.status_code == 404
        assert peek.headers["content-type"] == "application/problem+json"

        history = client.get(
            f"/v1/registrations/{created.json()['id']}/history",
            headers=bearer(partner_a["api_key"]),
        ).json()["items"]
        assert [entry["status"] for entry in history] == ["submitted", "approved"]


def test_every_service_reports_health_readiness_and_metrics(stack: ServiceStack) -> None:
    stack.start_all()
    for service in ("deal_registration", "conflict_resolver", "crm_sync"):
        assert httpx.get(f"{stack.url(service)}/healthz").json() == {"status": "ok"}
        ready = httpx.get(f"{stack.url(service)}/readyz").json()
        assert {name: check["ok"] for name, check in ready["checks"].items()} == {
            "database": True,
            "kafka": True,
            "outbox": True,
            "consumers": True,
        }
        metrics = httpx.get(f"{stack.url(service)}/metrics")
        assert "dealreg_events_consumed_total" in metrics.text
