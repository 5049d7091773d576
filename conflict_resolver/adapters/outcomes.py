"""Persisting a protection change (``domain.protection.Outcome``) and loading what it needs.

One place writes what every path (rules, waitlist, expiry, queue, SLA) decided, in a fixed
order: claim updates, protection deletes, protection moves, key filings, new protections
(whose primary key refuses a second live one: ``IntegrityError``), incumbents, cases, then
the events into the outbox. One place builds the resolver's envelopes (:data:`EMITTER`, with
its one :data:`SOURCE`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from conflict_resolver.adapters import claims_store as store
from conflict_resolver.adapters import direct_matching, pending
from conflict_resolver.adapters.conflicts import close_open_case, open_case, reopen_case
from conflict_resolver.adapters.dialect import upsert
from conflict_resolver.adapters.emitter import EMITTER as EMITTER  # re-exported
from conflict_resolver.adapters.emitter import SOURCE as SOURCE
from conflict_resolver.adapters.tables import (
    claims,
    deal_attributions,
    incumbents,
    outbox,
    protections,
)
from conflict_resolver.domain.protection import Cause, Claim, IncumbentWrite, Outcome
from schemas.envelope import EventEnvelope, EventPayload
from schemas.registration import RegistrationSubmitted
from services import events
from services.outbox import stage_events


def envelope_for(
    payload: EventPayload,
    *,
    registration_id: str,
    partition_key: str,
    cause: Cause,
    now: datetime,
) -> EventEnvelope[Any]:
    """The envelope of an event the resolver emits (its one source)."""
    return EMITTER.envelope(
        payload,
        subject=registration_id,
        partition_key=partition_key,
        cause=events.Cause(cause.event_id, cause.correlation_id),
        time=now,
    )


async def emit(
    session: AsyncSession,
    payload: EventPayload,
    *,
    registration_id: str,
    partition_key: str,
    cause: Cause,
    now: datetime,
) -> None:
    """Stage one event in the caller's transaction (it leaves through the outbox)."""
    envelope = envelope_for(
        payload, registration_id=registration_id, partition_key=partition_key, cause=cause, now=now
    )
    await stage_events(session, outbox, [envelope], now=now)


async def persist(session: AsyncSession, outcome: Outcome, *, now: datetime) -> None:
    """Write one outcome in the caller's transaction (see the module docstring for the order)."""
    for claim in outcome.claim_updates:
        await store.update_claim(session, claim.registration_id, **claim.values)
    for registration_id in outcome.protection_deletes:
        await store.remove_protection(session, registration_id)
        await direct_matching.close_encroachment_cases(session, registration_id, now=now)
    for move in outcome.protection_moves:
        await session.execute(
            update(protections)
            .where(protections.c.registration_id == move.registration_id)
            .values(expires_at=move.expires_at)
        )
    for filing in outcome.key_filings:
        await store.drop_keys(session, filing.registration_id)
        await store.file_keys(session, filing.registration_id, filing.keys, filing.product_line)
    for write in outcome.protection_writes:
        row = dict(write.__dict__)
        if not pending.hold_protection(session, row):
            await session.execute(_INSERT_PROTECTION, row)
    for incumbent in outcome.incumbents:
        await _set_incumbent(session, incumbent)
    for case in outcome.cases_to_open:
        await open_case(
            session,
            case_id=case.case_id,
            registration_id=case.registration_id,
            account_key=case.account_key,
            product_line=case.product_line,
            rule=case.rule,
            reason_code=case.reason_code,
            evidence=case.evidence,
            competing_registration_ids=list(case.competing_registration_ids),
            opened_at=case.opened_at,
            due_at=case.due_at,
        )
    for closing in outcome.cases_to_close:
        await close_open_case(session, closing)
    for reopening in outcome.cases_to_reopen:
        await reopen_case(
            session,
            reopening.case_id,
            reopened_at=reopening.reopened_at,
            due_at=reopening.due_at,
            actor=reopening.actor,
            note=reopening.note,
        )
    envelopes = [
        envelope_for(
            emission.payload,
            registration_id=emission.registration_id,
            partition_key=emission.partition_key,
            cause=emission.cause,
            now=now,
        )
        for emission in outcome.events
    ]
    if envelopes:
        await stage_events(session, outbox, envelopes, now=now)
    for attributed in outcome.attributions:
        await session.execute(
            insert(deal_attributions).values(
                registration_id=attributed.registration_id,
                attributed=attributed.model_dump(mode="json"),
                closed_at=attributed.closed_at,
            )
        )


# Built once: a statement's ``values()`` for every write cost more than executing it.
_INSERT_PROTECTION = insert(protections)


