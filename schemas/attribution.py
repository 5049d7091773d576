"""Attribution at closed-won (issue 16, item 2) and the exchange rates partners' figures use.

When the CRM reports a deal closed-won, conflict_resolver credits its amount to the partners
involved by the policy's attribution model and records it as ``DealAttributed``, one line per
partner and role; lost and expired deals attribute nothing. The rates and base currency of a
published policy travel as ``ExchangeRatesPublished`` so that deal_registration can state
pipeline and revenue in one currency.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.envelope import EventPayload, register
from schemas.registration import AmountData

AttributionModel = Literal["sourced_only", "first_touch", "even_split", "role_weights"]


class AttributionLine(BaseModel):
    """One partner's credit for one role on the deal."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    partner_id: str
    role: str = Field(
        description="`sourced` (the holder), `influence` (an accepted influence claim on the "
        "account and product line) or a co-sell role (`distributor`, `reseller`, `msp`, "
        "`referral`)."
    )
    registration_id: str | None = Field(
        default=None,
        description="The partner's own registration on the deal (a co-sell partner: the "
        "sourced registration it was invited on).",
    )
    joined_at: AwareDatetime | None = Field(
        default=None,
        description="When the partner joined the deal (registered, accepted the invitation or "
        "had its influence accepted): what first-touch orders by.",
    )
    share: Decimal = Field(description="The part of the amount credited, 0 to 1.")
    amount: AmountData = Field(description="The credit, in the deal's currency.")
    base_amount: AmountData | None = Field(
        default=None, description="The credit in the policy's base currency (null: no rate)."
    )


@register
class DealAttributed(EventPayload):
    """A deal closed-won in the CRM: its amount credited to the partners involved."""

    event_type = "dealreg.registration.deal_attributed"

    registration_id: str = Field(description="The sourced registration the CRM deal mirrors.")
    account_key: str
    product_line: str
    amount: AmountData = Field(description="The amount won (the CRM's, else the registered).")
    model: AttributionModel = Field(description="The policy's attribution model that credited it.")
    policy_version: int
    lines: tuple[AttributionLine, ...] = Field(description="One per partner and role.")
    closed_at: AwareDatetime = Field(description="When the CRM closed the deal.")
    attributed_at: AwareDatetime


@register
class ExchangeRatesPublished(EventPayload):
    """Sales ops published a policy version: its base currency and exchange rates (units of
    the base currency for one unit of each other currency)."""

    event_type = "dealreg.policy.exchange_rates_published"

    policy_version: int
    published_at: AwareDatetime
    base_currency: str
    exchange_rates: dict[str, Decimal] = Field(default_factory=dict)
