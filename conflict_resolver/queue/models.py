"""The conflict queue's request and response bodies, as its OpenAPI document shows them.

The handlers build plain dicts (``queue.handlers.reading``); the routes declare these models
as their ``response_model`` and answer with ``exclude_unset``, so a key a handler leaves out
(a claim the resolver does not know, the ``detail`` of the ``opened`` entry) stays out and the
JSON is exactly what the handlers built.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema

from schemas.review_reasons import EditableField, RejectionCode

# What a claim's submitted registration says, kept as the event carried it (byte for byte).
MaybeMoment = Annotated[
    str | None,
    WithJsonSchema({"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]}),
]
MaybeDay = Annotated[
    str | None,
    WithJsonSchema({"anyOf": [{"type": "string", "format": "date"}, {"type": "null"}]}),
]

# --- Requests -----------------------------------------------------------------------------


class Decision(BaseModel):
    """Ops' decision on a case: approve one of its claims, or none."""

    model_config = ConfigDict(extra="forbid")

    approve: Annotated[str, StringConstraints(min_length=1, max_length=36)] | None = Field(
        description="The registration to approve, or null to approve none.",
        examples=["5b0c7c1e-3c1f-4c55-9d2a-0f6f8e7a1b2c"],
    )
    reason: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)
    ] = Field(
        description="Why, in a sentence (kept in the case's history).",
        examples=["Northwind registered first and has the signed quote."],
    )
    reason_code: RejectionCode | None = Field(
        default=None,
        description="When approving none: the published code the partner reads, with its "
        "sentence (`reason` stays with sales ops). Without it: `REVIEW_REJECTED`.",
        examples=["INSUFFICIENT_DETAILS"],
    )


class ReturnForEdit(BaseModel):
    """Return the case's registration to its partner (`action_required`) instead of deciding."""

    model_config = ConfigDict(extra="forbid")

    comments: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)
    ] = Field(
        description="What the partner should change, in words it may read (never another "
        "partner's name).",
        examples=["Please give the customer's web domain."],
    )
    fields: Annotated[list[EditableField], Field(min_length=1, max_length=9)] = Field(
        description="The fields the partner may change (partner API names).",
        examples=[["customer.domain"]],
    )


class Resolution(BaseModel):
    """Ops' resolution of a ``DIRECT_ENCROACHMENT`` case (no registration is approved)."""

    model_config = ConfigDict(extra="forbid")

    resolution: Literal["acknowledged", "partner_keeps", "direct_proceeds"] = Field(
        description="`acknowledged`, `partner_keeps` (direct sales steps back) or "
        "`direct_proceeds` (direct sales goes on alongside); the partner's protection stands.",
        examples=["partner_keeps"],
    )
    reason: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)
    ] = Field(
        description="Why, in a sentence (kept in the case's history).",
        examples=["The partner registered the account months before sales opened the deal."],
    )


class Assignment(BaseModel):
    """Who works a case."""

    model_config = ConfigDict(extra="forbid")

    owner: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = Field(
        default="me",
        description="An ops user id, `me` (the default), or null to unassign.",
        examples=["me"],
    )


# --- Responses ----------------------------------------------------------------------------


class _View(BaseModel):
    # Keys a handler adds later are dropped, never a 500 (tests pin the shape).
    model_config = ConfigDict(extra="ignore")


class Amount(_View):
    value: str = Field(description="A decimal string.", examples=["125000.00"])
    currency: str = Field(description="ISO 4217.", examples=["USD"])


class PartnerRef(_View):
    id: str | None = Field(description="The partner's id.", examples=["p-1"])
    name: str | None = Field(description="The partner's name.", examples=["Northwind Networks"])
    tier: str | None = Field(description="The partner's tier.", examples=["gold"])


class Customer(_View):
    name: str = Field(description="The customer's name.", examples=["Acme Corporation"])
    domain: str | None = Field(default=None, description="Web domain.", examples=["acme.com"])
    country: str | None = Field(default=None, description="ISO 3166-1 alpha-2.", examples=["US"])


