"""A submitted registration through the rules of engagement."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from conflict_resolver.adapters import claims_store as store
from conflict_resolver.adapters import conflicts, crm_companies, pending, policy_store
from conflict_resolver.domain import protection
from conflict_resolver.domain.families import company_lock_keys
from conflict_resolver.handlers.context import cause_of
from conflict_resolver.handlers.influence import decide_influence
from conflict_resolver.handlers.protections import apply, evaluate
from schemas.registration import RegistrationSubmitted
from services.clock import new_id
from services.events import EventContext
from services.tracing import tracer

# Per transaction (``session.info``): the batch's shared reads and locks are taken.
_BATCH_PREPARED = "conflict_resolver.batch_prepared"


async def _prepare_batch(event: EventContext) -> None:
    """What every undecided submission of the batch will read or take, read and taken at once
    before the first is decided: the CRM company each customer is, the key locks (then the
    capped partners' locks), how many claims each blocking key has, and which product lines
    have no incumbent or open direct opportunity at all. Each decision then
    finds them in the transaction instead of asking again; what a decision writes (its keys)
    is counted in as it is filed, so the next one sees it as if it had read it."""
    session = event.session
    event.session.info[_BATCH_PREPARED] = True
    # The batch's new claims, keys and protections are written together, at its end or when
    # a statement could see them (``adapters.pending``).
    pending.defer_writes(session)
    event.before_commit(lambda: pending.write_pending(session))
    undecided = [
        other.data
        for other in event.batch
        if isinstance(other.data, RegistrationSubmitted)
        and other.data.role != "influence"
        and not await store.claim_exists(session, other.data.registration_id)
    ]
    customers = [submitted.customer.model_dump() for submitted in undecided]
    await crm_companies.contexts_for(session, customers)
    policy = await policy_store.current_policy(session, now=event.now)
    locks: set[tuple[str, str]] = set()
    sizes: set[tuple[str, str]] = set()
    companies = []
    for submitted, customer in zip(undecided, customers, strict=True):
        line = submitted.product_line
        keys = protection.customer_keys(submitted.customer)
        company = await crm_companies.context_for(session, customer)
        companies.append(company)
        locks.update((key, line) for key in (*keys, *company_lock_keys(company)))
        sizes.update((key, line) for key in keys)
    partners = {s.partner.id for s in undecided if policy.capacity.caps(s.partner.tier)}
    await store.lock_batch(session, locks, partners)
    await store.read_key_sizes(session, sizes)
    await store.read_empty_lines(session, {submitted.product_line for submitted in undecided})
    # Under the locks, as each decision would read them: its candidates.
    await store.read_batch_candidates(session, list(zip(undecided, companies, strict=True)), policy)


async def decide_submission(submitted: RegistrationSubmitted, event: EventContext) -> None:
    """Decide one submitted registration and record the decision, its evidence and its event
    in the event's transaction (with its inbox row)."""
    if submitted.role == "influence":
        await decide_influence(submitted, event)  # never a claim: no exclusivity involved
        return
    session, now = event.session, event.now
    # Read only by the batch's first ask (``claim_exists``): not listed for every decision.
    batch_ids = (
        other.data.registration_id
        for other in event.batch
        if isinstance(other.data, RegistrationSubmitted) and other.data.role != "influence"
    )
    if await store.claim_exists(session, submitted.registration_id, batch_ids):
        return
    conflicts.first_decision(session, submitted.registration_id)
    if event.batch and not session.info.get(_BATCH_PREPARED):
        await _prepare_batch(event)
    with tracer.start_as_current_span(
        "decide registration", attributes={"dealreg.registration_id": submitted.registration_id}
    ) as span:
        policy = await policy_store.current_policy(session, now=now)
        cause = cause_of(event)
        decision = await evaluate(session, submitted, policy, now=now)
        span.set_attributes(
            {
                "dealreg.decision.outcome": str(decision.outcome),
                "dealreg.decision.rule": decision.rule,
            }
        )
        outcome = protection.record_decision(
            submitted, decision, policy, now=now, cause=cause, case_id=new_id()
        )
        # The claim is new: it is inserted with its decision (not inserted, then updated), and
        # its keys filed without first dropping the none it has. The rest of the outcome is
        # persisted as any other (``apply``); nothing there reads this claim or its keys.
        registration_id = submitted.registration_id
        decided: dict[str, Any] = {}
        for update in outcome.claim_updates:
            if update.registration_id == registration_id:
                decided.update(update.values)
        await store.insert_claim(
            session,
            submitted,
            protection_key=decision.protection_key,
            correlation_id=cause.correlation_id,
            decided=decided,
        )
        for filing in outcome.key_filings:
            if filing.registration_id == registration_id:
                await store.file_keys(session, registration_id, filing.keys, filing.product_line)
        outcome = replace(
            outcome,
            claim_updates=tuple(
                u for u in outcome.claim_updates if u.registration_id != registration_id
            ),
            key_filings=tuple(
                f for f in outcome.key_filings if f.registration_id != registration_id
            ),
        )
        await apply(session, outcome, policy, now=now)
