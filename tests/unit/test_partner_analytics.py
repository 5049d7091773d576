"""Partners' outcome figures and the churn warning, computed by hand (domain.analytics)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from deal_registration.domain.analytics import (
    CreditFact,
    PartnerFact,
    Period,
    Rates,
    RegistrationFact,
    churn_signals,
    scorecards,
)

NOW = datetime(2026, 12, 1, tzinfo=UTC)
DAY = timedelta(days=1)
RATES = Rates("USD", {"EUR": Decimal("1.10")})
A = PartnerFact("A", "Alpha", "gold", NOW - 100 * DAY)
B = PartnerFact("B", "Beta", "gold", NOW - 50 * DAY)
C = PartnerFact("C", "Gamma", "silver", NOW - 10 * DAY)


def _reg(
    rid: str, partner: str, days_ago: int, amount: str = "1000", currency: str = "USD", **at: int
) -> RegistrationFact:
    submitted = NOW - days_ago * DAY
    times = {name: submitted + timedelta(seconds=seconds) for name, seconds in at.items()}
    return RegistrationFact(rid, partner, submitted, Decimal(amount), currency, **times)


REGISTRATIONS = [
    # A: 4 registrations: 3 approved (one won, one lost), 1 rejected; decisions in 2, 4, 6, 10 s.
    _reg("a1", "A", 90, "10000", approved_at=2, won_at=86400),
    _reg("a2", "A", 60, "20000", "EUR", approved_at=4, lost_at=3600),
    _reg("a3", "A", 5, "5000", approved_at=6, protection_expires_at=200 * 86400),
    _reg("a4", "A", 3, rejected_at=10),
    # B: 2 registrations, one approved and expired, one pending.
    _reg("b1", "B", 40, "3000", "JPY", approved_at=1, expired_at=90 * 86400),
    _reg("b2", "B", 1),
]
CREDITS = [
    CreditFact("a1", "A", "sourced", Decimal("10000"), "USD", NOW - 89 * DAY),
    CreditFact("x9", "A", "influence", Decimal("1000"), "EUR", NOW - 20 * DAY),
]


def _cards(period: Period | None = None) -> dict:
    chosen = period or Period()
    return scorecards([A, B, C], REGISTRATIONS, CREDITS, period=chosen, rates=RATES, now=NOW)


def test_a_partners_ratios_are_those_computed_by_hand() -> None:
    alpha = _cards()["partners"][0]
    assert alpha["partner_id"] == "A"
    assert (alpha["registrations"], alpha["approved"], alpha["decided"]) == (4, 3, 4)
    assert alpha["approval_rate"] == 0.75  # 3 / 4
    assert alpha["registration_to_won"] == 0.25  # 1 won / 4
    assert alpha["win_rate"] == 0.5  # 1 won / (1 won + 1 lost)
    assert alpha["time_to_decision_p50_seconds"] == 5.0  # median of 2, 4, 6, 10
    assert alpha["onboarding_to_first_registration_seconds"] == 10 * 86400.0
    assert alpha["onboarding_to_first_win_seconds"] == 11 * 86400.0
    assert alpha["sourced_revenue"] == {"value": "10000.00", "currency": "USD", "unconverted": []}
    assert alpha["influenced_revenue"]["value"] == "1100.00"  # 1,000 EUR at 1.10
    assert alpha["protected_pipeline"]["value"] == "5000.00"  # only a3 still holds


def test_money_in_a_currency_without_a_rate_is_left_out_and_named() -> None:
    beta = _cards()["partners"][1]
    assert beta["expiries"] == 1
    assert beta["approval_rate"] == 1.0  # b2 is undecided: not in the denominator
    assert beta["win_rate"] is None
    assert beta["protected_pipeline"] == {"value": "0.00", "currency": "USD", "unconverted": []}
    live_jpy = _reg("b3", "B", 1, "3000", "JPY", approved_at=1)
    cards = scorecards([B], [live_jpy], [], period=Period(), rates=RATES, now=NOW)
    assert cards["partners"][0]["protected_pipeline"]["unconverted"] == ["JPY"]


def test_a_period_counts_the_registrations_submitted_in_it_and_revenue_attributed_in_it() -> None:
    alpha = _cards(Period(since=NOW - 30 * DAY))["partners"][0]
    assert alpha["registrations"] == 2  # a3, a4
    assert alpha["registration_to_won"] == 0.0
    assert alpha["sourced_revenue"]["value"] == "0.00"  # attributed 89 days ago
    assert alpha["influenced_revenue"]["value"] == "1100.00"


def test_tiers_pool_their_partners() -> None:
    gold, silver = _cards()["tiers"]
    assert (gold["tier"], gold["partners"], gold["registrations"]) == ("gold", 2, 6)
    assert gold["approval_rate"] == 0.8  # 4 approved / 5 decided
    assert (silver["tier"], silver["registrations"], silver["approval_rate"]) == ("silver", 0, None)


def test_a_partner_slowing_down_against_its_own_history_is_flagged() -> None:
    steady = [_reg(f"s{n}", "A", n * 5 + 1) for n in range(24)]  # 6 per 30 days for 120 days
    slowing = [_reg(f"w{n}", "B", 31 + n * 3) for n in range(12)]  # 12 in days 31-64, none since
    new = [_reg("n1", "C", 2)]
    beta = PartnerFact("B", "Beta", "gold", NOW - 200 * DAY)
    signals = {
        s["partner_id"]: s for s in churn_signals([A, beta, C], steady + slowing + new, now=NOW)
    }
    assert signals["A"]["flagged"] is False
    assert signals["A"]["recent_registrations"] == 6
    assert signals["B"]["flagged"] is True
    assert signals["B"]["recent_registrations"] == 0
    assert signals["B"]["baseline_per_window"] == 4.0  # 12 over the 3 windows before
    assert signals["C"]["baseline_per_window"] is None  # too new to have a history
    assert signals["C"]["flagged"] is False


def test_the_projection_gives_the_same_row_whatever_order_the_events_arrive_in() -> None:
    import itertools

    from deal_registration.adapters.analytics import FACTS, _merged

    t = [NOW + n * DAY for n in range(6)]
    says = [
        {"partner_id": "A", "amount_value": Decimal(1000), "submitted_at": t[0]},
        {"rejected_at": t[1], "waitlisted": True},
        {"approved_at": t[2], "protection_expires_at": t[4]},
        {"protection_expires_at": t[5]},  # extended
        {"won_at": t[3]},
        {"approved_at": t[2], "protection_expires_at": t[4]},  # redelivered
    ]
    empty = dict.fromkeys(FACTS.columns.keys())
    rows = set()
    for order in itertools.permutations(says):
        row = dict(empty)
        for values in order:
            row.update(_merged(row, values))
        rows.add(tuple(sorted((k, str(v)) for k, v in row.items())))
    assert len(rows) == 1
    (row,) = rows
    folded = dict(row)
    assert folded["approved_at"] == str(t[2])
    assert folded["protection_expires_at"] == str(t[5])
    assert folded["waitlisted"] == "True"
