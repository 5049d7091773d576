"""Account overlap's SQL (issue 16): partner keys, overlap-key versions, uploads, opt-ins,
and the vendor's account domains the comparison hashes.

The vendor's accounts are the registrable domains of open registrations (every partner's:
in review, returned for edit, approved, or waiting on the waitlist), of open direct
opportunities in the CRM and of the latest house-account list. A claim or direct opportunity
keyed ``d:<domain>`` has one; one keyed by name has none and cannot overlap.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from conflict_resolver.adapters.dialect import upsert
from conflict_resolver.adapters.policy_store import current_house_accounts
from conflict_resolver.adapters.tables import (
    claims,
    direct_opportunities,
    overlap_hashes,
    overlap_keys,
    overlap_uploads,
    partner_keys,
    partner_statuses,
)
from conflict_resolver.domain.overlap import Consent, Upload
from schemas.accounts import account_domain
from schemas.principals import ApiKeyRevoked, PartnerKeyIssued, PartnerStatusChanged
from services.db import dialect_name

OPEN_CLAIM_STATUSES = ("submitted", "pending_review", "action_required", "approved")
_INSERT_CHUNK = 1000


async def add_partner_key(session: AsyncSession, event: PartnerKeyIssued) -> None:
    """Learn a partner key (a tombstone from an earlier revocation keeps it dead)."""
    known = await session.execute(
        select(partner_keys.c.key_id).where(
            or_(partner_keys.c.key_id == event.key_id, partner_keys.c.key_hash == event.key_hash)
        )
    )
    if known.first() is None:
        await session.execute(
            insert(partner_keys).values(
                key_id=event.key_id,
                partner_id=event.partner_id,
                key_hash=event.key_hash,
                issued_at=event.issued_at,
            )
        )


async def revoke_partner_key(session: AsyncSession, event: ApiKeyRevoked) -> None:
    """Revoke a partner key. Its issue came first: both are keyed by the key's id, so they
    share a partition and its order (a revocation of an ops key matches nothing here)."""
    await session.execute(
        update(partner_keys)
        .where(
            or_(partner_keys.c.key_id == event.key_id, partner_keys.c.key_hash == event.key_hash)
        )
        .values(revoked_at=event.revoked_at)
    )


async def live_partner_of(session: AsyncSession, key_hash: str) -> tuple[str, bool] | None:
    """The partner a live (issued, unrevoked) key acts for and whether it is suspended, or
    None."""
    found = await session.execute(
        select(partner_keys.c.partner_id, partner_statuses.c.status)
        .select_from(
            partner_keys.outerjoin(
                partner_statuses, partner_statuses.c.partner_id == partner_keys.c.partner_id
            )
        )
        .where(
            partner_keys.c.key_hash == key_hash,
            partner_keys.c.issued_at.is_not(None),
            partner_keys.c.revoked_at.is_(None),
        )
    )
    row = found.first()
    return None if row is None else (str(row.partner_id), row.status == "suspended")


async def set_partner_status(session: AsyncSession, event: PartnerStatusChanged) -> None:
    """Record a partner's suspension or reinstatement (the events of one partner share a
    partition, so the last applied is the latest)."""
    await session.execute(
        upsert(
            session,
            partner_statuses,
            values={
                "partner_id": event.partner_id,
                "status": event.status,
                "changed_at": event.changed_at,
            },
            index_elements=["partner_id"],
            update_columns=["status", "changed_at"],
        )
    )


async def partner_known(session: AsyncSession, partner_id: str) -> bool:
    """Whether deal_registration has issued this partner a key (so it exists)."""
    found = await session.execute(
        select(partner_keys.c.key_id)
        .where(partner_keys.c.partner_id == partner_id, partner_keys.c.issued_at.is_not(None))
        .limit(1)
    )
    return found.first() is not None


async def _insert_missing(
    session: AsyncSession, table: Table, *, values: dict[str, Any], key: str
) -> None:
    """``INSERT ... ON CONFLICT DO NOTHING``: two first calls for one partner both succeed."""
    dialect: Any = postgresql if dialect_name(session) == "postgresql" else sqlite
    statement = dialect.insert(table).values(**values).on_conflict_do_nothing(index_elements=[key])
    await session.execute(statement)


async def key_version(session: AsyncSession, partner_id: str, *, lock: bool = False) -> int | None:
    """The current overlap-key version, or None before the first was issued."""
    query = select(overlap_keys.c.version).where(
        overlap_keys.c.partner_id == partner_id, overlap_keys.c.version > 0
    )
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def key_issued(session: AsyncSession, partner_id: str) -> tuple[int, datetime] | None:
    """(current version, when it was issued), or None before sales ops issued a key."""
    found = await session.execute(
        select(overlap_keys.c.version, overlap_keys.c.issued_at).where(
            overlap_keys.c.partner_id == partner_id, overlap_keys.c.version > 0
        )
    )
    row = found.first()
    return None if row is None else (row[0], row[1])


async def next_key_version(
    session: AsyncSession, partner_id: str, *, issued_by: str, now: datetime
) -> int:
    """Move the partner to its next key version (1 the first time), under the row's lock."""
    await _insert_missing(
        session,
        overlap_keys,
        values={"partner_id": partner_id, "version": 0, "issued_at": now, "issued_by": issued_by},
        key="partner_id",
    )
    current = await session.execute(
        select(overlap_keys.c.version)
        .where(overlap_keys.c.partner_id == partner_id)
        .with_for_update()
    )
    version = int(current.scalar_one()) + 1
    await session.execute(
        update(overlap_keys)
        .where(overlap_keys.c.partner_id == partner_id)
        .values(version=version, issued_at=now, issued_by=issued_by)
    )
    return version


