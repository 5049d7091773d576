"""``GET /console``, its two assets (served from the package, no build step) and the published
review reasons its forms offer."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from schemas.review_reasons import EDITABLE_FIELDS, REJECTION_REASONS
from services.http.problems import ProblemError

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


@router.get("/console/{asset}")
async def console_asset(asset: str) -> FileResponse:
    if asset not in ASSETS:
        raise ProblemError(404, "No such file.")
    return FileResponse(STATIC / asset, media_type=ASSETS[asset], headers=_NO_STORE)
