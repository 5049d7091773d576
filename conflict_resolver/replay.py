"""What ``dealreg replay conflict_resolver`` rebuilds, and how (``services.replay``).

The resolver is rebuilt without deciding again: a decision taken again under today's policy,
clock or house accounts, or one a reviewer took in the conflict queue, could differ from the
one the partners were told. The plan applies what it consumed only where that decides
nothing, and its own published events to write what it decided, each through the
production write of its table (``domain.protection`` outcomes persisted by
``adapters.outcomes``; ``policy_store.record_version``; ``adapters.conflicts``;
``adapters.notices``):

- ``RegistrationSubmitted``: held in memory by registration id, never decided; the claim is
  written with its decision (as ``decide_submission`` writes it) when the decision is read.
- ``RegistrationApproved`` / ``RegistrationRejected`` / ``RegistrationSentToReview`` by the
  rules: the decision as told (rule, reason, canonical ``protection_key``, ``evidence``,
  waitlist, competing claims, the case id) through ``protection.record_decision`` at its
  ``decided_at`` under the policy version it names: claim, keys, protection, case. A
  promotion from the waitlist (``WAITLIST_PROMOTED``) or a decision again after an edit
  changes the existing claim. Decided by ops (``decided_by``): ``approve_from_review`` /
  ``reject_from_review`` on the claim as rebuilt, at the decision's time.
- ``ConflictCaseRecorded``: the history line and the case as it stood after it. An
  ``opened`` line (a case no other event tells: an extension request the policy sent to
  review) opens the case with what it opened with (``adapters.conflicts.open_case``; no line
  is stored for an opening: the queue shows it from ``opened_at``);
  ops' answer is the ``ProtectionExtended`` (``decided_by`` ops) or denial told with its
  ``decided`` line. A ``decided`` line of ops' decision on a registration's case gives the
  ``match_decisions`` again, derived from the decision it tells and the case as rebuilt (its
  evidence is fixed once open), as ``decide_locked`` derives them
  (``queue.handlers.deciding.record_match_decisions``): nothing decided again.
- ``DirectOpportunityOpened`` / ``DirectOpportunityClosed`` (consumed): the opportunity
  recorded and filed under its blocking keys (closed: dropped from them) as the CRM consumer
  does, never matched again: each case it opened on a protection is the resolver's
  ``DirectEncroachmentRaised`` (the match as evidence, the due time), opened through
  ``open_case``; ops' resolution is the case's ``decided`` line (``DirectEncroachmentResolved``
  only tells the holder). A ``DirectEncroachmentRaised`` told without its evidence (before it
  was on the event) is refused (``UnsupportedHistoryError``). An encroachment case its
  protection's ending closed (``outcomes.persist``) takes the ending's time: for a withdrawal
  or a lost deal the consumed event's, seconds before the resolver's (as ``ended_at`` below).
- ``ProtectionExtended``, ``ProtectionExpired``, ``WaitlistReevaluated``, ``WaitlistLeft``,
  ``ProtectionExpiring`` (with the notices ``passed`` with it): as told.
- ``RegistrationWithdrawn`` (consumed): ``protection.withdraw``; a withdrawal read before the
  decision it follows (the decision's record may be stamped later than a withdrawal sent at
  once) is applied right after that decision, as the resolver did.
- An ending never moves the waitlist (``waitlists_to_move`` dropped): what became of the
  waitlist is on the topics (a promotion, ``WaitlistReevaluated``, ``WaitlistLeft``).
- ``CrmDealClosed`` lost (consumed): ``protection.close_deal``. A win is applied from the
  ``DealAttributed`` the resolver told when it took it, at that time: the same ending (the
  partner the incumbent) and the credit as told, never computed again.
- ``ProtectionTransferred``: sales ops' transfer, ``protection.transfer`` on both claims as
  rebuilt, at its time, under the policy version it names (the window it gave) and with ops'
  note (the closing reason of the target's case); its ``RegistrationApproved``
  (``protection_transfer``) is that same step, skipped. Events from before the version and
  the note were told take the latest policy stored then, and close the case without the note.
- ``RegistrationAppealed`` (consumed): held, never decided; the ``RegistrationSentToReview``
  the resolver told for it (rule ``appeal``) applies ``protection.reopen_on_appeal`` on the
  claim at its time, under the policy it names (the appeal's due time). The case's reopening
  is its ``ConflictCaseRecorded`` (line and standing), not written twice.
- ``RegistrationReturnedForEdit``: ``protection.return_for_edit`` as told (its round trip and
  the policy's cap); the case's closing is its ``ConflictCaseRecorded``.
- ``RegistrationEdited`` (consumed): the claim takes the edited registration through the
  live write (``handlers.answers.take_edit``: only a claim ``action_required``); the rules'
  decision again is applied from its own event, changing the existing claim (above).
- ``InfluenceAccepted`` / ``InfluenceRejected``: the influence claim recorded as decided,
  from its submission held since its own event (``handlers.influence.influence_row``).
- ``PolicyPublished``, ``HouseAccountsPublished``: each version whole, as stored.
- Consumed, deciding nothing, through the resolver's own handlers: co-sell answers, the CRM's
  companies, ops keys, partner keys and partners' suspensions.

Proven (``tests/integration/test_replay_resolver.py``, SQLite and PostgreSQL): a history made
by the real resolver over Kafka (a policy and house accounts published, approvals, a house
account rejection, a waitlisted registration promoted when the holder withdrew, an extension, a
case sent to review and rejected by ops, an influence claim accepted, a deal won and credited
to both, one lost, an extension sent to review and granted by ops, a possible duplicate judged
by ops, a direct opportunity encroaching on a protection with its case resolved by ops, and
one opened and closed) rebuilt into an empty database, every table of ``PLAN.state_tables``
equal to the live one (a withdrawal's or a lost deal's ``ended_at`` is the resolver's
processing time, on no event: the replay records the consumed event's time, seconds earlier at
most), and the next registration decided alike on both (behind the direct opportunity still
open; notices, co-sell answers, companies and keys are not in that history: their tables are
empty on both); a second history (a transfer to a registration in review, a reviewer's coded
rejection appealed and rejected again, a registration returned for edit whose partner named
another customer, approved by the rules again, and one edited back into review, its case
opened again, then returned a second time) rebuilt alike, table by table; and through the
command
(``tests/e2e/test_cli_replay.py``).

Not in the plan yet (``PLAN.cannot_apply``: a history holding one of their events is refused,
naming it, rather than rebuilt into a database that differs from the live one; tables not in
``state_tables``): nothing today; ``cannot_apply`` stays for the next event the plan does not
apply yet. An extension case opened before the resolver told its ``opened`` line (older
histories) cannot be rebuilt: its ``decided`` line is refused (``UnsupportedHistoryError``);
one still open then is not rebuilt (nothing tells it).

Not on the topics, by design: account overlap (``overlap_keys``, ``overlap_uploads``,
``overlap_hashes``: partners' private hashes and consents, never on a broadcast topic). After a
restore from the topics sales ops issue the overlap keys again and partners upload and opt in
again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from conflict_resolver import handlers
from conflict_resolver.adapters import claims_store as store
from conflict_resolver.adapters import conflicts as cases
from conflict_resolver.adapters import direct_matching, influence, notices, outcomes, policy_store
from conflict_resolver.adapters import direct_opportunities as opportunities
from conflict_resolver.adapters.outcomes import EMITTER
from conflict_resolver.adapters.session import Session
from conflict_resolver.adapters.tables import (
    claim_keys,
    claims,
    co_sell_partners,
    conflicts,
    crm_companies,
    crm_company_keys,
    deal_attributions,
    direct_opportunities,
    direct_opportunity_keys,
    expiry_notices,
    house_account_lists,
    inbox,
    incumbents,
    influence_claims,
    partner_keys,
    partner_statuses,
    policies,
    protections,
)
from conflict_resolver.domain import encroachment, protection
from conflict_resolver.domain.policy import Policy
from conflict_resolver.domain.protection import (
    APPEAL_RULE,
    TRANSFER_RULE,
    Cause,
    Claim,
    ClaimUpdate,
    Outcome,
    ProtectionMove,
)
from conflict_resolver.domain.rules import Decision
from conflict_resolver.domain.situation import Outcome as Verdict
from conflict_resolver.handlers import overlap
from conflict_resolver.handlers.answers import take_edit
from conflict_resolver.handlers.context import cause_of
from conflict_resolver.handlers.influence import influence_row
from conflict_resolver.handlers.review import review_situation
from conflict_resolver.queue import handlers as queue_handlers
from conflict_resolver.queue import store as queue_store
from conflict_resolver.queue.domain import DecisionPlan
from conflict_resolver.queue.handlers.deciding import record_match_decisions
from conflict_resolver.queue.tables import conflict_history, match_decisions, ops_keys
from schemas.attribution import DealAttributed
from schemas.companies import CrmCompanyRemoved, CrmCompanyUpserted
from schemas.cosell import CoSellAccepted, CoSellDeclined, InfluenceAccepted, InfluenceRejected
from schemas.crm import CrmDealClosed, DirectOpportunityClosed, DirectOpportunityOpened
from schemas.encroachment import DirectEncroachmentRaised
from schemas.policies import HouseAccountsPublished, PolicyPublished
from schemas.principals import (
    ApiKeyRevoked,
    OpsKeyIssued,
    PartnerKeyIssued,
    PartnerStatusChanged,
)
from schemas.registration import (
    ConflictCaseRecorded,
    ProtectionExpired,
    ProtectionExpiring,
    ProtectionExtended,
    ProtectionTransferred,
    RegistrationApproved,
    RegistrationRejected,
    RegistrationSentToReview,
    RegistrationSubmitted,
    RegistrationWithdrawn,
    WaitlistLeft,
    WaitlistReevaluated,
)
from schemas.review import RegistrationAppealed, RegistrationEdited, RegistrationReturnedForEdit
from services.events import EventContext, Subscriptions, UnitOfWork
from services.principals import OpsKeyEvents
from services.replay import ReplayPlan, UnsupportedHistoryError

DECISIONS_REPLAY = "conflict_resolver.replay"  # the inbox rows of the resolver's own events
RULES = "rules"
Decided = RegistrationApproved | RegistrationRejected | RegistrationSentToReview


@dataclass
class Held:
    """The submissions read so far, by registration id: a claim is written with its decision
    (as ``decide_submission`` does), which comes later on the decisions topic."""

    submissions: dict[str, tuple[RegistrationSubmitted, str]] = field(default_factory=dict)
    # Withdrawals read before the decision they follow: the resolver decides a submission
    # before it reads the next event of its partition, but the decision's record may be
    # stamped later than a withdrawal sent as soon as it was taken. Applied right after it.
    withdrawals: dict[str, tuple[Cause, datetime]] = field(default_factory=dict)
    # Appeals read, by registration id: what the resolver made of one is its own
    # ``RegistrationSentToReview`` (``APPEALED``), applied with it (:meth:`reopened`).
    appeals: dict[str, RegistrationAppealed] = field(default_factory=dict)

    async def submitted(self, event: RegistrationSubmitted, context: EventContext) -> None:
        """Recorded, never decided: the decision is applied from its own event."""
        self.submissions[event.registration_id] = (event, cause_of(context).correlation_id)

    async def decided(self, event: Decided, context: EventContext) -> None:
        """A decision as published, written through the one outcome the rules' decision
        makes (``protection.record_decision``) or ops' (``approve_from_review`` /
        ``reject_from_review``), at the time it was taken and under the policy it named."""
        if event.rule == TRANSFER_RULE:
            return  # applied with its ``ProtectionTransferred`` (:func:`transferred`)
        if isinstance(event, RegistrationSentToReview) and event.rule == APPEAL_RULE:
            await self.reopened(event, context)
            return
        session, now = context.session, event.decided_at
        policy = await _policy(session, event.policy_version)
        if getattr(event, "decided_by", RULES) != RULES:
            await _decided_by_ops(session, event, policy, now=now)
            return
        claim = await outcomes.load_claim(session, event.registration_id)
        if claim is not None:  # promoted from the waitlist, or decided again after an edit
            submitted, correlation_id = claim.submitted, claim.correlation_id
        elif event.registration_id in self.submissions:
            submitted, correlation_id = self.submissions.pop(event.registration_id)
        else:
            return  # its submission is not on the topics (retention): nothing to record
        decision = _decision_of(event)
        outcome = protection.record_decision(
            submitted,
            decision,
            policy,
            now=now,
            cause=Cause(None, correlation_id),
            case_id=getattr(event, "conflict_id", ""),
            promoted=event.reason_code == "WAITLIST_PROMOTED",
        )
        if claim is None:
            decided: dict[str, object] = {}
            for update in outcome.claim_updates:
                decided.update(update.values)
            await store.insert_claim(
                session,
                submitted,
                protection_key=decision.protection_key,
                correlation_id=correlation_id,
                decided=decided,
            )
            outcome = replace(outcome, claim_updates=())
        await outcomes.persist(session, _without_moves(outcome), now=now)
        if (withdrawal := self.withdrawals.pop(event.registration_id, None)) is not None:
            await _withdraw(session, event.registration_id, *withdrawal)

    async def appealed(self, event: RegistrationAppealed, context: EventContext) -> None:
        """Held, never decided: the resolver told what it made of it (:meth:`reopened`)."""
        del context
        self.appeals[event.registration_id] = event

    async def reopened(self, event: RegistrationSentToReview, context: EventContext) -> None:
        """An appeal the resolver took (``APPEALED``): ``protection.reopen_on_appeal`` on the
        claim as rebuilt, at its time, under the policy it names. Told, so the case was
        decided by review (``by_review``); the case's reopening is told on its own
        (``ConflictCaseRecorded``: its line and standing), so it is not written twice."""
        session, now = context.session, event.decided_at
        appeal = self.appeals.pop(event.registration_id, None)
        claim = await outcomes.load_claim(session, event.registration_id)
        if appeal is None or claim is None:
            return  # the appeal or the claim is not on the topics (retention)
        outcome = protection.reopen_on_appeal(
            appeal,
            claim,
            await _policy(session, event.policy_version),
            case_id=event.conflict_id,
            by_review=True,
            now=now,
            cause=Cause(None, claim.correlation_id),
        )
        await outcomes.persist(session, replace(outcome, cases_to_reopen=()), now=now)

    async def influence_decided(
        self, event: InfluenceAccepted | InfluenceRejected, context: EventContext
    ) -> None:
        """An influence claim's decision as told, with its submission held since its own
        event, recorded as ``decide_influence`` records it."""
        held = self.submissions.pop(event.registration_id, None)
        if held is None or await influence.get(context.session, event.registration_id):
            return
        submitted, correlation_id = held
        accepted = isinstance(event, InfluenceAccepted)
        row = influence_row(
            submitted,
            status="accepted" if accepted else "rejected",
            reason_code=event.reason_code,
            policy_version=event.policy_version,
            decided_at=event.decided_at,
            correlation_id=correlation_id,
        )
        await influence.insert_claim(context.session, row)
        if (withdrawal := self.withdrawals.pop(event.registration_id, None)) is not None:
            await influence.end(context.session, event.registration_id, now=withdrawal[1])

    async def withdrawn(self, event: RegistrationWithdrawn, context: EventContext) -> None:
        """As ``handlers.withdraw``, the waitlist left to its own events; one whose decision
        is still to come waits for it."""
        session, now, cause = context.session, context.now, cause_of(context)
        if await influence.end(session, event.registration_id, now=now):
            return
        if event.registration_id in self.submissions:
            self.withdrawals[event.registration_id] = (cause, now)
            return
        await _withdraw(session, event.registration_id, cause, now)


async def _withdraw(session: Session, registration_id: str, cause: Cause, now: datetime) -> None:
    claim = await outcomes.load_claim(session, registration_id)
    if claim is not None:
        outcome = protection.withdraw(claim, now=now, cause=cause)
        await outcomes.persist(session, _without_moves(outcome), now=now)


def _decision_of(event: Decided) -> Decision:
    """The rules' decision as its event tells it (evidence and canonical key included)."""
    expires_at = getattr(event, "protection_expires_at", None)
    reason_code = event.reason_code
    if isinstance(event, RegistrationApproved) and reason_code == "WAITLIST_PROMOTED":
        reason_code = None  # ``record_decision`` tells the promotion itself
    return Decision(
        outcome=_OUTCOME[type(event)],
        rule=event.rule,
        reason=event.reason,
        reason_code=reason_code,
        protection_key=event.protection_key or event.account_key,
        protection_expires_at=expires_at,
        blocking_registration_id=getattr(event, "blocking_registration_id", None),
        blocked_until=getattr(event, "blocked_until", None),
        waitlisted=getattr(event, "waitlisted", False),
        competing_registration_ids=tuple(getattr(event, "competing_registration_ids", ())),
        evidence=dict(event.evidence or {}),
    )


