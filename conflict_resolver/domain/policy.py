"""The rules-of-engagement policy: data, not code, with the defaults of DOMAIN.md.

A policy document is validated by :class:`Policy`; the checked-in default lives in
``conflict_resolver/default_policy.yaml``. Every stored version gets a number; each decision
records the version it used. Durations are ISO-8601 (``P90D``; ``PT5S`` in tests).
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from conflict_resolver.domain.calibration import Step, probability

SlaAutoDecision = Literal["none", "approve_first", "reject"]
HouseAccountAction = Literal["reject", "review"]
CapacityAction = Literal["reject", "review"]
PartnerTier = Literal["registered", "silver", "gold", "platinum"]

_TEN_YEARS = timedelta(days=3653)


def _within(lowest: timedelta, highest: timedelta, *, inclusive_low: bool) -> AfterValidator:
    """A duration bounded on both sides: a window of ``P3000000D`` overflows date arithmetic,
    and a zero or negative one would shorten live protections."""

    def check(value: timedelta) -> timedelta:
        too_low = value < lowest if inclusive_low else value <= lowest
        if too_low or value > highest:
            sign = "zero or positive" if inclusive_low else "positive"
            raise ValueError(f"must be a {sign} duration of at most {highest.days} days")
        return value

    return AfterValidator(check)


def _iso_text(value: object) -> object:
    """A duration in a document is ISO 8601 text: a bare number (or ``false``) is refused
    rather than read as seconds."""
    if not isinstance(value, str | timedelta):
        raise ValueError("must be an ISO 8601 duration such as P90D")
    return value


_ISO_TEXT = BeforeValidator(_iso_text)
# Seconds are allowed (tests run windows of PT5S); anything past ten years is a typo.
Window = Annotated[timedelta, _ISO_TEXT, _within(timedelta(0), _TEN_YEARS, inclusive_low=False)]
Period = Annotated[timedelta, _ISO_TEXT, _within(timedelta(0), _TEN_YEARS, inclusive_low=True)]
Money = Annotated[Decimal, Field(ge=0, le=Decimal(10) ** 12, allow_inf_nan=False)]
Rate = Annotated[Decimal, Field(gt=0, le=Decimal(10) ** 6, allow_inf_nan=False)]


class _Part(BaseModel):
    # Numbers are strict (``strict=True``): ``false`` or ``"1"`` is not a count or a threshold.
    model_config = ConfigDict(frozen=True, extra="forbid")


class ProductLinePolicy(_Part):
    """Overrides for one product line; anything left out takes the policy's defaults."""

    protection_window: Window | None = None
    minimum_amount: Money | None = None


class ExtensionPolicy(_Part):
    """Rule: a partner may extend once (default 30 days), before expiry, if the deal is open."""

    max_extensions: int = Field(default=1, ge=0, le=100, strict=True)
    duration: Window = timedelta(days=30)
    review: bool = Field(
        default=False,
        strict=True,
        description="Send each request the rules would grant to the conflict queue instead.",
    )


class ReviewPolicy(_Part):
    """A reviewer's answers a partner may act on: one appeal of a rejection reopens the case
    with ``appeal_sla`` to decide it; a registration may be returned for edit at most
    ``max_edit_round_trips`` times (past that, the reviewer must approve or reject)."""

    appeal_sla: Window = timedelta(hours=48)
    max_edit_round_trips: int = Field(default=2, ge=0, le=20, strict=True)


class CalibrationStep(_Part):
    """From ``similarity`` up to the next step, the share of ops' decisions that said "same
    account" (``probability``), pooled over ``support`` decisions."""

    similarity: float = Field(
        ge=0, le=1, strict=True, description="Where the step starts.", examples=[0.86]
    )
    probability: float = Field(
        ge=0, le=1, strict=True, description="Share of 'same account'.", examples=[0.4]
    )
    support: int = Field(ge=1, strict=True, description="Decisions pooled.", examples=[25])


Cap = Annotated[int, Field(ge=1, le=1_000_000, strict=True)]
LineSlug = Annotated[str, Field(min_length=1, max_length=100)]


class TierCapacity(_Part):
    """The most live protections one partner of a tier may hold: overall, per product line
    (any line), and per named line (over the per-line default). Left out: no cap."""

    overall: Cap | None = Field(
        default=None, description="Live protections in all lines; none: no cap.", examples=[3]
    )
    per_product_line: Cap | None = Field(
        default=None, description="Live protections in any one line; none: no cap.", examples=[2]
    )
    product_lines: dict[LineSlug, Cap] = Field(
        default_factory=dict,
        max_length=1000,
        description="A named line's own cap, over `per_product_line`.",
        examples=[{"endpoint": 1}],
    )

    def line_limit(self, product_line: str) -> int | None:
        return self.product_lines.get(product_line, self.per_product_line)


class CapacityPolicy(_Part):
    """Rule: a partner over its tier's cap gets ``CAPACITY_LIMIT``, rejected or sent to review
    (``action``). A tier left out is not capped."""

    tiers: dict[PartnerTier, TierCapacity] = Field(
        default_factory=dict,
        description="The caps of each tier; a tier left out is not capped.",
        examples=[{"gold": {"overall": 3}}],
    )
    action: CapacityAction = Field(
        default="reject",
        description="Over the cap: `reject` or send to `review` (`CAPACITY_LIMIT`).",
        examples=["reject"],
    )

    def for_tier(self, tier: str) -> TierCapacity:
        caps = {str(name): cap for name, cap in self.tiers.items()}
        return caps.get(tier, TierCapacity())

    def caps(self, tier: str) -> bool:
        """Whether the tier is capped at all (its partners' protections are counted)."""
        cap = self.for_tier(tier)
        return bool(cap.overall or cap.per_product_line or cap.product_lines)


