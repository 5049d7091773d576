"""Queries over claims, their blocking keys, protections and what the rules look at.

Candidates come from the indexed ``claim_keys`` table (blocking key, product line,
registration id), never from a scan of ``claims``. On PostgreSQL a decision first takes
transaction advisory locks on its own blocking keys, in sorted order: two registrations of one
company that arrive on different partitions share a key, so the second waits for the first to
commit and then sees it as a candidate.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from conflict_resolver.adapters import direct_matching
from conflict_resolver.adapters.house_accounts import house_account_hit
from conflict_resolver.adapters.policy_store import HouseAccountList
from conflict_resolver.adapters.tables import (
    claim_keys,
    claims,
    incumbents,
    protections,
)
from conflict_resolver.domain import protection
from conflict_resolver.domain.matching import (
    NormalisedCustomer,
    blocking_keys,
    choose_probe_keys,
    could_reach,
    score,
)
from conflict_resolver.domain.policy import Policy
from conflict_resolver.domain.rules import (
    ClaimState,
    Holdings,
    Incumbent,
    Match,
    Situation,
    classify_match,
)
from schemas.registration import CustomerData, RegistrationSubmitted
from services.db import dialect_name

# Claims a new registration can collide with; the others have ended.
_LIVE_STATUSES = ("approved", "pending_review", "rejected", "won")


def customer_keys(customer: NormalisedCustomer) -> list[str]:
    """The blocking keys a customer is filed and locked under."""
    return blocking_keys(customer)


def normalised(customer: CustomerData | dict[str, Any]) -> NormalisedCustomer:
    return protection.normalised(customer)


async def lock_keys(session: AsyncSession, keys: Iterable[str], product_line: str) -> None:
    """Serialise decisions that share a blocking key (PostgreSQL; SQLite has one writer)."""
    if dialect_name(session) != "postgresql":
        return
    names = sorted({f"{key}|{product_line}" for key in keys})
    await session.execute(
        text(
            "SELECT pg_advisory_xact_lock(hashtext(k)) "
            "FROM (SELECT unnest(CAST(:keys AS text[])) AS k ORDER BY 1) AS sorted_keys"
        ),
        {"keys": names},
    )


async def file_keys(
    session: AsyncSession, registration_id: str, keys: Iterable[str], product_line: str
) -> None:
    rows = [
        {"blocking_key": key, "product_line": product_line, "registration_id": registration_id}
        for key in dict.fromkeys(keys)
    ]
    if rows:
        await session.execute(insert(claim_keys), rows)


async def drop_keys(session: AsyncSession, registration_id: str) -> None:
    await session.execute(delete(claim_keys).where(claim_keys.c.registration_id == registration_id))


@dataclass(frozen=True)
class Gathered:
    situation: Situation
    keys: list[str]
    stale_holders: tuple[str, ...]  # registrations whose protection passed but is not ended


async def gather(
    session: AsyncSession,
    submitted: RegistrationSubmitted,
    policy: Policy,
    *,
    house: tuple[int, HouseAccountList],
    now: datetime,
) -> Gathered:
    """Everything the rules need for one registration, read under its key locks."""
    customer = normalised(submitted.customer)
    keys = blocking_keys(customer)
    line = submitted.product_line
    found = await _scored_candidates(
        session, customer, keys, line, submitted.registration_id, floor=policy.matching.review
    )
    same_keys = {submitted.account_key} | {
        m.protection_key for m, _ in found if classify_match(m, policy) == "same"
    }
    found += await _linked_holders(session, customer, same_keys, line, found)
    matches = [m for m, _ in found]
    # Each same-account claim's own account key, read with the match (not queried again).
    account_keys = same_keys | {key for m, key in found if classify_match(m, policy) == "same"}
    situation = Situation(
        matches=tuple(matches),
        house_account=house_account_hit(house, customer, submitted.account_key, policy),
        direct_opportunity=await direct_matching.direct_opportunity_for(
            session, customer, account_keys, line, policy
        ),
        incumbent=await _incumbent(session, same_keys, line),
        holdings=await holdings_of(session, submitted.partner.id, policy, now=now),
    )
    return Gathered(
        situation=situation, keys=keys, stale_holders=protection.stale_holders(matches, now)
    )


async def _scored_candidates(
    session: AsyncSession,
    customer: NormalisedCustomer,
    keys: list[str],
    product_line: str,
    exclude: str,
    *,
    floor: float,
) -> list[tuple[Match, str]]:
    """The claims blocking finds, scored; one the policy would call a different account (below
    ``floor``, the review threshold) is left out unless it holds a protection, which the rules
    never look at but a decision may end (``stale_holders``) and ``_linked_holders`` must
    not add again."""
    in_line = claim_keys.c.product_line == product_line
    sizes: dict[str, int] = dict(
        (
            await session.execute(
                select(claim_keys.c.blocking_key, func.count())
                .where(in_line, claim_keys.c.blocking_key.in_(keys))
                .group_by(claim_keys.c.blocking_key)
            )
        ).all()
    )
    probe = choose_probe_keys(keys, lambda key: int(sizes.get(key, 0)))
    if not probe:
        return []
    ids = (
        select(claim_keys.c.registration_id)
        .where(in_line, claim_keys.c.blocking_key.in_(probe))
        .distinct()
    )
    return await _matches_for(
        session, customer, claims.c.registration_id.in_(ids), exclude, floor=floor
    )


async def _matches_for(
    session: AsyncSession,
    customer: NormalisedCustomer,
    condition: Any,
    exclude: str,
    *,
    linked: bool = False,
    floor: float | None = None,
) -> list[tuple[Match, str]]:
    """Live claims that meet ``condition``, scored against ``customer``, each with the claim's
    account key. With a ``floor``, an unprotected claim that provably scores below it
    (``could_reach``) is not scored one by one and left out."""
    # Only the columns a match needs: a claim's evidence and decision can be large JSON, and
    # decoding them for every candidate was most of a decision's time. Of the submission, only
    # its customer.
    query = (
        select(
            claims.c.registration_id,
            claims.c.partner_id,
            claims.c.submission_seq,
            claims.c.protection_key,
            claims.c.account_key,
            claims.c.status,
            claims.c.waitlisted,
            claims.c.submitted["customer"].label("customer"),
            protections.c.expires_at.label("holds_until"),
        )
        .outerjoin(protections, protections.c.registration_id == claims.c.registration_id)
        .where(condition, claims.c.status.in_(_LIVE_STATUSES))
        .where(claims.c.registration_id != exclude)
        .order_by(claims.c.submission_seq)
    )
    live = []
    for row in (await session.execute(query)).mappings():
        state = _state(row)
        if state is not None:
            live.append((row, state, normalised(row["customer"])))
    if floor is not None:
        reach = could_reach(customer, [theirs for _, _, theirs in live], floor)
        live = [
            candidate
            for candidate, kept in zip(live, reach, strict=True)
            if kept or candidate[1] == "protected"
        ]
    return [
        (
            Match(
                registration_id=row["registration_id"],
                partner_id=row["partner_id"],
                submission_seq=row["submission_seq"],
                protection_key=row["protection_key"] or row["account_key"],
                state=state,
                evidence=score(customer, theirs),
                customer={k: row["customer"].get(k) for k in ("name", "domain", "country")},
                expires_at=row["holds_until"],
                linked=linked,
            ),
            row["account_key"],
        )
        for row, state, theirs in live
    ]


def _state(row: Any) -> ClaimState | None:
    """The claim's standing; a protection row makes it the holder whatever wrote it (the
    rules, a waitlist promotion or an ops decision from the queue)."""
    status = row["status"]
    if row["holds_until"] is not None:
        return "protected"
    if status == "approved":
        return None
    if status == "pending_review":
        return "in_review"
    if status == "rejected":
        return "waitlisted" if row["waitlisted"] else None
    if status == "won":
        return "won"
    return None


async def _linked_holders(
    session: AsyncSession,
    customer: NormalisedCustomer,
    same_keys: set[str],
    product_line: str,
    already: list[tuple[Match, str]],
) -> list[tuple[Match, str]]:
    """Holders of the protections this customer's account keys name, even when blocking did
    not find them: one canonical account, so the same account by construction."""
    seen = {m.registration_id for m, _ in already}
    holders = select(protections.c.registration_id).where(
        protections.c.account_key.in_(same_keys), protections.c.product_line == product_line
    )
    linked = await _matches_for(
        session, customer, claims.c.registration_id.in_(holders), "", linked=True
    )
    return [(m, key) for m, key in linked if m.registration_id not in seen]


async def _incumbent(
    session: AsyncSession, account_keys: set[str], product_line: str
) -> Incumbent | None:
    query = (
        select(incumbents)
        .where(
            incumbents.c.account_key.in_(account_keys), incumbents.c.product_line == product_line
        )
        .order_by(incumbents.c.won_at.desc())
        .limit(1)
    )
    row = (await session.execute(query)).mappings().first()
    if row is None:
        return None
    return Incumbent(
        partner_id=row["partner_id"], registration_id=row["registration_id"], won_at=row["won_at"]
    )


# --- Claims and protections ------------------------------------------------------------------


async def holdings_of(
    session: AsyncSession, partner_id: str, policy: Policy | None, *, now: datetime
) -> Holdings:
    """The product line of each live protection the partner holds (not read when the policy
    caps no tier: nothing to count against)."""
    if policy is not None and not policy.capacity.tiers:
        return Holdings()
    query = (
        select(protections.c.product_line)
        .where(protections.c.partner_id == partner_id, protections.c.expires_at > now)
        .order_by(protections.c.product_line)
    )
    return Holdings(product_lines=tuple((await session.execute(query)).scalars()))


async def claim_row(
    session: AsyncSession, registration_id: str, *, for_update: bool = False
) -> dict[str, Any] | None:
    query = select(claims).where(claims.c.registration_id == registration_id)
    return await _first_row(session, query, for_update=for_update)


async def insert_claim(
    session: AsyncSession,
    submitted: RegistrationSubmitted,
    *,
    protection_key: str,
    correlation_id: str,
) -> None:
    """The resolver's record of a registration, before its decision is applied."""
    await session.execute(
        insert(claims).values(
            registration_id=submitted.registration_id,
            submission_seq=submitted.submission_seq,
            partner_id=submitted.partner.id,
            account_key=submitted.account_key,
            product_line=submitted.product_line,
            submitted=submitted.model_dump(mode="json"),
            status="submitted",
            correlation_id=correlation_id,
            protection_key=protection_key,
            waitlisted=False,
            extension_count=0,
        )
    )


