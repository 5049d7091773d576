"""The rules-of-engagement policy: data, not code, with the defaults of DOMAIN.md.

A policy document is validated by :class:`Policy`; the checked-in default lives in
``conflict_resolver/default_policy.yaml``. Every stored version gets a number; each decision
records the version it used. Durations are ISO-8601 (``P90D``; ``PT5S`` in tests).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SlaAutoDecision = Literal["none", "approve_first", "reject"]
HouseAccountAction = Literal["reject", "review"]


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ProductLinePolicy(_Part):
    """Overrides for one product line; anything left out takes the policy's defaults."""

    protection_window: timedelta | None = None
    minimum_amount: Decimal | None = Field(default=None, ge=0)


class ExtensionPolicy(_Part):
    """Rule: a partner may extend once (default 30 days), before expiry, if the deal is open."""

    max_extensions: int = Field(default=1, ge=0)
    duration: timedelta = timedelta(days=30)


class MatchingPolicy(_Part):
    """Rule 7: at or above ``same_account`` (or the same registrable domain) it is the same
    account; from ``review`` up to it, a possible duplicate that goes to review."""

    same_account: float = Field(default=0.92, gt=0, le=1)
    review: float = Field(default=0.80, gt=0, le=1)

    @model_validator(mode="after")
    def _review_below_same(self) -> MatchingPolicy:
        if self.review > self.same_account:
            raise ValueError("matching.review must not exceed matching.same_account")
        return self


class Policy(_Part):
    """One version of the policy."""

    version: int = Field(default=1, ge=1)
    base_currency: str = Field(default="USD", min_length=3, max_length=3)
    minimum_amount: Decimal = Field(default=Decimal(5000), ge=0)
    exchange_rates: dict[str, Decimal] = Field(
        default_factory=dict,
        description="Units of the base currency for one unit of each other currency.",
    )
    protection_window: timedelta = timedelta(days=90)
    tier_protection_windows: dict[str, timedelta] = Field(default_factory=dict)
    product_lines: dict[str, ProductLinePolicy] = Field(default_factory=dict)
    extension: ExtensionPolicy = Field(default_factory=ExtensionPolicy)
    matching: MatchingPolicy = Field(default_factory=MatchingPolicy)
    house_account_action: HouseAccountAction = "reject"
    incumbency_period: timedelta = timedelta(days=365)
    review_sla: timedelta = timedelta(hours=48)
    sla_auto_decision: SlaAutoDecision = "none"

    @model_validator(mode="after")
    def _positive_rates(self) -> Policy:
        if any(rate <= 0 for rate in self.exchange_rates.values()):
            raise ValueError("exchange rates must be positive")
        return self

    def window_for(self, tier: str, product_line: str | None = None) -> timedelta:
        """The protection window: the product line's own, else the tier's, else the default."""
        line = self.product_lines.get(product_line or "")
        if line is not None and line.protection_window is not None:
            return line.protection_window
        return self.tier_protection_windows.get(tier, self.protection_window)

    def minimum_for(self, product_line: str) -> Decimal:
        line = self.product_lines.get(product_line)
        if line is not None and line.minimum_amount is not None:
            return line.minimum_amount
        return self.minimum_amount

    def to_base_currency(self, value: Decimal, currency: str) -> Decimal | None:
        """The amount in the base currency, or None when the policy has no rate for it."""
        code = currency.upper()
        if code == self.base_currency.upper():
            return value
        rate = self.exchange_rates.get(code)
        return None if rate is None else value * rate

    def document(self) -> dict[str, object]:
        """The policy as stored and served (JSON-ready, without its version number)."""
        return self.model_dump(mode="json", exclude={"version"})


DEFAULT_POLICY = Policy()
