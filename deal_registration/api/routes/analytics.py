"""Partners' outcome figures, the churn warning, the account view (ops), and the partner's
incremental export (JSON lines or CSV)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Response

from deal_registration.api.dependencies import READ, Caller, Ctx, OpsCaller, PartnerCaller, problems
from deal_registration.api.export import EXPORT_FORMATS, render_export
from deal_registration.api.models.analytics import AccountView, ChurnSignals, Scorecards
from deal_registration.handlers import analytics

router = APIRouter(prefix="/v1")


@router.get(
    "/analytics/partners",
    response_model=Scorecards,
    tags=["analytics"],
    summary="Outcome figures per partner and per tier over a period",
    responses=problems(*READ),
)
async def partner_figures(
    ctx: Ctx,
    caller: Caller,
    since: Annotated[datetime | None, Query(description="From (RFC 3339).")] = None,
    until: Annotated[datetime | None, Query(description="Until, excluded (RFC 3339).")] = None,
) -> Scorecards:
    """Ops and the admin read every partner and tier; a partner key reads only its own
    figures (no tiers)."""
    figures = await analytics.scorecards(ctx, caller, since=since, until=until)
    return Scorecards.model_validate(figures)


@router.get(
    "/analytics/churn",
    response_model=ChurnSignals,
    tags=["analytics"],
    summary="Early churn warning: partners whose registrations slow down",
    responses=problems(*READ),
)
async def churn(
    ctx: Ctx,
    caller: OpsCaller,
    window_days: Annotated[int, Query(ge=1, le=365)] = 30,
    history_windows: Annotated[int, Query(ge=1, le=24)] = 3,
) -> ChurnSignals:
    """A partner is flagged when its registrations in the latest window fall below half its
    own average over the windows before (an average of at least 2). Ops only."""
    items = await analytics.churn(
        ctx, caller, window_days=window_days, history_windows=history_windows
    )
    return ChurnSignals.model_validate({"items": items})


@router.get(
    "/analytics/accounts",
    response_model=AccountView,
    tags=["analytics"],
    summary="Every partner active on one customer account",
    responses=problems(*READ),
)
async def account(
    ctx: Ctx,
    caller: OpsCaller,
    name: Annotated[str, Query(min_length=1, max_length=200)],
    domain: Annotated[str | None, Query(max_length=253)] = None,
    country: Annotated[str | None, Query(max_length=2)] = None,
) -> AccountView:
    """The customer as a registration names it; ops only."""
    view = await analytics.account_view(ctx, caller, name=name, domain=domain, country=country)
    return AccountView.model_validate(view)


@router.get(
    "/export/{dataset}",
    tags=["analytics"],
    summary="The partner's own rows changed since a cursor, as JSON lines or CSV",
    response_class=Response,
    responses={
        200: {
            "description": "One row per line; `X-Next-Updated-Since` is the cursor to send next.",
            "content": {"application/x-ndjson": {}, "text/csv": {}},
        },
        **problems(*READ),
    },
)
async def export(
    ctx: Ctx,
    caller: PartnerCaller,
    dataset: Literal["registrations", "history", "outcomes", "attributions"],
    updated_since: Annotated[
        datetime | None, Query(description="Only rows changed after this (RFC 3339).")
    ] = None,
    format: Annotated[
        Literal["jsonl", "csv"] | None, Query(description="Else from `Accept`.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    """A partner key only: its registrations, their history (as the partner sees it), its
    outcome rows and its attribution credits, oldest change first."""
    chosen = format or ("csv" if accept and "text/csv" in accept else "jsonl")
    rows = await analytics.export_rows(
        ctx, caller, dataset, updated_since=updated_since, limit=limit
    )
    body, cursor = render_export(dataset, rows, chosen)
    headers = {"X-Next-Updated-Since": cursor} if cursor else {}
    return Response(body, media_type=EXPORT_FORMATS[chosen], headers=headers)