async def _set_incumbent(session: AsyncSession, incumbent: IncumbentWrite) -> None:
    session.info.pop(store.NO_INCUMBENTS, None)  # the batch's read no longer holds
    await session.execute(
        upsert(
            session,
            incumbents,
            values=dict(incumbent.__dict__),
            index_elements=["account_key", "product_line"],
            update_columns=["partner_id", "registration_id", "won_at"],
        )
    )


# --- Loading claims as the domain reads them --------------------------------------------------


def claim_from_row(row: Mapping[str, Any] | RowMapping, holds_until: datetime | None) -> Claim:
    return Claim(
        submitted=RegistrationSubmitted.model_validate(row["submitted"]),
        status=row["status"],
        protection_key=row["protection_key"] or row["account_key"],
        correlation_id=row["correlation_id"],
        holds_until=holds_until,
        waitlisted=bool(row["waitlisted"]),
        extension_count=int(row["extension_count"] or 0),
    )


async def load_claim(
    session: AsyncSession, registration_id: str, *, for_update: bool = False
) -> Claim | None:
    """A claim with the protection it holds (locked when asked: the claim row on PostgreSQL,
    then the protection row, so a concurrent extension or ending is seen committed)."""
    row = await store.claim_row(session, registration_id, for_update=for_update)
    if row is None:
        return None
    holding = await store.protection_of(session, registration_id, for_update=for_update)
    return claim_from_row(row, None if holding is None else holding["expires_at"])


async def load_claims(session: AsyncSession, registration_ids: Iterable[str]) -> list[Claim]:
    wanted = sorted(set(registration_ids))
    if not wanted:
        return []
    query = (
        select(claims, protections.c.expires_at.label("holds_until"))
        .outerjoin(protections, protections.c.registration_id == claims.c.registration_id)
        .where(claims.c.registration_id.in_(wanted))
    )
    rows = (await session.execute(query)).mappings()
    return [claim_from_row(row, row["holds_until"]) for row in rows]


async def holder_of(session: AsyncSession, protection_key: str, product_line: str) -> Claim | None:
    """Whoever holds the protection under this key. Not locked here: a caller that changes it
    locks the holder's claim, then its protection (``load_claim``), the order the expiry job
    takes them, so the two never deadlock."""
    query = select(protections).where(
        protections.c.account_key == protection_key, protections.c.product_line == product_line
    )
    row = (await session.execute(query)).mappings().first()
    if row is None:
        return None
    claim = await store.claim_row(session, row["registration_id"])
    if claim is None:
        return None
    return claim_from_row(claim, row["expires_at"])


async def waitlist_of(
    session: AsyncSession, protection_key: str, product_line: str, *, limit: int | None = None
) -> list[Claim]:
    """The registrations waiting for this account and product line, in submission order."""
    query = (
        select(claims)
        .where(
            and_(
                claims.c.protection_key == protection_key,
                claims.c.product_line == product_line,
                claims.c.waitlisted.is_(True),
                claims.c.status == "rejected",
            )
        )
        .order_by(claims.c.submission_seq)
        .limit(limit)
    )
    return [claim_from_row(row, None) for row in (await session.execute(query)).mappings()]


async def waitlisted_past_close(
    session: AsyncSession, today: date, *, batch: int = 500
) -> str | None:
    """One registration still on a waitlist whose expected close date is before ``today``.

    The close date lives in the submitted event (JSON, read alike on SQLite and PostgreSQL),
    so the waitlisted claims are read in submission order, ``batch`` at a time, and filtered
    here; waitlists are short (one line per account and product line held by someone else).
    Only the close date is read, and the database leaves out those not yet due (an ISO date
    sorts as text): the job asks every few seconds, and decoding every waitlisted claim's
    whole submission each time was a tenth of a draining resolver's CPU.
    Not locked: the caller locks the claim and reads it again (``protection.close_waitlist``).
    """
    close_date = claims.c.submitted["expected_close_date"].as_string()
    after = -1
    while True:
        query = (
            select(claims.c.registration_id, claims.c.submission_seq, close_date.label("closes"))
            .where(
                claims.c.waitlisted.is_(True),
                claims.c.status == "rejected",
                claims.c.submission_seq > after,
                close_date < today.isoformat(),
            )
            .order_by(claims.c.submission_seq)
            .limit(batch)
        )
        rows = list((await session.execute(query)).mappings())
        for row in rows:
            if date.fromisoformat(str(row["closes"])) < today:
                return str(row["registration_id"])
        if len(rows) < batch:
            return None
        after = int(rows[-1]["submission_seq"])
