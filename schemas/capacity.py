"""The capacity caps of the policy, as deal_registration needs them to show each partner its
capacity (issue 15, item 4). The resolver owns the policy; deal_registration owns what
partners see, so each published policy tells it the caps."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.envelope import EventPayload, register


class TierCaps(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    overall: int | None = Field(default=None, description="Live protections in all lines.")
    per_product_line: int | None = Field(default=None, description="In any one line.")
    product_lines: dict[str, int] = Field(
        default_factory=dict, description="A named line's own cap, over per_product_line."
    )


@register
class CapacityCapsPublished(EventPayload):
    """Sales ops published a policy version: these are its capacity caps by tier (a tier
    left out is not capped)."""

    event_type = "dealreg.policy.capacity_published"

    policy_version: int
    published_at: AwareDatetime
    tiers: dict[str, TierCaps] = Field(default_factory=dict)
    action: Literal["reject", "review"] = Field(description="What over the cap gets.")