_OUTCOME: dict[type[Decided], Verdict] = {
    RegistrationApproved: "approved",
    RegistrationRejected: "rejected",
    RegistrationSentToReview: "pending_review",
}


async def _decided_by_ops(
    session: Session, event: Decided, policy: Policy, *, now: datetime
) -> None:
    """The queue's decision (a person or the SLA policy), through the same outcome."""
    if isinstance(event, RegistrationApproved):
        situation = await review_situation(session, event.registration_id)
        if situation is None:
            return
        outcome = protection.approve_from_review(situation, policy, actor=event.decided_by, now=now)
    elif isinstance(event, RegistrationRejected):
        reviewed = await outcomes.load_claim(session, event.registration_id)
        if reviewed is None:
            return
        published = event.reason_code != protection.REVIEW_REJECTED
        outcome = protection.reject_from_review(
            reviewed,
            policy,
            kept=event.blocking_registration_id,
            actor=event.decided_by,
            now=now,
            reason_code=event.reason_code if published else None,
        )
    else:
        return
    await outcomes.persist(session, _without_moves(outcome), now=now)


async def _policy(session: Session, version: int) -> Policy:
    """The policy version a decision names. The default version 1 is told in the transaction
    of the first decision, possibly on a later partition: the file's policy stands in."""
    stored = await policy_store.policy_version(session, version)
    if stored is not None:
        return stored
    return policy_store.default_policy()


