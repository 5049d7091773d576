"""Seeding conflict cases straight into conflict_resolver's database.

Until the rules send registrations to review themselves, tests open cases the way the rules
will: a ``pending_review`` claim plus :func:`open_case` in one transaction, with the evidence
shape the rules produce.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from conflict_resolver.adapters.conflicts import open_case
from conflict_resolver.adapters.tables import claims, protections
from services.clock import new_id
from services.uow import TransactionRunner

_SEQ = itertools.count(random.randrange(10_000, 10_000_000) * 100)


def submitted(
    registration_id: str,
    *,
    seq: int,
    partner_id: str,
    partner_name: str,
    customer: dict[str, Any],
    account_key: str,
    product_line: str,
    amount: str,
    submitted_at: datetime,
) -> dict[str, Any]:
    return {
        "registration_id": registration_id,
        "submission_seq": seq,
        "submitted_at": submitted_at.isoformat(),
        "partner": {
            "id": partner_id,
            "name": partner_name,
            "tier": "gold",
            "status": "active",
            "product_lines": [product_line],
        },
        "customer": customer,
        "account_key": account_key,
        "product_line": product_line,
        "deal_type": "new",
        "amount": {"value": amount, "currency": "USD"},
        "expected_close_date": (date(2027, 3, 31)).isoformat(),
    }


@dataclass
class SeededCase:
    case_id: str
    registration_id: str
    competitor_id: str
    account_key: str
    product_line: str
    extra: dict[str, Any] = field(default_factory=dict)


async def seed_case(
    transactions: TransactionRunner,
    *,
    account_key: str | None = None,
    product_line: str = "network-security",
    reason_code: str = "POSSIBLE_DUPLICATE",
    amount: str = "125000.00",
    competitor_status: str = "approved",
    competitor_holds_protection: bool = False,
    due_in: timedelta = timedelta(hours=48),
    opened_ago: timedelta = timedelta(0),
    now: datetime | None = None,
    similarity: float = 0.86,
) -> SeededCase:
    """A competitor (first) and a registration under review (second), and the case."""
    now = now or datetime.now(UTC)
    key = account_key or f"d:{new_id()[:8]}.example"
    competitor, subject = new_id(), new_id()
    async with transactions.transaction() as session:
        for rid, partner, name, status, customer, value in (
            (
                competitor,
                new_id(),
                "Northwind Networks",
                competitor_status,
                {"name": "Acme Corporation", "domain": "acme.com", "country": "US"},
                "90000.00",
            ),
            (
                subject,
                new_id(),
                "Contoso Secure",
                "pending_review",
                {"name": "ACME Corp.", "domain": None, "country": "US"},
                amount,
            ),
        ):
            seq = next(_SEQ)
            await session.execute(
                insert(claims).values(
                    registration_id=rid,
                    submission_seq=seq,
                    partner_id=partner,
                    account_key=key,
                    product_line=product_line,
                    submitted=submitted(
                        rid,
                        seq=seq,
                        partner_id=partner,
                        partner_name=name,
                        customer=customer,
                        account_key=key,
                        product_line=product_line,
                        amount=value,
                        submitted_at=now - opened_ago - timedelta(seconds=1),
                    ),
                    status=status,
                    rule="possible_duplicate" if status == "pending_review" else "approved",
                    reason_code=reason_code if status == "pending_review" else None,
                    reason="In review.",
                    policy_version=1,
                    decided_at=now - opened_ago,
                    correlation_id=new_id(),
                )
            )
        if competitor_holds_protection:
            await session.execute(
                insert(protections).values(
                    account_key=key,
                    product_line=product_line,
                    registration_id=competitor,
                    partner_id="p",
                    expires_at=now + timedelta(days=90),
                )
            )
        case_id = await open_case(
            session,
            registration_id=subject,
            account_key=key,
            product_line=product_line,
            rule="possible_duplicate",
            reason_code=reason_code,
            evidence=evidence(competitor, similarity=similarity),
            competing_registration_ids=[competitor],
            opened_at=now - opened_ago,
            due_at=now - opened_ago + due_in,
        )
    return SeededCase(case_id, subject, competitor, key, product_line)


def evidence(
    competitor: str, *, partner_id: str = "p-1", similarity: float = 0.86
) -> dict[str, Any]:
    return {
        "matches": [
            {
                "registration_id": competitor,
                "partner_id": partner_id,
                "customer": {"name": "Acme Corporation", "domain": "acme.com", "country": "US"},
                "similarity": similarity,
                "name_score": similarity,
                "same_domain": False,
                "matched_fields": ["name", "country"],
            }
        ],
        "direct_opportunity": None,
        "incumbent": None,
    }
