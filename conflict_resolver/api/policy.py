"""Routes for the policy, its what-if, and the house accounts: validate, call, shape."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from conflict_resolver import handlers
from conflict_resolver.adapters.policy_store import HouseAccount, HouseAccountList
from conflict_resolver.api.auth import Caller
from conflict_resolver.domain.policy import Policy
from conflict_resolver.domain.policy_dry_run import dry_run
from conflict_resolver.state import ResolverState
from services.http.openapi import READ, WRITE, problems
from services.http.problems import ProblemError
from services.http.state import service_state

router = APIRouter(prefix="/v1", tags=["policy"])


async def context(request: Request) -> handlers.Context:
    return service_state(request, ResolverState).context


Ctx = Annotated[handlers.Context, Depends(context)]


class PolicyView(BaseModel):
    """One version of the rules of engagement."""

    version: int = Field(description="Each PUT makes the next version.", examples=[2])
    created_at: datetime = Field(description="When.", examples=["2026-11-27T12:00:00Z"])
    created_by: str = Field(description="`default`, `admin` or `ops:<id>`.", examples=["admin"])
    policy: dict[str, Any] = Field(
        description="The policy document, as `PUT /v1/policy` takes it (schema `Policy`).",
        examples=[{"base_currency": "USD", "minimum_amount": "5000"}],
    )


class HouseAccountsView(BaseModel):
    """The accounts reserved for direct sales, in their latest version."""

    version: int = Field(description="0 until the first PUT.", examples=[1])
    created_at: datetime | None = Field(description="When.", examples=["2026-11-27T12:00:00Z"])
    created_by: str | None = Field(description="`admin` or `ops:<id>`.", examples=["admin"])
    accounts: list[HouseAccount] = Field(description="The house accounts.")


def _text_only(value: Any) -> Any:
    """A time in JSON is an RFC 3339 string: a number (seconds?) is refused, not guessed."""
    if not isinstance(value, str | datetime):
        raise ValueError("must be an RFC 3339 date-time string")
    return value


Moment = Annotated[AwareDatetime, BeforeValidator(_text_only)]
# Versions are stored as 32-bit integers; a larger one names nothing (and PostgreSQL refuses it).
VersionNumber = Annotated[int, Path(ge=1, le=2**31 - 1)]


class WhatIfRequest(BaseModel):
    """A draft policy to replay past decisions under."""

    model_config = ConfigDict(extra="forbid")

    policy: Policy = Field(description="The draft policy.")
    since: Moment | None = Field(
        default=None, description="Report decisions from here on.", examples=[None]
    )
    until: Moment | None = Field(
        default=None, description="Replay registrations up to here.", examples=[None]
    )


class WhatIfChange(BaseModel):
    registration_id: str = Field(description="The registration.", examples=["r-1"])
    submission_seq: int = Field(description="Order of submission.", examples=[17])
    before: dict[str, Any] = Field(
        description="Its decision as made.", examples=[{"outcome": "approved"}]
    )
    after: dict[str, Any] = Field(
        description="Its decision under the draft.", examples=[{"outcome": "rejected"}]
    )
    why: str = Field(description="What made the difference.", examples=["below the minimum"])


class CreditLine(BaseModel):
    partner_id: str = Field(description="The partner credited.", examples=["p-7"])
    role: str = Field(description="Its role on the deal.", examples=["sourced"])
    amount: str = Field(description="Its credit, in the deal's currency.", examples=["50000.00"])


class AttributionChange(BaseModel):
    registration_id: str = Field(
        description="The sourced registration of the won deal.", examples=["r-1"]
    )
    amount: dict[str, str] = Field(
        description="The amount won (`value`, `currency`).",
        examples=[{"value": "50000.00", "currency": "USD"}],
    )
    model_before: str = Field(description="The model that credited it.", examples=["sourced_only"])
    before: list[CreditLine] = Field(description="The credits as recorded.", examples=[[]])
    after: list[CreditLine] = Field(description="The credits under the draft.", examples=[[]])


class PartnerCredit(BaseModel):
    partner_id: str = Field(description="A partner credited before or after.", examples=["p-7"])
    before: str = Field(
        description="Its credits as recorded, in the base currency.", examples=["50000.00"]
    )
    after: str = Field(
        description="Its credits under the draft, in the base currency.", examples=["25000.00"]
    )


class AttributionWhatIf(BaseModel):
    """Past closed-won deals credited again under the draft's attribution model."""

    model: str = Field(description="The draft's model.", examples=["even_split"])
    deals: int = Field(description="Won deals in the period.", examples=[12])
    changed: int = Field(description="Deals whose credits would change.", examples=[4])
    base_currency: str = Field(description="The draft's base currency.", examples=["USD"])
    unconverted: list[str] = Field(
        description="Currencies without a rate, left out of totals.", examples=[[]]
    )
    partners: list[PartnerCredit] = Field(
        description="Each partner's total before and after.", examples=[[]]
    )
    changes: list[AttributionChange] = Field(
        description="Each deal whose credits would change.", examples=[[]]
    )