def _without_moves(outcome: Outcome) -> Outcome:
    """The waitlist behind an ended protection is never decided again: what became of it is
    on the topics (a promotion, ``WaitlistReevaluated``, ``WaitlistLeft``)."""
    return replace(outcome, waitlists_to_move=())


async def _change(
    context: EventContext,
    registration_id: str,
    change: Callable[[Claim], Outcome],
    now: datetime,
) -> None:
    """One claim changed by the domain's outcome for an event (nothing when unknown)."""
    claim = await outcomes.load_claim(context.session, registration_id)
    if claim is None:
        return
    outcome = change(claim)
    await outcomes.persist(context.session, _without_moves(outcome), now=now)


async def expired(event: ProtectionExpired, context: EventContext) -> None:
    """The expiry job's ending, at its time (nothing when ops' approval ended it already)."""
    now = event.expired_at
    await _change(context, event.registration_id, lambda c: protection.expire(c, now=now), now)


async def deal_closed(event: CrmDealClosed, context: EventContext) -> None:
    """Lost in the CRM ends the protection (``protection.close_deal``); a win is applied from
    the ``DealAttributed`` the resolver told at the time it took it (:func:`attributed`)."""
    if event.outcome == "won":
        return
    now, cause = context.now, cause_of(context)
    await _change(
        context,
        event.registration_id,
        lambda claim: protection.close_deal(claim, "lost", now=now, cause=cause),
        now,
    )


