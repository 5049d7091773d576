"""SQL of the direct-sales guard: direct opportunities filed under blocking keys, found by a
registration (rule 4) and finding the protections they encroach on; their cases.

Both directions use the matcher's blocking keys (``claim_keys`` for claims,
``direct_opportunity_keys`` for direct deals) and the account key, never a scan; the pure
choice is ``domain.encroachment``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from conflict_resolver.adapters.tables import (
    claim_keys,
    claims,
    conflicts,
    direct_opportunities,
    direct_opportunity_keys,
    protections,
)
from conflict_resolver.domain import protection
from conflict_resolver.domain.encroachment import (
    ANY_LINE,
    REASON_CODE,
    DirectCandidate,
    HolderCandidate,
    matching_direct_opportunity,
)
from conflict_resolver.domain.matching import (
    NormalisedCustomer,
    blocking_keys,
    choose_probe_keys,
    score,
)
from conflict_resolver.domain.policy import Policy
from conflict_resolver.domain.rules import DirectOpportunity, Match
from schemas.crm import DirectOpportunityOpened

_keys = direct_opportunity_keys


async def file_direct_keys(session: AsyncSession, opened: DirectOpportunityOpened) -> None:
    """File an open direct opportunity under its customer's blocking keys (again, if known)."""
    await drop_direct_keys(session, opened.crm_system, opened.opportunity_id)
    keys = blocking_keys(protection.normalised(opened.customer))
    rows = [
        {
            "blocking_key": key,
            "crm_system": opened.crm_system,
            "opportunity_id": opened.opportunity_id,
        }
        for key in dict.fromkeys(keys)
    ]
    if rows:
        await session.execute(insert(_keys), rows)


async def drop_direct_keys(session: AsyncSession, crm_system: str, opportunity_id: str) -> None:
    await session.execute(
        delete(_keys).where(
            _keys.c.crm_system == crm_system, _keys.c.opportunity_id == opportunity_id
        )
    )


# --- Rule 4: a registration finds the direct opportunities on its account -------------------


# Per transaction (``session.info``): product lines in which no direct opportunity is open
# (none naming the line, none naming no line), read once for a batch (``read_empty_lines``).
# Direct opportunities are recorded by the CRM consumer, never by a transaction deciding
# submissions; ``record_opened`` forgets them in case one ever is.
NO_OPEN_DIRECT = "conflict_resolver.no_open_direct"


async def direct_opportunity_for(
    session: AsyncSession,
    customer: NormalisedCustomer,
    account_keys: Iterable[str],
    product_line: str,
    policy: Policy,
) -> DirectOpportunity | None:
    """The open direct opportunity rule 4 sees: same account by the matcher or by account
    key, in this product line or naming none."""
    if product_line in session.info.get(NO_OPEN_DIRECT, ()):
        return None  # what the statement below would find nothing for
    table = direct_opportunities
    open_in_line = (table.c.closed_at.is_(None), table.c.product_line.in_([product_line, ANY_LINE]))
    by_key = table.c.account_key.in_(sorted(set(account_keys)))
    filed = (
        select(_keys.c.opportunity_id)
        .where(
            _keys.c.crm_system == table.c.crm_system,
            _keys.c.opportunity_id == table.c.opportunity_id,
            _keys.c.blocking_key.in_(blocking_keys(customer)),
        )
        .exists()
    )
    # One statement for both ways of finding one (it was two): an opportunity found both ways
    # is a candidate of each, as before.
    rows = (
        (
            await session.execute(
                select(table, by_key.label("by_key"), filed.label("filed")).where(
                    *open_in_line, or_(by_key, filed)
                )
            )
        )
        .mappings()
        .all()
    )
    candidates = [_direct_candidate(row, linked=True) for row in rows if row["by_key"]]
    candidates += [_direct_candidate(row, linked=False) for row in rows if row["filed"]]
    return matching_direct_opportunity(customer, product_line, candidates, policy)