class MatchingPolicy(_Part):
    """Rule 7: at or above ``same_account`` (or the same registrable domain) it is the same
    account; from ``review`` up to it, a possible duplicate that goes to review.

    ``target_precision`` is what ``dealreg matching calibrate`` holds when it proposes a band
    from ops' decisions; ``calibration`` is the fit it published (similarity to the probability
    of "same account", shown to reviewers), empty until then."""

    same_account: float = Field(default=0.92, gt=0, le=1, strict=True)
    review: float = Field(default=0.80, gt=0, le=1, strict=True)
    target_precision: float = Field(default=0.99, gt=0.5, lt=1, strict=True)
    calibration: tuple[CalibrationStep, ...] = Field(default=(), max_length=1000)

    @model_validator(mode="after")
    def _review_below_same(self) -> MatchingPolicy:
        if self.review > self.same_account:
            raise ValueError("matching.review must not exceed matching.same_account")
        return self

    @model_validator(mode="after")
    def _calibration_rises(self) -> MatchingPolicy:
        for lower, upper in itertools.pairwise(self.calibration):
            if upper.similarity <= lower.similarity or upper.probability < lower.probability:
                raise ValueError(
                    "matching.calibration must rise: similarities increasing, probabilities "
                    "not decreasing"
                )
        return self

    def calibrated_probability(self, similarity: float) -> float | None:
        """The probability that a pair at ``similarity`` is one account, from the published
        calibration (None when there is none)."""
        steps = [Step(s.similarity, s.probability, s.support) for s in self.calibration]
        return probability(steps, similarity)


FamilyMode = Literal["separate", "one_account"]


class CompanyFamiliesPolicy(_Part):
    """Whether a parent company and its subsidiaries (as the CRM links them) count as one
    account: ``separate`` (each company its own account, the default) or ``one_account`` (the
    family competes under its top parent's key), overall or per named product line."""

    mode: FamilyMode = Field(
        default="separate",
        description="`separate` or `one_account`, for product lines not named below.",
        examples=["separate"],
    )
    product_lines: dict[LineSlug, FamilyMode] = Field(
        default_factory=dict,
        max_length=1000,
        description="A named line's own mode, over `mode`.",
        examples=[{"network-security": "one_account"}],
    )

    def mode_for(self, product_line: str) -> FamilyMode:
        return self.product_lines.get(product_line, self.mode)


AttributionModel = Literal["sourced_only", "first_touch", "even_split", "role_weights"]
Weight = Annotated[Decimal, Field(ge=0, le=1000, allow_inf_nan=False)]


class AttributionPolicy(_Part):
    """Who is credited when the CRM reports a deal closed-won (lost and expired credit no one):
    ``sourced_only`` (the sourced holder, all of it), ``first_touch`` (the partner involved
    first), ``even_split`` (every partner involved, equally) or ``role_weights`` (each
    partner by its role's weight, over the sum of the weights involved)."""

    model: AttributionModel = Field(
        default="sourced_only",
        description="How a closed-won amount is credited.",
        examples=["sourced_only"],
    )
    role_weights: dict[Annotated[str, Field(min_length=1, max_length=40)], Weight] = Field(
        default_factory=lambda: {
            "sourced": Decimal(60),
            "reseller": Decimal(20),
            "distributor": Decimal(10),
            "msp": Decimal(10),
            "referral": Decimal(10),
            "influence": Decimal(10),
        },
        max_length=50,
        description="For `role_weights`: a role's weight; a role left out weighs nothing.",
        examples=[{"sourced": "60", "influence": "20"}],
    )


class Policy(_Part):
    """One version of the policy."""

    version: int = Field(default=1, ge=1, strict=True)
    base_currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    minimum_amount: Money = Decimal(5000)
    exchange_rates: dict[Annotated[str, Field(pattern=r"^[A-Z]{3}$")], Rate] = Field(
        default_factory=dict,
        max_length=300,
        description="Units of the base currency for one unit of each other currency.",
    )
    protection_window: Window = timedelta(days=90)
    tier_protection_windows: dict[PartnerTier, Window] = Field(default_factory=dict)
    product_lines: dict[Annotated[str, Field(min_length=1, max_length=100)], ProductLinePolicy] = (
        Field(default_factory=dict, max_length=1000)
    )
    extension: ExtensionPolicy = Field(default_factory=ExtensionPolicy)
    matching: MatchingPolicy = Field(default_factory=MatchingPolicy)
    house_account_action: HouseAccountAction = "reject"
    incumbency_period: Period = timedelta(days=365)
    review_sla: Window = timedelta(hours=48)
    sla_auto_decision: SlaAutoDecision = "none"
    reviews: ReviewPolicy = Field(default_factory=ReviewPolicy)
    capacity: CapacityPolicy = Field(default_factory=CapacityPolicy)
    company_families: CompanyFamiliesPolicy = Field(default_factory=CompanyFamiliesPolicy)
    expiry_notices: list[Window] = Field(
        default_factory=lambda: [timedelta(days=14), timedelta(days=3), timedelta(days=1)],
        max_length=10,
        description="How long before a protection expires its holder is told, once each.",
        examples=[["P14D", "P3D", "P1D"]],
    )
    attribution: AttributionPolicy = Field(default_factory=AttributionPolicy)

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
        windows = {str(tier): window for tier, window in self.tier_protection_windows.items()}
        return windows.get(tier, self.protection_window)

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