async def attributed(event: DealAttributed, context: EventContext) -> None:
    """A win as the resolver took it, at that time: the protection ended, the partner the
    incumbent (``protection.close_deal``), and the credit as told, never computed again."""
    now, cause = context.now, cause_of(context)
    await _change(
        context,
        event.registration_id,
        lambda claim: protection.close_deal(claim, "won", now=now, cause=cause).then(
            Outcome(attributions=(event,))
        ),
        now,
    )


async def extended(event: ProtectionExtended, context: EventContext) -> None:
    """The extension granted, as told: the claim's expiry and count, the protection moved."""
    claim = await outcomes.load_claim(context.session, event.registration_id)
    if claim is None:
        return
    values = {
        "protection_expires_at": event.protection_expires_at,
        "extension_count": claim.extension_count + 1,
    }
    outcome = Outcome(
        claim_updates=(ClaimUpdate(claim.registration_id, values),),
        protection_moves=(ProtectionMove(claim.registration_id, event.protection_expires_at),),
    )
    await outcomes.persist(context.session, outcome, now=event.extended_at)


async def reevaluated(event: WaitlistReevaluated, context: EventContext) -> None:
    """A waitlist head still waiting, now on the canonical key the rules found."""
    values = {"waitlisted": True, "protection_key": event.protection_key}
    outcome = Outcome(claim_updates=(ClaimUpdate(event.registration_id, values),))
    await outcomes.persist(context.session, outcome, now=event.reevaluated_at)


