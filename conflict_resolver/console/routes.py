"""``GET /console``, its two assets (served from the package, no build step), the published
review reasons its forms offer, and the partner figures its charts draw (from
deal_registration)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from conflict_resolver.state import ResolverState
from schemas.review_reasons import EDITABLE_FIELDS, REJECTION_REASONS
from services.http.problems import ProblemError
from services.http.state import service_state

STATIC = Path(__file__).parent / "static"
ASSETS = {"console.css": "text/css", "console.js": "text/javascript"}
router = APIRouter(include_in_schema=False)
_NO_STORE = {"Cache-Control": "no-cache"}


@router.get("/console")
async def console() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html", headers=_NO_STORE)


@router.get("/console/review-reasons.json")
async def review_reasons() -> dict[str, object]:
    """The rejection codes with the sentence each gives the partner, and the fields a case
    may be returned for edit with (schemas/review_reasons.py: one list for API and console)."""
    return {"rejection_reasons": REJECTION_REASONS, "editable_fields": list(EDITABLE_FIELDS)}


@router.get("/console/partners.json")
async def partner_figures(request: Request) -> dict[str, Any]:
    """The partner figures and churn warnings for the dashboard's charts, read from
    deal_registration (which owns partners and their figures) with the caller's own key: a
    key deal_registration refuses is refused here too."""
    base = service_state(request, ResolverState).intake_url.rstrip("/")
    headers = {"Authorization": request.headers.get("Authorization", "")}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=5) as intake:
        try:
            figures = await intake.get("/v1/analytics/partners")
            churn = await intake.get("/v1/analytics/churn")
        except httpx.HTTPError as error:
            raise ProblemError(502, "deal_registration did not answer.") from error
    for answer in (figures, churn):
        if answer.status_code in (401, 403):
            raise ProblemError(answer.status_code, "That key may not read partner figures.")
        if answer.status_code != 200:
            raise ProblemError(502, "deal_registration could not give the partner figures.")
    return {"figures": figures.json(), "churn": churn.json()["items"]}


@router.get("/console/{asset}")
async def console_asset(asset: str) -> FileResponse:
    if asset not in ASSETS:
        raise ProblemError(404, "No such file.")
    return FileResponse(STATIC / asset, media_type=ASSETS[asset], headers=_NO_STORE)
