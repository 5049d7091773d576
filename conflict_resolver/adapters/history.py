"""Past decisions as the policy what-if replays them (``domain.replay``), and past deals
credited at closed-won (credited again under a draft model): read, never written."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from conflict_resolver.adapters.tables import claims, deal_attributions
from conflict_resolver.domain.protection import submission_of
from conflict_resolver.domain.replay import PastRegistration
from schemas.attribution import DealAttributed
from schemas.registration import RegistrationSubmitted

# Statuses that end a protection at a known time (expiry is simulated instead).
_ENDED_BY_SOMEONE = ("withdrawn", "won", "lost")


async def past_registrations(
    session: AsyncSession, *, since: datetime | None, until: datetime | None
) -> list[PastRegistration]:
    """Every decided claim accepted before ``until``; those from ``since`` on are reported."""
    query = select(claims).where(claims.c.decision.is_not(None)).order_by(claims.c.submission_seq)
    found = []
    for row in (await session.execute(query)).mappings():
        submitted = RegistrationSubmitted.model_validate(row["submitted"])
        if until is not None and submitted.submitted_at > until:
            continue
        found.append(
            PastRegistration(
                submission=submission_of(submitted),
                customer=submitted.customer.model_dump(mode="json"),
                submitted_at=submitted.submitted_at,
                decided_at=row["decided_at"],
                outcome=row["decision"],
                rule=row["rule"],
                reason_code=row["reason_code"],
                evidence=row["evidence"] or {},
                ended_at=row["ended_at"] if row["status"] in _ENDED_BY_SOMEONE else None,
                ended_as=row["status"] if row["status"] in _ENDED_BY_SOMEONE else None,
                reportable=since is None or submitted.submitted_at >= since,
            )
        )
    return found


async def past_attributions(
    session: AsyncSession, *, since: datetime | None, until: datetime | None
) -> list[tuple[DealAttributed, RegistrationSubmitted]]:
    """Each deal credited at closed-won, closed from ``since`` until ``until``, with the
    registration it was credited through."""
    query = (
        select(deal_attributions.c.attributed, claims.c.submitted)
        .join(claims, claims.c.registration_id == deal_attributions.c.registration_id)
        .order_by(deal_attributions.c.closed_at)
    )
    if since is not None:
        query = query.where(deal_attributions.c.closed_at >= since)
    if until is not None:
        query = query.where(deal_attributions.c.closed_at < until)
    return [
        (
            DealAttributed.model_validate(row["attributed"]),
            RegistrationSubmitted.model_validate(row["submitted"]),
        )
        for row in (await session.execute(query)).mappings()
    ]