async def left_waitlist(event: WaitlistLeft, context: EventContext) -> None:
    now = event.left_at
    await _change(
        context, event.registration_id, lambda c: protection.close_waitlist(c, now=now), now
    )


async def expiring(event: ProtectionExpiring, context: EventContext) -> None:
    """The notice sent, and those passed with it, recorded as the notice job did."""
    await notices.record_notices(
        context.session,
        event.registration_id,
        event.protection_expires_at,
        notices=(*event.passed, event.notice),
        sent=event.notice,
        now=event.noticed_at,
    )


async def transferred(event: ProtectionTransferred, context: EventContext) -> None:
    """Sales ops' transfer as told (``protection.transfer``): the old holder ``transferred``,
    the new one approved with the window the policy it names gave (the one in force then, on
    an event from before it was told), the case of one in review closed with ops' note (an
    event from before the note was told closes it without). Its ``RegistrationApproved`` is
    this same step (:meth:`Held.decided` skips it)."""
    session, now = context.session, event.transferred_at
    source = await outcomes.load_claim(session, event.registration_id)
    target = await outcomes.load_claim(session, event.to_registration_id)
    if source is None or target is None:
        return  # a registration not on the topics (retention)
    if event.policy_version is None:
        policy = await policy_store.current_policy(session, now=now, store_default=False)
    else:
        policy = await _policy(session, event.policy_version)
    outcome = protection.transfer(
        source,
        target,
        policy,
        reason=event.transfer_reason,
        note=event.note or "",
        actor=event.decided_by,
        now=now,
    )
    await outcomes.persist(session, _without_moves(outcome), now=now)