class Claim(_View):
    """One registration in a case. A claim the resolver does not know (yet) carries only
    ``registration_id``, ``role``, ``match`` and ``status: unknown``."""

    registration_id: str = Field(description="The registration.", examples=["r-1"])
    role: Literal["under_review", "competing"] = Field(
        description="The registration under review, or one it competes with.",
        examples=["competing"],
    )
    match: dict[str, Any] | None = Field(
        description="How it matched the one under review (similarity, matched fields, and "
        "`calibrated_probability`: the share of past review decisions at that similarity that "
        "said the same account, once a calibration is published).",
        examples=[
            {
                "similarity": 0.86,
                "matched_fields": ["name", "country"],
                "calibrated_probability": 0.72,
            }
        ],
    )
    submission_seq: int | None = Field(
        default=None, description="Order of submission.", examples=[17]
    )
    status: str = Field(description="The registration's status.", examples=["approved"])
    reason_code: str | None = Field(default=None, description="Why.", examples=["DUPLICATE"])
    partner: PartnerRef | None = Field(default=None, description="Who registered it.")
    customer: Customer | None = Field(default=None, description="The customer as registered.")
    account_key: str | None = Field(
        default=None, description="The matched account.", examples=["d:acme.com"]
    )
    product_line: str | None = Field(
        default=None, description="The product line.", examples=["network-security"]
    )
    deal_type: str | None = Field(
        default=None, description="new, renewal, upsell.", examples=["new"]
    )
    amount: Amount | None = Field(default=None, description="The deal's amount.")
    expected_close_date: MaybeDay = Field(
        default=None, description="When the deal should close.", examples=["2027-03-31"]
    )
    submitted_at: MaybeMoment = Field(
        default=None, description="When it was submitted.", examples=["2026-11-27T12:00:00Z"]
    )
    decided_at: datetime | None = Field(
        default=None, description="When it was decided.", examples=["2026-11-27T12:00:01Z"]
    )
    protection_expires_at: datetime | None = Field(
        default=None, description="End of its protection.", examples=["2027-02-25T12:00:00Z"]
    )


class HistoryEntry(_View):
    at: datetime = Field(description="When.", examples=["2026-11-27T12:00:00Z"])
    action: str = Field(
        description="opened, assigned, escalated or decided.", examples=["assigned"]
    )
    actor: str = Field(description="`rules`, `admin`, `ops:<id>` or `sla`.", examples=["admin"])
    reason: str | None = Field(description="Why (decisions).", examples=[None])
    detail: dict[str, Any] | None = Field(
        default=None, description="What changed.", examples=[{"owner": "ops-1"}]
    )


class ConflictCase(_View):
    """A conflict case: the competing claims, the rule that fired, its evidence, owner, SLA."""

    id: str = Field(description="The case.", examples=["c-1"])
    state: Literal["open", "decided"] = Field(description="open or decided.", examples=["open"])
    registration_id: str = Field(description="The registration under review.", examples=["r-2"])
    account_key: str = Field(description="The matched account.", examples=["d:acme.com"])
    product_line: str = Field(description="The product line.", examples=["network-security"])
    rule: str = Field(description="The rule that fired.", examples=["possible_duplicate"])
    reason_code: str = Field(description="The rule's code.", examples=["POSSIBLE_DUPLICATE"])
    amount: Amount | None = Field(description="The amount under review.")
    claims: list[Claim] = Field(description="Every claim in the case, in submission order.")
    evidence: dict[str, Any] = Field(
        description="Matched fields and similarity of each competing claim.",
        examples=[{"matches": []}],
    )
    owner: str | None = Field(description="Who works it.", examples=["ops-1"])
    owner_name: str | None = Field(description="Their name.", examples=["Sam Ortiz"])
    opened_at: datetime = Field(description="When opened.", examples=["2026-11-27T12:00:00Z"])
    due_at: datetime = Field(description="SLA deadline.", examples=["2026-11-29T12:00:00Z"])
    overdue: bool = Field(description="Open past its deadline.", examples=[False])
    escalated_at: datetime | None = Field(description="When escalated.", examples=[None])
    decided_at: datetime | None = Field(description="When decided.", examples=[None])
    decided_by: str | None = Field(description="`admin`, `ops:<id>` or `sla`.", examples=[None])
    decided_by_name: str | None = Field(description="Their name.", examples=[None])
    decision_reason: str | None = Field(description="Why.", examples=[None])
    approved_registration_id: str | None = Field(
        description="The claim approved (or kept).", examples=[None]
    )
    resolution: str | None = Field(
        default=None,
        description="How ops resolved a `DIRECT_ENCROACHMENT` case (only on those cases).",
        examples=[None],
    )
    history: list[HistoryEntry] | None = Field(
        default=None, description="What happened to the case (one case only, not in lists)."
    )


