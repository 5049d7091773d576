"""Every partner on an opportunity, with its role, as the CRM deal carries it (pure).

The sourced holder (role ``sourced``), the co-sell partners that accepted its invitation (their
role: ``distributor``, ``reseller``, ``msp``, ``referral``) and the partners whose influence
claim on the account and product line was accepted (``influence``). It is one owned field,
``partner_roles``: dealreg writes it, the CRM never changes it back (an edit in the CRM is
drift the next push or reconciliation repairs, never an event), so it cannot echo.

Its text is canonical (sorted, one line per partner, ``role: name [partner id]``) so that
the same partners always give the same text: a push is sent only when the text changes.
"""

from __future__ import annotations

from dataclasses import dataclass

ROLE_ORDER: tuple[str, ...] = (
    "sourced",
    "distributor",
    "reseller",
    "msp",
    "referral",
    "influence",
)


@dataclass(frozen=True, order=True)
class DealPartner:
    partner_id: str
    partner_name: str
    role: str


def _rank(partner: DealPartner) -> tuple[int, str, str]:
    order = ROLE_ORDER.index(partner.role) if partner.role in ROLE_ORDER else len(ROLE_ORDER)
    return (order, partner.partner_name.casefold(), partner.partner_id)


def partner_roles(partners: list[DealPartner]) -> str:
    """The canonical text of the partners on a deal (one per partner and role)."""
    unique = sorted(set(partners), key=_rank)
    return "\n".join(
        f"{p.role}: {p.partner_name.replace(chr(10), ' ')} [{p.partner_id}]" for p in unique
    )


def parse_partner_roles(text: str) -> list[DealPartner]:
    """The partners of a :func:`partner_roles` text (what a connector writes as records)."""
    partners = []
    for line in text.splitlines():
        role, _, rest = line.partition(": ")
        name, _, tail = rest.rpartition(" [")
        if role and tail.endswith("]"):
            partners.append(DealPartner(partner_id=tail[:-1], partner_name=name, role=role))
    return partners