async def returned_for_edit(event: RegistrationReturnedForEdit, context: EventContext) -> None:
    """A reviewer's return for edit as told (``protection.return_for_edit``: the claim
    ``action_required``, holding nothing), its round trip and the policy's cap as told. The
    case's closing is told on its own (``ConflictCaseRecorded``)."""
    now = event.returned_at
    policy = policy_store.default_policy()
    reviews = policy.reviews.model_copy(update={"max_edit_round_trips": event.max_round_trips})
    capped = policy.model_copy(update={"reviews": reviews})
    await _change(
        context,
        event.registration_id,
        lambda claim: protection.return_for_edit(
            claim,
            capped,
            comments=event.comments,
            fields=event.editable_fields,
            round_trips_so_far=event.round_trip - 1,
            actor=event.decided_by,
            now=now,
        ),
        now,
    )


async def edited(event: RegistrationEdited, context: EventContext) -> None:
    """The partner's edit (consumed): the claim takes the edited registration, as
    ``handlers.edited`` writes it (``take_edit``); the rules' decision again is applied from
    its own event (:meth:`Held.decided`: the existing claim changes)."""
    await take_edit(context.session, event)


async def case_recorded(event: ConflictCaseRecorded, context: EventContext) -> None:
    """A line of a case's history, and the case as it stands after it; the ``opened`` line of
    a case no other event tells (an extension request sent to review) opens it, with what it
    opened with, through the write that opened it (``open_case``; no line is stored for it:
    the history shows every case's opening from ``opened_at``)."""
    if event.opened_at is not None and event.rule and event.reason_code:
        await cases.open_case(
            context.session,
            case_id=event.conflict_id,
            registration_id=event.registration_id,
            account_key=event.account_key,
            product_line=event.product_line,
            rule=event.rule,
            reason_code=event.reason_code,
            evidence=event.evidence or {},
            competing_registration_ids=event.competing_registration_ids,
            opened_at=event.opened_at,
            due_at=event.due_at,
        )
        return
    if "extension" in (event.detail or {}) and not await direct_matching.case_exists(
        context.session, event.conflict_id
    ):
        raise UnsupportedHistoryError(
            f"{event.event_type} answers the extension case {event.conflict_id}, whose opening "
            "is on no event (sent to review before the resolver told it): the case cannot be "
            "rebuilt. Drop the database and restore the service from a backup "
            "(docs/operations.md, 'Backups and restore')"
        )
    await cases.replay_history_line(
        context.session,
        event.conflict_id,
        standing={name: getattr(event, name) for name in cases.CASE_STANDING},
        at=event.at,
        action=event.action,
        actor=event.actor,
        reason=event.reason,
        detail=event.detail,
    )
    if event.action == "decided":
        await _labelled_pairs(context.session, event)