class ConflictPage(_View):
    items: list[ConflictCase] = Field(description="One page of cases.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last.", examples=[None]
    )


class StreamToken(_View):
    token: str = Field(
        description="For `GET /v1/conflicts/stream?token=`.", examples=["eyJzdWIi.O1TD6U"]
    )
    expires_at: datetime = Field(description="Valid until.", examples=["2026-11-27T12:05:00Z"])


class DayCount(_View):
    day: date = Field(description="A day (UTC).", examples=["2026-11-27"])
    count: int = Field(description="Registrations submitted.", examples=[4])


class PartnerCount(_View):
    partner_id: str = Field(description="The partner.", examples=["p-1"])
    partner_name: str = Field(description="Its name.", examples=["Northwind Networks"])
    count: int = Field(description="Registrations submitted.", examples=[3])


class Durations(_View):
    count: int = Field(description="Decisions.", examples=[3])
    p50_seconds: float | None = Field(description="Median.", examples=[1.5])
    p95_seconds: float | None = Field(description="95th percentile.", examples=[9.0])


class TimeToDecision(_View):
    automatic: Durations = Field(description="Decided by the rules.")
    manual: Durations = Field(description="Decided by sales ops.")


class Pipeline(_View):
    currency: str = Field(description="ISO 4217.", examples=["USD"])
    value: str = Field(description="Approved or won amounts, a decimal.", examples=["250000.00"])


class BasePipeline(_View):
    currency: str = Field(description="The policy's base currency.", examples=["USD"])
    value: str = Field(description="Approved or won amounts, converted.", examples=["312000.00"])
    unconverted: list[str] = Field(
        description="Currencies left out: the policy holds no rate for them.", examples=[[]]
    )


class QueueNumbers(_View):
    open: int = Field(description="Open cases.", examples=[2])
    overdue: int = Field(description="Open past their deadline.", examples=[0])
    oldest_age_seconds: float | None = Field(description="Age of the oldest.", examples=[60.0])
    median_age_seconds: float | None = Field(description="Median age.", examples=[30.0])


class Stats(_View):
    """The numbers sales ops ask for."""

    since: datetime | None = Field(description="From (null: ever).", examples=[None])
    generated_at: datetime = Field(description="As of.", examples=["2026-11-27T12:00:00Z"])
    registrations_per_day: list[DayCount] = Field(description="Submissions per day.")
    registrations_per_partner: list[PartnerCount] = Field(description="Most first.")
    registrations_by_status: dict[str, int] = Field(
        description="Count per status.", examples=[{"approved": 2}]
    )
    approval_rate: float | None = Field(description="Approved / decided.", examples=[0.6667])
    time_to_decision: TimeToDecision = Field(description="Automatic and manual.")
    partner_sourced_pipeline: list[Pipeline] = Field(description="Per currency.")
    partner_sourced_pipeline_base: BasePipeline = Field(
        description="All currencies in the policy's base currency, at the rates it holds."
    )
    queue: QueueNumbers = Field(description="The queue now.")
    sla_breaches: int = Field(description="Cases past their deadline.", examples=[0])
    conflicts_by_reason: dict[str, int] = Field(
        description="Cases per reason code.", examples=[{"POSSIBLE_DUPLICATE": 2}]
    )
