"""Partners' outcome figures (issue 16, item 3), as pure functions of the projected facts.

The projection (``adapters.analytics``) keeps one :class:`RegistrationFact` per registration and
one :class:`CreditFact` per attribution line, each column set by the event that says it (so the
order events arrive in does not matter, and a rebuild from the topics gives the same facts).
From those, for any period:

- a registration counts in the period it was submitted in, and so do its decision and ending
  (a cohort): ``registrations``, ``approval_rate`` (approved / decided), ``registration_to_won``
  ("deal registration accuracy": won / registrations), ``win_rate`` (won / won or lost),
  ``expiries``, ``time_to_decision`` (submitted to approved or rejected);
- revenue counts when it was attributed: ``sourced_revenue`` (role ``sourced``) and
  ``influenced_revenue`` (any other role);
- ``protected_pipeline`` is now: the amounts of live protections;
- onboarding to first registration and to first win are over the partner's whole history.

Money is stated in the policy's base currency at the rates it holds (``ExchangeRatesPublished``);
an amount in a currency without a rate is left out and its currency listed in ``unconverted``.

The early churn warning (:func:`churn_signals`): a partner whose registrations in the latest
window fall below ``drop`` of its own average over the windows before is flagged.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Rates:
    """The base currency and the units of it one unit of each other currency is worth."""

    base_currency: str = "USD"
    rates: dict[str, Decimal] = field(default_factory=dict)

    def convert(self, value: Decimal, currency: str) -> Decimal | None:
        if currency.upper() == self.base_currency.upper():
            return value
        rate = self.rates.get(currency.upper())
        return None if rate is None else value * rate


@dataclass(frozen=True)
class PartnerFact:
    partner_id: str
    name: str
    tier: str
    onboarded_at: datetime


@dataclass(frozen=True)
class RegistrationFact:
    registration_id: str
    partner_id: str
    submitted_at: datetime
    amount: Decimal
    currency: str
    approved_at: datetime | None = None
    rejected_at: datetime | None = None
    won_at: datetime | None = None
    lost_at: datetime | None = None
    expired_at: datetime | None = None
    withdrawn_at: datetime | None = None
    transferred_at: datetime | None = None
    protection_expires_at: datetime | None = None

    @property
    def decided_at(self) -> datetime | None:
        times = [t for t in (self.approved_at, self.rejected_at) if t is not None]
        return min(times) if times else None

    def holds_protection(self, now: datetime) -> bool:
        ended = (
            self.won_at
            or self.lost_at
            or self.expired_at
            or self.withdrawn_at
            or self.transferred_at
        )
        expires = self.protection_expires_at
        return self.approved_at is not None and ended is None and (expires is None or expires > now)


@dataclass(frozen=True)
class CreditFact:
    registration_id: str
    partner_id: str
    role: str
    amount: Decimal
    currency: str
    attributed_at: datetime


@dataclass(frozen=True)
class Period:
    since: datetime | None = None
    until: datetime | None = None

    def holds(self, moment: datetime) -> bool:
        return (self.since is None or moment >= self.since) and (
            self.until is None or moment < self.until
        )


@dataclass
class _Money:
    rates: Rates
    total: Decimal = Decimal(0)
    unconverted: set[str] = field(default_factory=set)

    def add(self, value: Decimal, currency: str) -> None:
        converted = self.rates.convert(value, currency)
        if converted is None:
            self.unconverted.add(currency)
        else:
            self.total += converted

    def view(self) -> dict[str, Any]:
        return {
            "value": str(self.total.quantize(CENT)),
            "currency": self.rates.base_currency,
            "unconverted": sorted(self.unconverted),
        }


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def outcome_figures(
    registrations: Sequence[RegistrationFact],
    credits: Sequence[CreditFact],
    *,
    period: Period,
    rates: Rates,
    now: datetime,
) -> dict[str, Any]:
    """The figures of one group of registrations and credits (a partner, a tier, everyone)."""
    cohort = [r for r in registrations if period.holds(r.submitted_at)]
    approved = sum(r.approved_at is not None for r in cohort)
    decided = sum(r.decided_at is not None for r in cohort)
    won = sum(r.won_at is not None for r in cohort)
    lost = sum(r.lost_at is not None and r.won_at is None for r in cohort)
    waits = [
        (r.decided_at - r.submitted_at).total_seconds() for r in cohort if r.decided_at is not None
    ]
    sourced, influenced, pipeline = _Money(rates), _Money(rates), _Money(rates)
    for credit in credits:
        if period.holds(credit.attributed_at):
            (sourced if credit.role == "sourced" else influenced).add(
                credit.amount, credit.currency
            )
    for registration in registrations:
        if registration.holds_protection(now):
            pipeline.add(registration.amount, registration.currency)
    return {
        "registrations": len(cohort),
        "approved": approved,
        "decided": decided,
        "approval_rate": _ratio(approved, decided),
        "won": won,
        "lost": lost,
        "registration_to_won": _ratio(won, len(cohort)),
        "win_rate": _ratio(won, won + lost),
        "expiries": sum(r.expired_at is not None for r in cohort),
        "time_to_decision_p50_seconds": round(statistics.median(waits), 3) if waits else None,
        "sourced_revenue": sourced.view(),
        "influenced_revenue": influenced.view(),
        "protected_pipeline": pipeline.view(),
    }


def _seconds(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else round(max((end - start).total_seconds(), 0.0), 3)


def partner_figures(
    partner: PartnerFact,
    registrations: Sequence[RegistrationFact],
    credits: Sequence[CreditFact],
    *,
    period: Period,
    rates: Rates,
    now: datetime,
) -> dict[str, Any]:
    """One partner's figures, with onboarding to first registration and first win."""
    first_registration = min((r.submitted_at for r in registrations), default=None)
    first_win = min((r.won_at for r in registrations if r.won_at is not None), default=None)
    return {
        "partner_id": partner.partner_id,
        "partner_name": partner.name,
        "tier": partner.tier,
        "onboarded_at": partner.onboarded_at,
        "first_registration_at": first_registration,
        "first_win_at": first_win,
        "onboarding_to_first_registration_seconds": _seconds(
            partner.onboarded_at, first_registration
        ),
        "onboarding_to_first_win_seconds": _seconds(partner.onboarded_at, first_win),
        **outcome_figures(registrations, credits, period=period, rates=rates, now=now),
    }