# What ops' decision on a registration's case tells on its ``decided`` line (``decide_locked``).
_PLAN_TOLD = ("approved", "rejected", "kept")


async def _labelled_pairs(session: Session, decided: ConflictCaseRecorded) -> None:
    """The ``match_decisions`` ops' decision gave, derived again from the decision its line
    tells and the case as rebuilt (its evidence never changes once open), as ``decide_locked``
    derives them (``record_match_decisions``): nothing decided again."""
    detail = decided.detail or {}
    if not all(name in detail for name in _PLAN_TOLD):
        return  # an extension answered, an encroachment resolved: no matching said
    row = await queue_store.get_case(session, decided.conflict_id)
    if row is None:
        return
    plan = DecisionPlan(approve=detail["approved"], reject=detail["rejected"], kept=detail["kept"])
    claim = (await queue_store.claims_by_id(session, [row["registration_id"]])).get(
        row["registration_id"]
    )
    if claim is None:
        return  # never: ops decide only a case whose registration the resolver holds
    customer = (claim["submitted"] or {}).get("customer")
    await record_match_decisions(
        session, row, plan, customer=customer, actor=decided.actor, now=decided.at
    )


async def direct_opened(event: DirectOpportunityOpened, context: EventContext) -> None:
    """Recorded and filed under its blocking keys as the CRM consumer does, never matched
    again: the protections it encroached on are told by ``DirectEncroachmentRaised``."""
    await opportunities.record_opened(context.session, event)
    await direct_matching.file_direct_keys(context.session, event)


async def encroachment_raised(event: DirectEncroachmentRaised, context: EventContext) -> None:
    """The case the guard opened (``handlers.direct``) on the match it told: its evidence
    and due time as recorded, through the write that opened it (``open_case``)."""
    if event.evidence is None or event.due_at is None:
        raise UnsupportedHistoryError(
            f"{event.event_type} for case {event.conflict_id} was told without its evidence "
            "or due time (before they were on the event): its case cannot be rebuilt. Drop "
            "the database and restore the service from a backup (docs/operations.md, "
            "'Backups and restore')"
        )
    await cases.open_case(
        context.session,
        case_id=event.conflict_id,
        registration_id=event.registration_id,
        account_key=event.account_key,
        product_line=event.product_line,
        rule=encroachment.RULE,
        reason_code=encroachment.REASON_CODE,
        evidence=event.evidence,
        competing_registration_ids=[],
        opened_at=event.raised_at,
        due_at=event.due_at,
    )


