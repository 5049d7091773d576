"""The partner's capacity: its live protections against its tier's caps."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from deal_registration.api.dependencies import READ, Ctx, PartnerCaller, problems
from deal_registration.handlers import capacity

router = APIRouter(prefix="/v1")


class LineCapacity(BaseModel):
    product_line: str = Field(
        description="A product line it holds protection in.", examples=["endpoint"]
    )
    held: int = Field(description="Live protections in this line.", examples=[2])
    limit: int | None = Field(description="The line's cap; null: none.", examples=[2])


class CapacityView(BaseModel):
    """How many live protections the partner holds and how many its tier allows."""

    tier: str = Field(description="The partner's tier.", examples=["gold"])
    held: int = Field(description="Live protections, all lines.", examples=[3])
    limit: int | None = Field(description="The tier's overall cap; null: none.", examples=[3])
    remaining: int | None = Field(
        description="How many more the overall cap allows; null: no cap.", examples=[0]
    )
    per_product_line_limit: int | None = Field(
        description="The tier's cap in any one line; null: none.", examples=[None]
    )
    product_lines: list[LineCapacity] = Field(
        description="Each line it holds protection in.",
        examples=[[{"product_line": "endpoint", "held": 3, "limit": None}]],
    )
    over_capacity: Literal["reject", "review"] = Field(
        description="What a registration over the cap gets (`CAPACITY_LIMIT`).",
        examples=["reject"],
    )
    policy_version: int | None = Field(
        description="The policy version that set these caps; null: none published.",
        examples=[4],
    )


@router.get(
    "/capacity",
    response_model=CapacityView,
    tags=["capacity"],
    summary="The partner's capacity: live protections against its tier's caps",
    responses=problems(*READ),
)
async def get_capacity(ctx: Ctx, caller: PartnerCaller) -> CapacityView:
    return CapacityView.model_validate(await capacity.partner_capacity(ctx, caller))