def scorecards(
    partners: Iterable[PartnerFact],
    registrations: Iterable[RegistrationFact],
    credits: Iterable[CreditFact],
    *,
    period: Period,
    rates: Rates,
    now: datetime,
) -> dict[str, Any]:
    """Every partner's figures and each tier's (partners of the tier pooled)."""
    known = list(partners)
    by_partner: dict[str, list[RegistrationFact]] = {p.partner_id: [] for p in known}
    credits_of: dict[str, list[CreditFact]] = {p.partner_id: [] for p in known}
    for registration in registrations:
        by_partner.setdefault(registration.partner_id, []).append(registration)
    for credit in credits:
        credits_of.setdefault(credit.partner_id, []).append(credit)
    rows = [
        partner_figures(
            p,
            by_partner[p.partner_id],
            credits_of[p.partner_id],
            period=period,
            rates=rates,
            now=now,
        )
        for p in known
    ]
    tiers: dict[str, list[PartnerFact]] = {}
    for p in known:
        tiers.setdefault(p.tier, []).append(p)
    tier_rows = []
    for tier, members in sorted(tiers.items()):
        regs = [r for p in members for r in by_partner[p.partner_id]]
        given = [c for p in members for c in credits_of[p.partner_id]]
        figures = outcome_figures(regs, given, period=period, rates=rates, now=now)
        tier_rows.append({"tier": tier, "partners": len(members), **figures})
    return {
        "base_currency": rates.base_currency,
        "since": period.since,
        "until": period.until,
        "generated_at": now,
        "partners": rows,
        "tiers": tier_rows,
    }


def churn_signals(
    partners: Iterable[PartnerFact],
    registrations: Iterable[RegistrationFact],
    *,
    now: datetime,
    window: timedelta = timedelta(days=30),
    history_windows: int = 3,
    drop: float = 0.5,
    minimum_baseline: float = 2.0,
) -> list[dict[str, Any]]:
    """Each partner's registrations in the latest ``window`` against its own average over the
    ``history_windows`` before it; flagged when that average is at least ``minimum_baseline``
    and the latest window is below ``drop`` of it."""
    submitted: dict[str, list[datetime]] = {}
    for registration in registrations:
        submitted.setdefault(registration.partner_id, []).append(registration.submitted_at)
    recent_start = now - window
    history_start = recent_start - window * history_windows
    signals = []
    for partner in partners:
        times = submitted.get(partner.partner_id, [])
        recent = sum(recent_start <= t < now for t in times)
        # A partner onboarded during the history counts only the windows it has had.
        earliest = max(history_start, partner.onboarded_at)
        windows = (recent_start - earliest) / window if earliest < recent_start else 0.0
        before = sum(earliest <= t < recent_start for t in times)
        baseline = before / windows if windows >= 1 else None
        flagged = baseline is not None and baseline >= minimum_baseline and recent < baseline * drop
        signals.append(
            {
                "partner_id": partner.partner_id,
                "partner_name": partner.name,
                "tier": partner.tier,
                "recent_registrations": recent,
                "baseline_per_window": None if baseline is None else round(baseline, 3),
                "flagged": flagged,
            }
        )
    return sorted(signals, key=lambda s: (not s["flagged"], s["partner_name"]))
