"""Attribution at closed-won: who is credited with a won deal's amount, by the policy's model.

A pure function of the partners involved in the deal (:class:`Involvement`: partner, role and
when it joined), the amount and the policy's :class:`AttributionPolicy`. Today the involvement
is the sourced holder (after any transfer); influence and co-sell roles (``influence``,
``distributor``, ``reseller``, ``msp``, ``referral``) plug in as more involvements.

The models (docs/rules-of-engagement.md, "Attribution"):

- ``sourced_only``: the sourced partner gets all of it; no sourced partner, no credit.
- ``first_touch``: the partner involved first gets all of it (on a tie, the sourced one).
- ``even_split``: every partner involved gets an equal part.
- ``role_weights``: each partner gets its role's weight over the sum of the weights of the
  partners involved; when those weights sum to nothing, it is an even split.

A partner counts once: with several roles it keeps the one it joined with first. Amounts are
in minor units (cents): each credit is rounded down and the cents left over go, one each, to
the largest remainders (then the earliest), so the credits always add up to the amount.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, Decimal

from conflict_resolver.domain.policy import AttributionPolicy

SOURCED = "sourced"
CENT = Decimal("0.01")
SHARE_PLACES = Decimal("0.000001")


@dataclass(frozen=True)
class Involvement:
    """A partner involved in a deal: its role and when it joined (registered or accepted)."""

    partner_id: str
    role: str
    joined_at: datetime
    registration_id: str | None = None


@dataclass(frozen=True)
class Credit:
    """One partner's part of a won amount."""

    partner_id: str
    role: str
    registration_id: str | None
    share: Decimal
    amount: Decimal


def attribute(
    amount: Decimal, involvements: Iterable[Involvement], policy: AttributionPolicy
) -> tuple[Credit, ...]:
    """The credits of ``amount`` among the ``involvements`` under ``policy``'s model."""
    involved = _one_per_partner(involvements)
    weights = _weights(involved, policy)
    total = sum(weights, Decimal(0))
    if total <= 0:
        return ()
    shares = [weight / total for weight in weights]
    amounts = _split(amount, shares)
    return tuple(
        Credit(
            partner_id=who.partner_id,
            role=who.role,
            registration_id=who.registration_id,
            share=share.quantize(SHARE_PLACES),
            amount=part,
        )
        for who, share, part in zip(involved, shares, amounts, strict=True)
        if share > 0
    )


def _order(involvement: Involvement) -> tuple[datetime, bool, str]:
    return (involvement.joined_at, involvement.role != SOURCED, involvement.partner_id)


def _one_per_partner(involvements: Iterable[Involvement]) -> list[Involvement]:
    kept: dict[str, Involvement] = {}
    for involvement in sorted(involvements, key=_order):
        kept.setdefault(involvement.partner_id, involvement)
    return list(kept.values())


def _weights(involved: Sequence[Involvement], policy: AttributionPolicy) -> list[Decimal]:
    one, none = Decimal(1), Decimal(0)
    match policy.model:
        case "sourced_only":
            first_sourced = next((i for i in involved if i.role == SOURCED), None)
            return [one if i is first_sourced else none for i in involved]
        case "first_touch":
            return [one if n == 0 else none for n, _ in enumerate(involved)]
        case "even_split":
            return [one for _ in involved]
        case "role_weights":
            weights = [policy.role_weights.get(i.role, none) for i in involved]
            return weights if sum(weights, none) > 0 else [one for _ in involved]


def _split(amount: Decimal, shares: Sequence[Decimal]) -> list[Decimal]:
    """``amount`` split by ``shares`` in whole cents that add up to it (largest remainder)."""
    exact = [amount * share for share in shares]
    parts = [value.quantize(CENT, rounding=ROUND_DOWN) for value in exact]
    left_over = int((amount.quantize(CENT) - sum(parts, Decimal(0))) / CENT)
    by_remainder = sorted(range(len(parts)), key=lambda n: (-(exact[n] - parts[n]), n))
    for n in by_remainder[: max(left_over, 0)]:
        parts[n] += CENT
    return parts