async def policy_published(event: PolicyPublished, context: EventContext) -> None:
    await policy_store.record_version(
        context.session,
        policies,
        event.version,
        event.document,
        created_by=event.published_by,
        now=event.published_at,
    )


async def house_accounts_published(event: HouseAccountsPublished, context: EventContext) -> None:
    await policy_store.record_version(
        context.session,
        house_account_lists,
        event.version,
        event.document,
        created_by=event.published_by,
        now=event.published_at,
    )


def replay_subscriptions(unit: UnitOfWork) -> list[Subscriptions]:
    """What the resolver consumes that decides nothing, through its own handlers; the
    submissions held; and its own published events, applied."""
    held = Held()
    registrations = (
        Subscriptions(consumer=handlers.SUBMISSIONS_CONSUMER, unit=unit)
        .on(RegistrationSubmitted, held.submitted)
        .on(RegistrationWithdrawn, held.withdrawn)
        .on(RegistrationAppealed, held.appealed)
        .on(RegistrationEdited, edited)
        .on(CoSellAccepted, handlers.co_sell_answered)
        .on(CoSellDeclined, handlers.co_sell_answered)
    )
    crm = (
        Subscriptions(consumer=handlers.CRM_CONSUMER, unit=unit, trusted_senders_only=True)
        .on(CrmDealClosed, deal_closed)
        .on(CrmCompanyUpserted, handlers.upsert_company)
        .on(CrmCompanyRemoved, handlers.remove_company)
        .on(DirectOpportunityOpened, direct_opened)
        .on(DirectOpportunityClosed, handlers.close_direct_opportunity)
    )
    keys = OpsKeyEvents(ops_keys)

    async def key_revoked(event: ApiKeyRevoked, context: EventContext) -> None:
        await keys.revoked(event, context)
        await overlap.revoke_partner_key(context.session, event)

    principals = (
        Subscriptions(
            consumer=queue_handlers.PRINCIPALS_CONSUMER, unit=unit, trusted_senders_only=True
        )
        .on(OpsKeyIssued, keys.issued)
        .on(PartnerKeyIssued, overlap.partner_key_issued)
        .on(ApiKeyRevoked, key_revoked)
        .on(PartnerStatusChanged, overlap.partner_status_changed)
    )
    own = (
        Subscriptions(consumer=DECISIONS_REPLAY, unit=unit)
        .on(PolicyPublished, policy_published)
        .on(HouseAccountsPublished, house_accounts_published)
        .on(RegistrationApproved, held.decided)
        .on(RegistrationRejected, held.decided)
        .on(RegistrationSentToReview, held.decided)
        .on(ConflictCaseRecorded, case_recorded)
        .on(ProtectionExtended, extended)
        .on(ProtectionExpired, expired)
        .on(ProtectionExpiring, expiring)
        .on(WaitlistReevaluated, reevaluated)
        .on(WaitlistLeft, left_waitlist)
        .on(DealAttributed, attributed)
        .on(InfluenceAccepted, held.influence_decided)
        .on(InfluenceRejected, held.influence_decided)
        .on(ProtectionTransferred, transferred)
        .on(RegistrationReturnedForEdit, returned_for_edit)
        .on(DirectEncroachmentRaised, encroachment_raised)
    )
    return [registrations, crm, principals, own]


PLAN = ReplayPlan(
    service="conflict_resolver",
    emitter=EMITTER,
    inbox=inbox,
    state_tables=(
        claims,
        claim_keys,
        protections,
        incumbents,
        deal_attributions,
        influence_claims,
        conflicts,
        conflict_history,
        policies,
        house_account_lists,
        expiry_notices,
        co_sell_partners,
        crm_companies,
        crm_company_keys,
        partner_keys,
        partner_statuses,
        ops_keys,
        match_decisions,
        direct_opportunities,
        direct_opportunity_keys,
    ),
    subscriptions=replay_subscriptions,
    cannot_apply={},
)
