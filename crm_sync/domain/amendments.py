"""A partner's amendment of an approved registration's sales fields (amount, close date), to
carry to the CRM. Pure.

The CRM owns the sales fields (``model.SALES_FIELDS``) and dealreg never writes them back from
its own copy; an amendment is different: the partner changed them, once, and the opportunity
should follow. It rides in the deal's ``desired`` record under its own key (never an owned
field, so drift repair and ``outbound_changes`` ignore it) and is sent while it differs from
what was last written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

AMENDMENT_KEY = "partner_amendment"


@dataclass(frozen=True)
class SalesAmendment:
    amount: Decimal
    currency: str
    close_date: date
    amended_at: datetime

    def as_text(self) -> str:
        return json.dumps(
            {
                "amount": str(self.amount),
                "currency": self.currency,
                "close_date": self.close_date.isoformat(),
                "amended_at": self.amended_at.isoformat(),
            },
            sort_keys=True,
        )

    @classmethod
    def from_text(cls, text: str) -> SalesAmendment:
        raw = json.loads(text)
        return cls(
            amount=Decimal(raw["amount"]),
            currency=raw["currency"],
            close_date=date.fromisoformat(raw["close_date"]),
            amended_at=datetime.fromisoformat(raw["amended_at"]),
        )


def with_amendment(desired: dict[str, str], amendment: SalesAmendment) -> dict[str, str]:
    """The deal's desired record carrying this (latest) amendment."""
    return {**desired, AMENDMENT_KEY: amendment.as_text()}


def pending_amendment(
    desired: dict[str, str], last_written: dict[str, str] | None
) -> SalesAmendment | None:
    """The amendment still to send (None: none, or already written)."""
    text = desired.get(AMENDMENT_KEY)
    if text is None or (last_written or {}).get(AMENDMENT_KEY) == text:
        return None
    return SalesAmendment.from_text(text)
