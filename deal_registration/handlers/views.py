"""What partners see of their registrations (also stored as idempotent answers)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import RowMapping

from deal_registration.api.models import (
    RegistrationView,
)


def registration_view(row: dict[str, Any] | RowMapping) -> RegistrationView:
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
            "status": row["status"],
            "reason_code": row.get("reason_code"),
            "reason": row.get("reason"),
            "submitted_at": row["submitted_at"],
            "decided_at": row.get("decided_at"),
            "protection_expires_at": row.get("protection_expires_at"),
            "extension": row.get("extension_state"),
            "crm": crm,
        }
    )
