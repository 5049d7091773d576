"""Routes for the policy, its what-if, and the house accounts: validate, call, shape."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from conflict_resolver import handlers
from conflict_resolver.adapters.policy_store import HouseAccount, HouseAccountList
from conflict_resolver.api.auth import Caller
from conflict_resolver.domain.policy import Policy
from conflict_resolver.domain.policy_dry_run import dry_run
from services.http.problems import ProblemError

PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"description": description, "content": {"application/problem+json": {}}}
    for status, description in {
        401: "Missing or invalid bearer token",
        404: "Unknown registration",
        422: "Invalid fields, named in `errors`",
    }.items()
}
router = APIRouter(prefix="/v1", responses=PROBLEMS, tags=["policy"])


def context(request: Request) -> handlers.Context:
    ctx: handlers.Context = request.app.state.context
    return ctx


Ctx = Annotated[handlers.Context, Depends(context)]


class PolicyView(BaseModel):
    version: int
    created_at: datetime
    created_by: str
    policy: dict[str, Any]


class HouseAccountsView(BaseModel):
    version: int
    created_at: datetime | None
    created_by: str | None
    accounts: list[HouseAccount]


class WhatIfRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    policy: Policy
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None


class WhatIfChange(BaseModel):
    registration_id: str
    submission_seq: int
    before: dict[str, Any]
    after: dict[str, Any]
    why: str


class WhatIfView(BaseModel):
    current_policy_version: int
    replayed: int
    changed: int
    transitions: dict[str, int]
    changes: list[WhatIfChange] = Field(description="Each decision that would change.")


@router.get("/policy", response_model=PolicyView)
async def get_policy(ctx: Ctx, _caller: Caller) -> PolicyView:
    return PolicyView.model_validate(await handlers.policy_record(ctx))


@router.put("/policy", response_model=PolicyView)
async def put_policy(body: Policy, ctx: Ctx, caller: Caller) -> PolicyView:
    # Tried on a sample of situations before it is stored: one it cannot decide refuses it.
    problems = dry_run(body, now=ctx.clock.now())
    if problems:
        raise ProblemError(
            422,
            "The policy cannot decide every situation; nothing was stored.",
            errors=[{"field": p.field, "message": p.message} for p in problems],
        )
    await handlers.publish_policy(ctx, body, created_by=caller.actor)
    return PolicyView.model_validate(await handlers.policy_record(ctx))


@router.post("/policy/what-if", response_model=WhatIfView)
async def what_if(body: WhatIfRequest, ctx: Ctx, _caller: Caller) -> WhatIfView:
    return WhatIfView.model_validate(
        await handlers.what_if(ctx, body.policy, since=body.since, until=body.until)
    )


@router.get("/house-accounts", response_model=HouseAccountsView)
async def get_house_accounts(ctx: Ctx, _caller: Caller) -> HouseAccountsView:
    return HouseAccountsView.model_validate(await handlers.house_accounts_record(ctx))


@router.put("/house-accounts", response_model=HouseAccountsView)
async def put_house_accounts(body: HouseAccountList, ctx: Ctx, caller: Caller) -> HouseAccountsView:
    await handlers.publish_house_accounts(ctx, body, created_by=caller.actor)
    return HouseAccountsView.model_validate(await handlers.house_accounts_record(ctx))


class DecisionView(BaseModel):
    """Why the rules decided as they did: the rule, the policy version and the evidence."""

    registration_id: str
    submission_seq: int
    partner_id: str
    account_key: str
    product_line: str
    status: str
    decision: str | None
    rule: str | None
    reason_code: str | None
    reason: str | None
    policy_version: int | None
    decided_at: datetime | None
    protection_key: str | None
    protection_expires_at: datetime | None
    waitlisted: bool
    extension_count: int
    evidence: dict[str, Any] | None


@router.get("/decisions/{registration_id}", response_model=DecisionView, tags=["decisions"])
async def get_decision(registration_id: str, ctx: Ctx, _caller: Caller) -> DecisionView:
    record = await handlers.decision_record(ctx, registration_id)
    if record is None:
        raise ProblemError(404, "No decision for this registration.")
    return DecisionView.model_validate(record)


@router.get("/policy/versions/{version}", response_model=PolicyView)
async def get_policy_version(version: int, ctx: Ctx, _caller: Caller) -> PolicyView:
    """An earlier version, as a decision that recorded it was made under."""
    record = await handlers.policy_version_record(ctx, version)
    if record is None:
        raise ProblemError(404, f"There is no policy version {version}.")
    return PolicyView.model_validate(record)