async def protection_of(
    session: AsyncSession, registration_id: str, *, for_update: bool = False
) -> dict[str, Any] | None:
    query = select(protections).where(protections.c.registration_id == registration_id)
    return await _first_row(session, query, for_update=for_update)


async def _first_row(
    session: AsyncSession, query: Select[Any], *, for_update: bool
) -> dict[str, Any] | None:
    """The query's first row, locked when asked (on PostgreSQL; SQLite serialises writers)."""
    if for_update and dialect_name(session) == "postgresql":
        query = query.with_for_update()
    row = (await session.execute(query)).mappings().first()
    return None if row is None else dict(row)


async def remove_protection(session: AsyncSession, registration_id: str) -> bool:
    """Delete the registration's protection row; False if another transaction already did."""
    result = await session.execute(
        delete(protections).where(protections.c.registration_id == registration_id)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def update_claim(session: AsyncSession, registration_id: str, **values: Any) -> None:
    await session.execute(
        update(claims).where(claims.c.registration_id == registration_id).values(**values)
    )


async def due_protection(session: AsyncSession, now: datetime) -> str | None:
    """One protection past its expiry. Not locked here: the caller takes the account's key
    locks first, then deletes the row; an instance that comes second deletes nothing."""
    query = (
        select(protections.c.registration_id)
        .where(protections.c.expires_at <= now)
        .order_by(protections.c.expires_at)
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()
