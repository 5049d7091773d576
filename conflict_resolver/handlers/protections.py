"""The steps every path that changes a protection shares: run the rules for a registration
under its key locks, persist a protection outcome, and move the waitlist.

The invariant (never two approved protections for one account and product line) is the
primary key of ``protections`` on the canonical account key: whichever instance, partition
or ops decision writes second fails and its retry sees the holder.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from conflict_resolver.adapters import claims_store as store
from conflict_resolver.adapters import crm_companies, outcomes, policy_store
from conflict_resolver.adapters.session import Session
from conflict_resolver.domain import protection
from conflict_resolver.domain.families import company_lock_keys
from conflict_resolver.domain.policy import Policy
from conflict_resolver.domain.protection import Cause, Claim, Outcome, submission_of
from conflict_resolver.domain.rules import Decision, decide
from conflict_resolver.handlers.context import cause_of
from schemas.registration import RegistrationSubmitted
from services.clock import new_id
from services.events import EventContext

# What an event does to a registration's claim (None: unknown to the resolver).
ClaimChange = Callable[[Claim | None, Policy, Cause, datetime], Outcome]


async def change_claim(event: EventContext, *, registration_id: str, change: ClaimChange) -> None:
    """The shape of every event that changes one claim's protection: in the event's
    transaction (the runtime applies it once), under the account's key locks and the claim's
    row lock, the domain's outcome persisted."""
    session, now = event.session, event.now
    await lock_claim(session, registration_id)
    claim = await outcomes.load_claim(session, registration_id, for_update=True)
    policy = await policy_store.current_policy(session, now=now)
    await apply(session, change(claim, policy, cause_of(event), now), policy, now=now)


async def lock_claim(session: Session, registration_id: str) -> None:
    """Take the claim's key locks before any row lock, in the order every decision takes
    them, so that changing a protection never deadlocks with a decision on the account."""
    claim = await store.claim_row(session, registration_id)
    if claim is not None:
        keys = protection.customer_keys(claim["submitted"]["customer"])
        await store.lock_keys(session, keys, claim["product_line"])


async def evaluate(
    session: Session, submitted: RegistrationSubmitted, policy: Policy, *, now: datetime
) -> Decision:
    """Lock the registration's blocking keys, gather its situation and run the rules.

    A holder whose window has passed but that the expiry job has not ended yet is ended here
    first (with its waitlist, which came earlier than this registration).
    """
    house = await policy_store.current_house_accounts(session)
    # The CRM company's keys too: registrations naming two aliases of one company share no
    # blocking key, and would otherwise race for its one protection.
    company = await crm_companies.context_for(session, submitted.customer.model_dump())
    keys = [*protection.customer_keys(submitted.customer), *company_lock_keys(company)]
    await store.lock_keys(session, keys, submitted.product_line)
    if policy.capacity.caps(submitted.partner.tier):
        await store.lock_partner(session, submitted.partner.id)
    gathered = await store.gather(session, submitted, policy, house=house, company=company, now=now)
    if gathered.stale_holders:
        for registration_id in gathered.stale_holders:
            await expire_if_due(session, registration_id, policy, now=now)
        gathered = await store.gather(
            session, submitted, policy, house=house, company=company, now=now
        )
    return decide(submission_of(submitted), gathered.situation, policy, now=now)


async def expire_if_due(
    session: Session, registration_id: str, policy: Policy, *, now: datetime
) -> None:
    """End the registration's protection if, read under its lock, its window has passed."""
    claim = await outcomes.load_claim(session, registration_id, for_update=True)
    if claim is None:
        await store.remove_protection(session, registration_id)  # never expected; still ended
        return
    await apply(session, protection.expire(claim, now=now), policy, now=now)


async def apply(session: Session, outcome: Outcome, policy: Policy, *, now: datetime) -> None:
    """Persist an outcome, then move each waitlist it freed."""
    await outcomes.persist(session, outcome, now=now)
    for freed in outcome.waitlists_to_move:
        await promote_waitlist(session, freed.protection_key, freed.product_line, policy, now=now)


async def promote_waitlist(
    session: Session, protection_key: str, product_line: str, policy: Policy, *, now: datetime
) -> None:
    """Re-evaluate the waitlist behind a protection that ended, in submission order, until
    one is approved or sent to review, or the head is still blocked
    (``protection.waitlist_step``)."""
    while waiting := await outcomes.waitlist_of(session, protection_key, product_line, limit=1):
        submitted = waiting[0].submitted
        decision = None
        if not protection.leaves_waitlist(submission_of(submitted), now=now):
            # Off the waitlist while it is evaluated, so that it does not see itself.
            await store.update_claim(session, submitted.registration_id, waitlisted=False)
            decision = await evaluate(session, submitted, policy, now=now)
        step = protection.waitlist_step(
            submitted,
            decision,
            policy,
            now=now,
            cause=Cause(None, waiting[0].correlation_id),
            case_id=new_id(),
        )
        await apply(session, step.outcome, policy, now=now)
        if not step.moves_on:
            return