class WhatIfView(BaseModel):
    current_policy_version: int = Field(description="The policy in force.", examples=[1])
    replayed: int = Field(description="Decisions replayed.", examples=[120])
    changed: int = Field(description="Decisions that would change.", examples=[3])
    transitions: dict[str, int] = Field(
        description="Count per `before->after`.", examples=[{"approved->rejected": 3}]
    )
    changes: list[WhatIfChange] = Field(description="Each decision that would change.")
    attribution: AttributionWhatIf = Field(
        description="Past closed-won deals credited again under the draft's model."
    )


@router.get("/policy", response_model=PolicyView, responses=problems(*READ))
async def get_policy(ctx: Ctx, _caller: Caller) -> PolicyView:
    return PolicyView.model_validate(await handlers.policy_record(ctx))


@router.put("/policy", response_model=PolicyView, responses=problems(*WRITE))
async def put_policy(body: Policy, ctx: Ctx, caller: Caller) -> PolicyView:
    # Tried on a sample of situations before it is stored: one it cannot decide refuses it.
    refusals = dry_run(body, now=ctx.clock.now())
    if refusals:
        raise ProblemError(
            422,
            "The policy cannot decide every situation; nothing was stored.",
            errors=[{"field": r.field, "message": r.message} for r in refusals],
        )
    await handlers.publish_policy(ctx, body, created_by=caller.actor)
    return PolicyView.model_validate(await handlers.policy_record(ctx))


@router.post("/policy/what-if", response_model=WhatIfView, responses=problems(*WRITE))
async def what_if(body: WhatIfRequest, ctx: Ctx, _caller: Caller) -> WhatIfView:
    return WhatIfView.model_validate(
        await handlers.what_if(ctx, body.policy, since=body.since, until=body.until)
    )


class CalibrationRequest(BaseModel):
    """Which precision the proposed band must hold."""

    model_config = ConfigDict(extra="forbid")

    target_precision: float | None = Field(
        default=None,
        gt=0.5,
        lt=1,
        strict=True,
        description="Defaults to the policy's `matching.target_precision`.",
        examples=[0.99],
    )


class CalibrationView(BaseModel):
    """A review band proposed from ops' decisions on possible duplicates; nothing is stored."""

    policy_version: int = Field(description="The policy it starts from.", examples=[3])
    decisions: int = Field(description="Decisions inside the current band.", examples=[120])
    target_precision: float = Field(description="Held by the proposal.", examples=[0.99])
    current: dict[str, float] = Field(
        description="`same_account` and `review` now.",
        examples=[{"same_account": 0.92, "review": 0.8}],
    )
    proposed: dict[str, float] = Field(
        description="`same_account` and `review` proposed.",
        examples=[{"same_account": 0.88, "review": 0.85}],
    )
    steps: list[dict[str, float]] = Field(
        description="The isotonic fit: from `similarity` up, `probability` of the same "
        "account over `support` decisions.",
        examples=[[{"similarity": 0.8, "probability": 0.0, "support": 40}]],
    )
    what_if: dict[str, int] = Field(
        description="Past decisions by `what ops said->what the proposal does`, and `changed`.",
        examples=[{"same->same": 30, "changed": 70}],
    )
    note: str = Field(description="What the proposal rests on.", examples=["120 decisions"])
    policy: dict[str, Any] = Field(
        description="The current policy with the proposal: `PUT /v1/policy` publishes it.",
        examples=[{"matching": {"same_account": 0.88, "review": 0.85}}],
    )


