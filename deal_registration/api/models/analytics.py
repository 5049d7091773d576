"""The analytics and export bodies (issue 16): partners' outcome figures, the churn warning,
the account view."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class Money(BaseModel):
    value: str = Field(description="A decimal, in `currency`.", examples=["125000.00"])
    currency: str = Field(description="The policy's base currency.", examples=["USD"])
    unconverted: list[str] = Field(
        description="Currencies left out: the policy holds no rate for them.", examples=[[]]
    )


class Outcomes(BaseModel):
    registrations: int = Field(description="Submitted in the period.", examples=[10])
    approved: int = Field(description="Of those, approved.", examples=[6])
    decided: int = Field(description="Of those, approved or rejected.", examples=[8])
    approval_rate: float | None = Field(description="Approved / decided.", examples=[0.75])
    won: int = Field(description="Of those, won in the CRM.", examples=[3])
    lost: int = Field(description="Of those, lost in the CRM.", examples=[1])
    registration_to_won: float | None = Field(
        description="Won / registrations (deal registration accuracy).", examples=[0.3]
    )
    win_rate: float | None = Field(description="Won / (won + lost).", examples=[0.75])
    expiries: int = Field(description="Of those, protection expired.", examples=[1])
    time_to_decision_p50_seconds: float | None = Field(
        description="Median, submitted to approved or rejected.", examples=[0.4]
    )
    sourced_revenue: Money = Field(description="Credited as `sourced`, attributed in the period.")
    influenced_revenue: Money = Field(description="Credited in any other role, in the period.")
    protected_pipeline: Money = Field(description="Live protections' amounts, now.")


class PartnerOutcomes(Outcomes):
    partner_id: str = Field(
        description="The partner.", examples=["0b6c9a52-3f7e-4d21-8a90-1c2d3e4f5a6b"]
    )
    partner_name: str = Field(description="Its name.", examples=["Northwind Networks"])
    tier: str = Field(description="Its tier now.", examples=["gold"])
    onboarded_at: datetime = Field(
        description="When the admin created it.", examples=["2026-01-15T09:00:00Z"]
    )
    first_registration_at: datetime | None = Field(
        description="Its first registration, ever.", examples=["2026-02-01T10:00:00Z"]
    )
    first_win_at: datetime | None = Field(
        description="Its first win, ever.", examples=["2026-05-20T16:30:00Z"]
    )
    onboarding_to_first_registration_seconds: float | None = Field(
        description="Seconds.", examples=[1472400.0]
    )
    onboarding_to_first_win_seconds: float | None = Field(
        description="Seconds.", examples=[10906200.0]
    )


class TierOutcomes(Outcomes):
    tier: str = Field(description="The tier.", examples=["gold"])
    partners: int = Field(description="Partners in the tier now.", examples=[4])


class Scorecards(BaseModel):
    """Outcome figures per partner and per tier over a period."""

    base_currency: str = Field(description="Money is stated in this currency.", examples=["USD"])
    since: datetime | None = Field(
        description="From (null: ever).", examples=["2026-10-01T00:00:00Z"]
    )
    until: datetime | None = Field(
        description="Until, excluded (null: now).", examples=["2027-01-01T00:00:00Z"]
    )
    generated_at: datetime = Field(description="As of.", examples=["2026-12-01T12:00:00Z"])
    partners: list[PartnerOutcomes] = Field(
        description="Ops: every partner; a partner: itself.", examples=[4]
    )
    tiers: list[TierOutcomes] = Field(description="Ops only: the partners of a tier pooled.")


class ChurnSignal(BaseModel):
    partner_id: str = Field(
        description="The partner.", examples=["0b6c9a52-3f7e-4d21-8a90-1c2d3e4f5a6b"]
    )
    partner_name: str = Field(description="Its name.", examples=["Northwind Networks"])
    tier: str = Field(description="Its tier.", examples=["gold"])
    recent_registrations: int = Field(description="In the latest window.", examples=[1])
    baseline_per_window: float | None = Field(
        description="Its average per window before (null: too new to say).", examples=[6.0]
    )
    flagged: bool = Field(
        description="Registrations slowed down against its own history.", examples=[True]
    )


class ChurnSignals(BaseModel):
    """The early churn warning: flagged partners first."""

    items: list[ChurnSignal] = Field(description="Every partner.")


class AccountActivity(BaseModel):
    partner_id: str = Field(
        description="The partner.", examples=["0b6c9a52-3f7e-4d21-8a90-1c2d3e4f5a6b"]
    )
    partner_name: str = Field(description="Its name.", examples=["Northwind Networks"])
    role: str = Field(
        description="`sourced` (holds protection), a co-sell role of a sourced holder's deal "
        "(`distributor`, `reseller`, `msp`, `referral`), `influence` (an accepted influence "
        "claim) or `waitlist`.",
        examples=["sourced"],
    )
    registration_id: str = Field(
        description="Its registration (a co-sell partner: the sourced registration it co-sells).",
        examples=["7d9f3c2e-5b1a-4e8f-9c6d-2a1b3c4d5e6f"],
    )
    product_line: str | None = Field(description="The product line.", examples=["network-security"])
    since: datetime | None = Field(
        description="Approved, joined the waitlist, accepted the co-sell invitation or had its "
        "influence accepted, at.",
        examples=["2026-10-01T00:00:00Z"],
    )
    protection_expires_at: datetime | None = Field(
        description="For `sourced`.", examples=["2027-03-01T12:00:00Z"]
    )


class AccountView(BaseModel):
    """Every partner active on one customer account."""

    account_key: str = Field(description="The account's matching key.", examples=["d:acme.com"])
    partners: list[AccountActivity] = Field(
        description="Sourced holders and the waitlist (oldest registration first), then co-sell "
        "partners, then influence.",
        examples=[4],
    )
