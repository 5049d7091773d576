"""crm_sync's request and response bodies, as its OpenAPI document shows them.

Times here are strings the handlers already wrote (``isoformat()``, so ``+00:00``): the models
keep them as they are, documented as RFC 3339 date-times.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, WithJsonSchema

# An RFC 3339 time the handler already rendered (kept byte for byte).
Moment = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
MaybeMoment = Annotated[
    str | None,
    WithJsonSchema({"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]}),
]


# A dead letter's id: a positive 64-bit integer (a larger one cannot name a row).
DeadLetterId = Annotated[int, Field(ge=1, le=2**63 - 1)]


class _View(BaseModel):
    # Keys a handler adds later are dropped, never a 500 (tests pin the shape).
    model_config = ConfigDict(extra="ignore")


class ConnectorStatus(_View):
    crm_system: str = Field(description="hubspot or salesforce.", examples=["hubspot"])
    lag_seconds: float = Field(description="Age of the oldest pending deal.", examples=[0.0])
    pending: int = Field(description="Deals waiting to be pushed.", examples=[0])
    synced: int = Field(description="Deals in step with the CRM.", examples=[12])
    dead_letters: int = Field(description="Unreplayed dead letters.", examples=[0])
    last_success_at: MaybeMoment = Field(
        description="Last call the CRM answered well.", examples=["2026-11-27T12:00:00+00:00"]
    )
    last_failure_at: MaybeMoment = Field(description="Last failed call.", examples=[None])
    last_error: str | None = Field(description="What it said.", examples=[None])
    failures: int = Field(description="Failed calls so far.", examples=[0])
    watermark: MaybeMoment = Field(description="Reconciled up to.", examples=[None])
    last_reconciled_at: MaybeMoment = Field(description="Last sweep.", examples=[None])
    echoes_dropped: int = Field(description="Our own changes echoed back.", examples=[3])


class LeaseHolder(_View):
    name: str = Field(description="The job (crm-pusher, crm-reconciler).", examples=["crm-pusher"])
    owner: str = Field(description="The instance holding it.", examples=["host-1234-ab12cd"])
    expires_at: Moment = Field(
        description="Lapses unless renewed.", examples=["2026-11-27T12:00:15+00:00"]
    )


class SyncStatus(_View):
    """Per connector: lag, last success, failures, dead letters; and who runs the jobs."""

    connectors: list[ConnectorStatus] = Field(description="One per configured CRM.")
    instance_id: str = Field(description="The instance answering.", examples=["host-1234-ab12cd"])
    leases: list[LeaseHolder] = Field(description="Which instance runs which job.")


class ReconcileRequest(BaseModel):
    """Optional body of ``POST /v1/sync/reconcile``."""

    model_config = ConfigDict(extra="forbid")

    full: StrictBool = Field(
        default=False,
        description="Sweep from the beginning (where the first sweep started), not the watermark.",
        examples=[True],
    )


class ReconcileStarted(_View):
    status: Literal["started"] = Field(description="The sweep is requested.", examples=["started"])
    full: bool = Field(description="Whether it is a full sweep.", examples=[False])


class DeadLetter(_View):
    """A deal the CRM refused because of its data."""

    id: int = Field(description="The dead letter.", examples=[1])
    crm_system: str = Field(description="hubspot or salesforce.", examples=["hubspot"])
    registration_id: str = Field(description="The registration.", examples=["r-1"])
    reason: str = Field(description="What the CRM said.", examples=["INVALID_FIELD: amount"])
    permanent: bool = Field(description="About the data (not an outage).", examples=[True])
    attempts: int = Field(description="Tries made.", examples=[3])
    payload: dict[str, Any] = Field(
        description="What was sent.", examples=[{"registration_id": "r-1"}]
    )
    created_at: Moment = Field(description="When.", examples=["2026-11-27T12:00:00+00:00"])
    replayed_at: MaybeMoment = Field(description="When replayed.", examples=[None])


class MirroredDeal(_View):
    sync_state: str = Field(description="pending, synced or dead.", examples=["dead"])
    desired: dict[str, Any] | None = Field(
        description="What a replay would send.", examples=[{"amount": "125000.00"}]
    )
    last_error: str | None = Field(description="The last refusal.", examples=[None])
    crm_opportunity_id: str | None = Field(description="The CRM's id.", examples=[None])


class DeadLetterDetail(DeadLetter):
    deal: MirroredDeal | None = Field(description="The deal's current sync state.")


class DeadLetterList(_View):
    items: list[DeadLetter] = Field(description="Oldest first.")


class ReplayRequest(BaseModel):
    """Which dead letters to replay."""

    model_config = ConfigDict(extra="forbid")

    ids: list[Annotated[DeadLetterId, Field(strict=True)]] | None = Field(
        default=None,
        max_length=10_000,
        description="These (null or absent: every unreplayed one).",
        examples=[[1]],
    )


class Replayed(_View):
    replayed: int = Field(description="Dead letters put back in the queue.", examples=[1])
