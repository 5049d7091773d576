"""``GET /console`` and its two assets, served from the package (no build step)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from services.http.problems import ProblemError

STATIC = Path(__file__).parent / "static"
ASSETS = {"console.css": "text/css", "console.js": "text/javascript"}
router = APIRouter(include_in_schema=False)
_NO_STORE = {"Cache-Control": "no-cache"}


@router.get("/console")
async def console() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html", headers=_NO_STORE)


@router.get("/console/{asset}")
async def console_asset(asset: str) -> FileResponse:
    if asset not in ASSETS:
        raise ProblemError(404, "No such file.")
    return FileResponse(STATIC / asset, media_type=ASSETS[asset], headers=_NO_STORE)