@router.post("/matching/calibration", response_model=CalibrationView, responses=problems(*WRITE))
async def propose_calibration(
    body: CalibrationRequest, ctx: Ctx, _caller: Caller
) -> CalibrationView:
    return CalibrationView.model_validate(
        await handlers.propose_calibration(ctx, target_precision=body.target_precision)
    )


@router.get("/house-accounts", response_model=HouseAccountsView, responses=problems(*READ))
async def get_house_accounts(ctx: Ctx, _caller: Caller) -> HouseAccountsView:
    return HouseAccountsView.model_validate(await handlers.house_accounts_record(ctx))


@router.put("/house-accounts", response_model=HouseAccountsView, responses=problems(*WRITE))
async def put_house_accounts(body: HouseAccountList, ctx: Ctx, caller: Caller) -> HouseAccountsView:
    await handlers.publish_house_accounts(ctx, body, created_by=caller.actor)
    return HouseAccountsView.model_validate(await handlers.house_accounts_record(ctx))


class DecisionView(BaseModel):
    """Why the rules decided as they did: the rule, the policy version and the evidence."""

    registration_id: str = Field(description="The registration.", examples=["r-1"])
    submission_seq: int = Field(description="Order of submission.", examples=[17])
    partner_id: str = Field(description="Who registered it.", examples=["p-1"])
    account_key: str = Field(description="The matched account.", examples=["d:acme.com"])
    product_line: str = Field(description="The product line.", examples=["network-security"])
    status: str = Field(description="The registration's status.", examples=["approved"])
    decision: str | None = Field(description="approved, rejected or null.", examples=["approved"])
    rule: str | None = Field(description="The rule that fired.", examples=["first_to_register"])
    reason_code: str | None = Field(description="The rule's code.", examples=[None])
    reason: str | None = Field(description="For the partner.", examples=["Approved."])
    policy_version: int | None = Field(description="The policy applied.", examples=[1])
    decided_at: datetime | None = Field(description="When.", examples=["2026-11-27T12:00:00Z"])
    protection_key: str | None = Field(
        description="What its protection covers.", examples=["d:acme.com|network-security"]
    )
    protection_expires_at: datetime | None = Field(
        description="End of its protection.", examples=["2027-02-25T12:00:00Z"]
    )
    waitlisted: bool = Field(description="Waiting for a protection to end.", examples=[False])
    extension_count: int = Field(description="Extensions granted.", examples=[0])
    evidence: dict[str, Any] | None = Field(
        description="Matched claims, fields and similarity.", examples=[None]
    )


@router.get(
    "/decisions/{registration_id}",
    response_model=DecisionView,
    responses=problems(*READ, 404, _404="No decision for this registration"),
    tags=["decisions"],
)
async def get_decision(registration_id: str, ctx: Ctx, _caller: Caller) -> DecisionView:
    record = await handlers.decision_record(ctx, registration_id)
    if record is None:
        raise ProblemError(404, "No decision for this registration.")
    return DecisionView.model_validate(record)


@router.get(
    "/policy/versions/{version}",
    response_model=PolicyView,
    responses=problems(*READ, 404, _404="No such policy version"),
)
async def get_policy_version(version: VersionNumber, ctx: Ctx, _caller: Caller) -> PolicyView:
    """An earlier version, as a decision that recorded it was made under."""
    record = await handlers.policy_version_record(ctx, version)
    if record is None:
        raise ProblemError(404, f"There is no policy version {version}.")
    return PolicyView.model_validate(record)
