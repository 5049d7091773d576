"""A win credited: when the CRM reports closed-won and the claim becomes ``won``, its amount
is attributed to the partners involved (``domain.attribution``) and recorded as one
``DealAttributed`` event. Lost and expired deals credit no one; a win reported twice (the
claim is already ``won``) is credited once."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from conflict_resolver.domain.attribution import CENT, SOURCED, Credit, Involvement, attribute
from conflict_resolver.domain.policy import Policy
from conflict_resolver.domain.protection.decisions import emission_of
from conflict_resolver.domain.protection.outcome import Cause, Claim, Outcome
from schemas.attribution import AttributionLine, DealAttributed
from schemas.registration import AmountData, RegistrationSubmitted


def involvements_of(claim: Claim, others: Sequence[Involvement] = ()) -> tuple[Involvement, ...]:
    """The partners involved in the claim's deal: its sourced holder (after any transfer, the
    CRM deal names the registration that holds it) and ``others``, gathered by the caller:
    the accepted co-sell partners of the holder's registration and the accepted influence
    claims on the account and product line (``adapters.involvements``)."""
    return (*_involvements(claim.submitted), *others)


def attribute_win(
    claim: Claim,
    policy: Policy,
    *,
    amount: AmountData | None,
    closed_at: datetime,
    now: datetime,
    cause: Cause,
    others: Sequence[Involvement] = (),
) -> Outcome:
    """``DealAttributed`` for the claim's won deal: ``amount`` (the CRM's, else the
    registered one) credited by the policy's model among the holder and ``others``."""
    won = amount or claim.submitted.amount
    involved = involvements_of(claim, others)
    credits = attribute(won.value, involved, policy.attribution)
    joined = {who.partner_id: who.joined_at for who in involved}
    attributed = DealAttributed(
        registration_id=claim.registration_id,
        account_key=claim.account_key,
        product_line=claim.product_line,
        amount=won,
        model=policy.attribution.model,
        policy_version=policy.version,
        lines=tuple(
            line_of(credit, won.currency, policy, joined_at=joined.get(credit.partner_id))
            for credit in credits
        ),
        closed_at=closed_at,
        attributed_at=now,
    )
    return Outcome(
        events=(emission_of(attributed, claim.submitted, cause),), attributions=(attributed,)
    )


def line_of(
    credit: Credit, currency: str, policy: Policy, *, joined_at: datetime | None = None
) -> AttributionLine:
    base = policy.to_base_currency(credit.amount, currency)
    return AttributionLine(
        partner_id=credit.partner_id,
        role=credit.role,
        registration_id=credit.registration_id,
        joined_at=joined_at,
        share=credit.share,
        amount=AmountData(value=credit.amount, currency=currency),
        base_amount=None
        if base is None
        else AmountData(value=base.quantize(credit.amount), currency=policy.base_currency),
    )


def attribution_what_if(
    past: Sequence[tuple[DealAttributed, RegistrationSubmitted]], draft: Policy
) -> dict[str, Any]:
    """Past closed-won deals credited again under the draft's model: which deals' credits
    would change, and each partner's total before and after (in the draft's base currency)."""
    before_totals: dict[str, Decimal] = defaultdict(Decimal)
    after_totals: dict[str, Decimal] = defaultdict(Decimal)
    unconverted: set[str] = set()
    changes = []
    for attributed, submitted in past:
        involved = (*_involvements(submitted), *_others_credited(attributed))
        credits = attribute(attributed.amount.value, involved, draft.attribution)
        before = [(line.partner_id, line.role, line.amount.value) for line in attributed.lines]
        after = [(credit.partner_id, credit.role, credit.amount) for credit in credits]
        for totals, lines in ((before_totals, before), (after_totals, after)):
            for partner_id, _role, value in lines:
                converted = draft.to_base_currency(value, attributed.amount.currency)
                if converted is None:
                    unconverted.add(attributed.amount.currency)
                else:
                    totals[partner_id] += converted
        if sorted(before) != sorted(after):
            changes.append(
                {
                    "registration_id": attributed.registration_id,
                    "amount": attributed.amount.model_dump(mode="json"),
                    "model_before": attributed.model,
                    "before": [_line(*line) for line in before],
                    "after": [_line(*line) for line in after],
                }
            )
    partners = sorted(set(before_totals) | set(after_totals))
    return {
        "model": draft.attribution.model,
        "deals": len(past),
        "changed": len(changes),
        "base_currency": draft.base_currency,
        "unconverted": sorted(unconverted),
        "partners": [
            {
                "partner_id": partner_id,
                "before": str(before_totals[partner_id].quantize(CENT)),
                "after": str(after_totals[partner_id].quantize(CENT)),
            }
            for partner_id in partners
        ],
        "changes": changes,
    }


def _involvements(submitted: RegistrationSubmitted) -> tuple[Involvement, ...]:
    return (
        Involvement(
            partner_id=submitted.partner.id,
            role=SOURCED,
            joined_at=submitted.submitted_at,
            registration_id=submitted.registration_id,
        ),
    )


def _others_credited(attributed: DealAttributed) -> tuple[Involvement, ...]:
    """The partners besides the holder that the deal credited (those whose line says when
    they joined); a partner the recorded model gave nothing has no line, so a what-if cannot
    bring it back."""
    return tuple(
        Involvement(
            partner_id=line.partner_id,
            role=line.role,
            joined_at=line.joined_at,
            registration_id=line.registration_id,
        )
        for line in attributed.lines
        if line.role != SOURCED and line.joined_at is not None
    )


def _line(partner_id: str, role: str, value: Decimal) -> dict[str, str]:
    return {"partner_id": partner_id, "role": role, "amount": str(value)}
