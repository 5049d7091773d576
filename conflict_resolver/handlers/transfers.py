"""Sales ops move a live protection from one registration to another, in one transaction,
through the one protection path (``domain.protection.transfer``, ``adapters.outcomes``).

Locks, in the order every protection change takes them: the blocking keys of both customers
(one sorted set, so two transfers or a transfer and a decision never deadlock), then the
source's claim and protection rows, then the target's. The expiry job and a new decision on
the account wait for the keys, so whichever comes second sees the other's work: an expired
source refuses the transfer, a transferred source holds nothing for the expiry to end, and
the primary key of ``protections`` refuses a second holder whatever else slips through.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from conflict_resolver.adapters import claims_store as store
from conflict_resolver.adapters import outcomes, policy_store
from conflict_resolver.adapters.guards import exclusivity_refusals
from conflict_resolver.adapters.session import Session
from conflict_resolver.domain import protection
from conflict_resolver.domain.protection import ProtectionConflictError, TransferReason
from conflict_resolver.handlers.context import Context


class UnknownRegistrationError(LookupError):
    """A registration the resolver has never decided (the API answers 404)."""


async def transfer_protection(
    session: Session,
    *,
    from_registration_id: str,
    to_registration_id: str,
    reason: TransferReason,
    note: str,
    actor: str,
    now: datetime,
) -> None:
    """Move the live protection; raises :class:`ProtectionConflictError` when the transfer
    would break the invariant (or the source holds nothing), ``IntegrityError`` when another
    writer took the protection after our read, :class:`UnknownRegistrationError`."""
    rows = {}
    for registration_id in (from_registration_id, to_registration_id):
        row = await store.claim_row(session, registration_id)
        if row is None:
            raise UnknownRegistrationError(registration_id)
        rows[registration_id] = row
    keys = [
        k for row in rows.values() for k in protection.customer_keys(row["submitted"]["customer"])
    ]
    lines = {row["product_line"] for row in rows.values()}
    if len(lines) != 1:
        raise ProtectionConflictError(
            "A protection moves only between registrations for the same customer and line."
        )
    await store.lock_keys(session, keys, lines.pop())
    source = await outcomes.load_claim(session, from_registration_id, for_update=True)
    target = await outcomes.load_claim(session, to_registration_id, for_update=True)
    if source is None or target is None:
        raise UnknownRegistrationError(
            from_registration_id if source is None else to_registration_id
        )
    policy = await policy_store.current_policy(session, now=now)
    outcome = protection.transfer(
        source, target, policy, reason=reason, note=note, actor=actor, now=now
    )
    await outcomes.persist(session, outcome, now=now)


async def transfer(
    ctx: Context,
    *,
    from_registration_id: str,
    to_registration_id: str,
    reason: TransferReason,
    note: str,
    actor: str,
) -> dict[str, Any]:
    """The use case: one transaction; what each registration reads afterwards (for ops).
    A protection another writer took meanwhile is a conflict too."""
    now = ctx.clock.now()
    taken = "Another registration took this protection meanwhile; nothing was transferred."
    with exclusivity_refusals(taken):
        async with ctx.transactions.transaction() as session:
            await transfer_protection(
                session,
                from_registration_id=from_registration_id,
                to_registration_id=to_registration_id,
                reason=reason,
                note=note,
                actor=actor,
                now=now,
            )
    async with ctx.transactions.transaction() as session:
        source = await store.claim_row(session, from_registration_id)
        target = await store.claim_row(session, to_registration_id)
    assert source is not None  # noqa: S101 - both were just written
    assert target is not None  # noqa: S101
    return {
        "from_registration_id": from_registration_id,
        "from_status": source["status"],
        "to_registration_id": to_registration_id,
        "to_status": target["status"],
        "protection_expires_at": target["protection_expires_at"],
        "reason": reason,
        "transferred_at": now,
        "transferred_by": actor,
    }