async def upload_of(session: AsyncSession, partner_id: str) -> tuple[Upload | None, Consent]:
    """The partner's current list (None before the first) and both sides' opt-ins."""
    row = (
        (
            await session.execute(
                select(overlap_uploads).where(overlap_uploads.c.partner_id == partner_id)
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        return None, Consent()
    consent = Consent(
        partner_opted_in_at=row["partner_opted_in_at"],
        vendor_opted_in_at=row["vendor_opted_in_at"],
    )
    if row["uploaded_at"] is None:  # a row holding only opt-ins: no list uploaded yet
        return None, consent
    upload = Upload(
        key_version=row["key_version"], uploaded_at=row["uploaded_at"], accounts=row["accounts"]
    )
    return upload, consent


async def _ensure_row(session: AsyncSession, partner_id: str) -> None:
    """The partner's row, locked (created with no list: ``uploaded_at`` null)."""
    await _insert_missing(
        session, overlap_uploads, values={"partner_id": partner_id}, key="partner_id"
    )
    await session.execute(
        select(overlap_uploads.c.partner_id)
        .where(overlap_uploads.c.partner_id == partner_id)
        .with_for_update()
    )


async def replace_hashes(
    session: AsyncSession,
    partner_id: str,
    hashes: Iterable[str],
    *,
    key_version: int,
    now: datetime,
) -> None:
    """Replace the partner's list whole, in the caller's transaction (all or nothing)."""
    await _ensure_row(session, partner_id)
    await session.execute(delete(overlap_hashes).where(overlap_hashes.c.partner_id == partner_id))
    rows = [{"partner_id": partner_id, "hash": digest} for digest in hashes]
    for start in range(0, len(rows), _INSERT_CHUNK):
        await session.execute(insert(overlap_hashes), rows[start : start + _INSERT_CHUNK])
    await session.execute(
        update(overlap_uploads)
        .where(overlap_uploads.c.partner_id == partner_id)
        .values(key_version=key_version, uploaded_at=now, accounts=len(rows))
    )


async def set_partner_consent(
    session: AsyncSession, partner_id: str, *, opted_in: bool, now: datetime
) -> None:
    await _ensure_row(session, partner_id)
    await session.execute(
        update(overlap_uploads)
        .where(overlap_uploads.c.partner_id == partner_id)
        .values(partner_opted_in_at=now if opted_in else None)
    )


async def set_vendor_consent(
    session: AsyncSession, partner_id: str, *, opted_in: bool, by: str, now: datetime
) -> None:
    await _ensure_row(session, partner_id)
    await session.execute(
        update(overlap_uploads)
        .where(overlap_uploads.c.partner_id == partner_id)
        .values(
            vendor_opted_in_at=now if opted_in else None,
            vendor_opted_in_by=by if opted_in else None,
        )
    )


async def hashes_of(session: AsyncSession, partner_id: str) -> list[str]:
    found = await session.execute(
        select(overlap_hashes.c.hash).where(overlap_hashes.c.partner_id == partner_id)
    )
    return list(found.scalars())


def _domain_of_key(account_key: str) -> str | None:
    return account_key[2:] if account_key.startswith("d:") else None


async def vendor_account_domains(session: AsyncSession) -> set[str]:
    """The registrable domains of the vendor's accounts (see the module docstring)."""
    open_claims = select(claims.c.account_key).where(
        or_(claims.c.status.in_(OPEN_CLAIM_STATUSES), claims.c.waitlisted.is_(True)),
        claims.c.account_key.like("d:%"),
    )
    open_direct = select(direct_opportunities.c.account_key).where(
        direct_opportunities.c.closed_at.is_(None),
        direct_opportunities.c.account_key.like("d:%"),
    )
    domains: set[str] = set()
    for query in (open_claims, open_direct):
        for account_key in (await session.execute(query.distinct())).scalars():
            domain = _domain_of_key(account_key)
            if domain is not None:
                domains.add(domain)
    _, house = await current_house_accounts(session)
    for account in house.accounts:
        domain = account_domain(account.domain)
        if domain is not None:
            domains.add(domain)
    return domains
