"""Direct sales' opportunities as crm_sync reports them: rule 4 sends colliding
registrations to review while one is open, and the guard keeps watching: a direct
opportunity opened on an account a partner protects opens a ``DIRECT_ENCROACHMENT`` case."""

from __future__ import annotations

from datetime import timedelta

from conflict_resolver.adapters import direct_matching, direct_opportunities, policy_store
from conflict_resolver.adapters.conflicts import open_case
from conflict_resolver.adapters.outcomes import emit
from conflict_resolver.domain import encroachment, protection
from conflict_resolver.handlers.context import cause_of
from schemas.crm import DirectOpportunityClosed, DirectOpportunityOpened
from schemas.encroachment import DirectEncroachmentRaised
from services.events import EventContext


async def open_direct_opportunity(opened: DirectOpportunityOpened, event: EventContext) -> None:
    """Record the opportunity (rule 4 reads it), file it under its blocking keys, and open a
    case for each protection it encroaches on (once per opportunity and protection)."""
    session, now = event.session, event.now
    await direct_opportunities.record_opened(session, opened)
    await direct_matching.file_direct_keys(session, opened)
    policy = await policy_store.current_policy(session, now=now)
    customer = protection.normalised(opened.customer)
    deal = encroachment.DirectDeal(
        crm_system=opened.crm_system,
        opportunity_id=opened.opportunity_id,
        account_key=opened.account_key,
        product_line=opened.product_line,
        customer=customer,
        opened_at=opened.opened_at,
    )
    candidates = await direct_matching.holder_candidates(
        session, customer, opened.account_key, opened.product_line
    )
    for holder in encroachment.encroached_holders(deal, candidates, policy, now=now):
        await _open_case(event, opened, deal, holder, due_in=policy.review_sla)


async def _open_case(
    event: EventContext,
    opened: DirectOpportunityOpened,
    deal: encroachment.DirectDeal,
    holder: encroachment.HolderCandidate,
    *,
    due_in: timedelta,
) -> None:
    session, now = event.session, event.now
    match = holder.match
    case_id = encroachment.encroachment_case_id(
        deal.crm_system, deal.opportunity_id, match.registration_id
    )
    if await direct_matching.case_exists(session, case_id):
        return
    assert match.expires_at is not None  # noqa: S101 - a protected match has its expiry
    evidence = encroachment.encroachment_evidence(
        deal, holder, opened.customer.model_dump(mode="json")
    )
    due_at = now + due_in
    await open_case(
        session,
        case_id=case_id,
        registration_id=match.registration_id,
        account_key=match.protection_key,
        product_line=holder.product_line,
        rule=encroachment.RULE,
        reason_code=encroachment.REASON_CODE,
        evidence=evidence,
        competing_registration_ids=[],
        opened_at=now,
        due_at=due_at,
    )
    raised = DirectEncroachmentRaised(
        conflict_id=case_id,
        registration_id=match.registration_id,
        account_key=match.protection_key,
        product_line=holder.product_line,
        crm_system=opened.crm_system,
        opportunity_id=opened.opportunity_id,
        protection_expires_at=match.expires_at,
        crm_note=encroachment.crm_protected_until(match.expires_at),
        partner_reason=encroachment.partner_notice(match.expires_at),
        raised_at=now,
        evidence=evidence,  # the case's record, so it can be rebuilt from the topics
        due_at=due_at,
    )
    await emit(
        session,
        raised,
        registration_id=match.registration_id,
        partition_key=match.protection_key,
        cause=cause_of(event),
        now=now,
    )


async def close_direct_opportunity(closed: DirectOpportunityClosed, event: EventContext) -> None:
    await direct_opportunities.record_closed(
        event.session,
        crm_system=closed.crm_system,
        opportunity_id=closed.opportunity_id,
        closed_at=closed.closed_at,
    )
    await direct_matching.drop_direct_keys(event.session, closed.crm_system, closed.opportunity_id)