def _direct_candidate(row: Any, *, linked: bool) -> DirectCandidate:
    return DirectCandidate(
        opportunity=DirectOpportunity(
            opportunity_id=row["opportunity_id"],
            crm_system=row["crm_system"],
            account_key=row["account_key"],
            opened_at=row["opened_at"],
        ),
        customer=protection.normalised(row["customer"]),
        product_line=row["product_line"],
        linked=linked,
    )


# --- The guard: a direct opportunity finds the protections it encroaches on ------------------


async def holder_candidates(
    session: AsyncSession, customer: NormalisedCustomer, account_key: str, product_line: str
) -> list[HolderCandidate]:
    """Protected claims blocking finds for this customer (every line when ``*``), and the
    holders of protections under its account key, scored against it."""
    in_lines = [claim_keys.c.product_line == product_line] if product_line != ANY_LINE else []
    probe = await _probe_keys(session, blocking_keys(customer), in_lines)
    found = select(claim_keys.c.registration_id).where(
        claim_keys.c.blocking_key.in_(probe), *in_lines
    )
    linked = select(protections.c.registration_id).where(protections.c.account_key == account_key)
    if product_line != ANY_LINE:
        linked = linked.where(protections.c.product_line == product_line)
    query = (
        select(
            claims.c.registration_id,
            claims.c.partner_id,
            claims.c.submission_seq,
            claims.c.protection_key,
            claims.c.account_key,
            claims.c.submitted["customer"].label("customer"),
            protections.c.product_line,
            protections.c.expires_at,
        )
        .join(protections, protections.c.registration_id == claims.c.registration_id)
        .where(claims.c.registration_id.in_(found.union(linked)))
        .order_by(claims.c.submission_seq)
    )
    linked_ids = set((await session.execute(linked)).scalars().all())
    rows = (await session.execute(query)).mappings().all()
    return [_holder(row, customer, linked=row["registration_id"] in linked_ids) for row in rows]


async def _probe_keys(session: AsyncSession, keys: list[str], in_lines: list[Any]) -> list[str]:
    """The keys a registration's search would probe (``matching.choose_probe_keys``): every
    domain and name key, the rarest token and skeleton keys, none filed by too many claims."""
    sizes: dict[str, int] = dict(
        (
            await session.execute(
                select(claim_keys.c.blocking_key, func.count())
                .where(claim_keys.c.blocking_key.in_(keys), *in_lines)
                .group_by(claim_keys.c.blocking_key)
            )
        ).all()
    )
    return choose_probe_keys(keys, lambda key: int(sizes.get(key, 0)))


def _holder(row: Any, customer: NormalisedCustomer, *, linked: bool) -> HolderCandidate:
    theirs = protection.normalised(row["customer"])
    return HolderCandidate(
        match=Match(
            registration_id=row["registration_id"],
            partner_id=row["partner_id"],
            submission_seq=row["submission_seq"],
            protection_key=row["protection_key"] or row["account_key"],
            state="protected",
            evidence=score(customer, theirs),
            customer={k: row["customer"].get(k) for k in ("name", "domain", "country")},
            expires_at=row["expires_at"],
            linked=linked,
        ),
        product_line=row["product_line"],
    )


async def case_exists(session: AsyncSession, case_id: str) -> bool:
    query = select(conflicts.c.id).where(conflicts.c.id == case_id)
    return (await session.execute(query)).first() is not None


async def close_encroachment_cases(
    session: AsyncSession, registration_id: str, *, now: datetime
) -> None:
    """The protection ended (expired, withdrawn, won, lost, moved): its encroachment cases
    have nothing left to protect and leave the queue."""
    await session.execute(
        update(conflicts)
        .where(
            conflicts.c.registration_id == registration_id,
            conflicts.c.reason_code == REASON_CODE,
            conflicts.c.state == "open",
        )
        .values(
            state="decided",
            decided_at=now,
            decided_by="rules",
            decision_reason="The partner's protection ended.",
        )
    )
