"""Protections end: at their expiry (the expiry job), withdrawn by the partner, won or lost
in the CRM. Each loads the claim under its locks, asks ``domain.protection`` what the ending
does, and persists that (the waitlist moves when it ends without a win)."""

from __future__ import annotations

from datetime import datetime

from conflict_resolver.adapters import claims_store as store
from conflict_resolver.adapters import influence, involvements, outcomes, policy_store
from conflict_resolver.domain import protection
from conflict_resolver.domain.attribution import Involvement
from conflict_resolver.domain.policy import Policy
from conflict_resolver.domain.protection import Cause, Claim, Outcome
from conflict_resolver.handlers.context import Context
from conflict_resolver.handlers.protections import change_claim, expire_if_due, lock_claim
from schemas.crm import CrmDealClosed
from schemas.registration import RegistrationWithdrawn
from services.events import EventContext


async def expire_one(ctx: Context) -> bool:
    """End one protection past its expiry (event + waitlist); False when none is due.

    Safe with several instances and against a late extension: the row is picked unlocked,
    then the account's key locks and the claim's row lock are taken and the expiry is read
    again; an extension that committed in between leaves it alone, and an instance that
    comes second finds nothing to end.
    """
    now = ctx.clock.now()
    async with ctx.transactions.transaction() as session:
        registration_id = await store.due_protection(session, now)
        if registration_id is None:
            return False
        await lock_claim(session, registration_id)
        policy = await policy_store.current_policy(session, now=now)
        await expire_if_due(session, registration_id, policy, now=now)
        return True


async def close_one_waitlisted(ctx: Context) -> bool:
    """Take one registration off its waitlist whose expected close date passed, telling the
    partner (``WaitlistLeft``); False when none is due. Safe with several instances: the
    claim is read again under its locks (``protection.close_waitlist``)."""
    now = ctx.clock.now()
    async with ctx.transactions.transaction() as session:
        registration_id = await outcomes.waitlisted_past_close(session, now.date())
        if registration_id is None:
            return False
        await lock_claim(session, registration_id)
        claim = await outcomes.load_claim(session, registration_id, for_update=True)
        if claim is None:
            return False
        await outcomes.persist(session, protection.close_waitlist(claim, now=now), now=now)
        return True


async def withdraw(withdrawn: RegistrationWithdrawn, event: EventContext) -> None:
    """The partner withdrew: protection ends (and the waitlist moves), or it leaves the queue
    or the waitlist."""

    def change(claim: Claim | None, _policy: Policy, cause: Cause, now: datetime) -> Outcome:
        return Outcome() if claim is None else protection.withdraw(claim, now=now, cause=cause)

    if await influence.end(event.session, withdrawn.registration_id, now=event.now):
        return  # an influence claim: it held nothing, so nothing else changes
    await change_claim(event, registration_id=withdrawn.registration_id, change=change)


async def close_deal(closed: CrmDealClosed, event: EventContext) -> None:
    """Won or lost in the CRM ends protection; won makes the partner the incumbent and credits
    the amount to the partners involved (``DealAttributed``, once), lost frees the waitlist.
    The partners besides the holder (accepted co-sell partners and influence claims) are read
    in the event's transaction, before the pure change."""
    others: tuple[Involvement, ...] = ()
    if closed.outcome == "won":
        row = await store.claim_row(event.session, closed.registration_id)
        if row is not None:
            others = await involvements.others_involved(
                event.session,
                registration_id=closed.registration_id,
                account_key=row["account_key"],
                product_line=row["product_line"],
            )

    def change(claim: Claim | None, policy: Policy, cause: Cause, now: datetime) -> Outcome:
        if claim is None:
            return Outcome()
        ended = protection.close_deal(claim, closed.outcome, now=now, cause=cause)
        if closed.outcome != "won" or not _becomes_won(ended, claim.registration_id):
            return ended
        credited = protection.attribute_win(
            claim,
            policy,
            amount=closed.amount,
            closed_at=closed.closed_at,
            now=now,
            cause=cause,
            others=others,
        )
        return ended.then(credited)

    await change_claim(event, registration_id=closed.registration_id, change=change)


def _becomes_won(outcome: Outcome, registration_id: str) -> bool:
    return any(
        update.registration_id == registration_id and update.values.get("status") == "won"
        for update in outcome.claim_updates
    )
