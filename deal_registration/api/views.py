"""What callers see of the use cases' results: the response bodies, built from rows."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel

from deal_registration.api.models import (
    ApiKeyCreated,
    ApiKeyView,
    History,
    HistoryEntry,
    OpsUserCreated,
    PartnerCreated,
    PartnerView,
    RegistrationView,
    WebhookCreated,
    WebhookDeliveryView,
    WebhookView,
)
from deal_registration.domain.lifecycle import actor_for_ops, actor_for_partner
from deal_registration.handlers import Answer, IssuedKey, NewPartner, NewWebhook, Principal, Row

ViewT = TypeVar("ViewT", bound=BaseModel)


def registration_view(row: Row) -> RegistrationView:
    """The registration as partners see it: no internal fields, CRM link once mirrored."""
    contact = (
        {"name": row["contact_name"], "email": row["contact_email"]}
        if row.get("contact_name")
        else None
    )
    crm = (
        {
            "system": row["crm_system"],
            "opportunity_id": row["crm_opportunity_id"],
            "stage": row.get("crm_stage"),
        }
        if row.get("crm_opportunity_id")
        else None
    )
    return RegistrationView.model_validate(
        {
            "id": row["id"],
            "partner_id": row["partner_id"],
            "customer": {
                "name": row["customer_name"],
                "domain": row["customer_domain"],
                "country": row["customer_country"],
            },
            "product_line": row["product_line"],
            "deal_type": row["deal_type"],
            "amount": {"value": f"{row['amount_value']:.2f}", "currency": row["amount_currency"]},
            "expected_close_date": row["expected_close_date"],
            "contact": contact,
            "description": row.get("description"),
            "partner_reference": row.get("partner_reference"),
            "role": row.get("role") or "sourced",
            "status": row["status"],
            "reason_code": row.get("reason_code"),
            "reason": row.get("reason"),
            "submitted_at": row["submitted_at"],
            "decided_at": row.get("decided_at"),
            "protection_expires_at": row.get("protection_expires_at"),
            "extension": row.get("extension_state"),
            "editable_fields": row.get("editable_fields") or None,
            "crm": crm,
        }
    )


def accepted(row: Row) -> Answer:
    """A partner's change was accepted: 202 with the registration as it stands (this is also
    the answer kept for the request's Idempotency-Key)."""
    return Answer(status_code=202, body=registration_view(row).model_dump(mode="json"))


def history_view(rows: list[Row], caller: Principal) -> History:
    """The history as the caller may read it: a partner learns who caused each step only as
    a kind (``actor_for_partner``); sales ops and the admin read the actor in full."""
    actor = actor_for_partner if caller.role == "partner" else actor_for_ops
    return History(
        items=[
            HistoryEntry(
                status=row["status"],
                reason_code=row["reason_code"],
                reason=row["reason"],
                at=row["at"],
                actor=actor(row["actor"]),
            )
            for row in rows
        ]
    )


def partner_view(partner: Row) -> PartnerView:
    return _from_row(PartnerView, partner)


def partner_created(created: NewPartner) -> PartnerCreated:
    return PartnerCreated(
        **partner_view(created.partner).model_dump(),
        api_key=created.key.api_key,
        api_key_id=created.key.key_id,
    )


def partner_key_created(key: IssuedKey, partner_id: str) -> ApiKeyCreated:
    return ApiKeyCreated(
        id=key.key_id,
        role="partner",
        partner_id=partner_id,
        created_at=key.created_at,
        api_key=key.api_key,
    )


def ops_user_created(key: IssuedKey, name: str) -> OpsUserCreated:
    return OpsUserCreated(id=key.key_id, name=name, api_key=key.api_key, api_key_id=key.key_id)


def key_view(row: Row) -> ApiKeyView:
    return _from_row(ApiKeyView, row)


def webhook_created(webhook: NewWebhook) -> WebhookCreated:
    return WebhookCreated(url=webhook.url, created_at=webhook.created_at, secret=webhook.secret)


def webhook_view(row: Row) -> WebhookView:
    return _from_row(WebhookView, row)


def delivery_view(row: Row) -> WebhookDeliveryView:
    return _from_row(WebhookDeliveryView, row)


def _from_row(view: type[ViewT], row: Row) -> ViewT:
    """A view whose every field is the row's column of the same name."""
    return view.model_validate({name: row[name] for name in view.model_fields})
