"""Account overlap without exposure (``/v1/overlap``, issue 16): validate, call, shape.

The resolver's one partner-facing surface: a partner key acts here for its own partner only
(another partner's id answers 404, as one that does not exist); sales ops and the admin act
for the vendor's side. See docs/partner-api.md for the partner's recipe.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, NoReturn

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from conflict_resolver.api.auth import AnyCaller
from conflict_resolver.domain.overlap import (
    InvalidUploadError,
    OverlapForbiddenError,
    OverlapNotFoundError,
    OverlapReport,
    UploadTooSoonError,
)
from conflict_resolver.handlers import overlap
from conflict_resolver.state import ResolverState
from services.http.openapi import READ, WRITE, problems
from services.http.problems import ProblemError
from services.http.security import forbidden
from services.http.state import service_state

router = APIRouter(prefix="/v1/overlap", tags=["overlap"])
PartnerId = Annotated[str, Path(min_length=1, max_length=36)]


def context(request: Request) -> overlap.OverlapContext:
    return service_state(request, ResolverState).overlap


Ctx = Annotated[overlap.OverlapContext, Depends(context)]


class UploadRequest(BaseModel):
    """The partner's whole list: it replaces the previous one, all or nothing."""

    model_config = ConfigDict(extra="forbid")

    key_version: int = Field(
        ge=1,
        le=2**31 - 1,
        description="The overlap key's version the list is hashed with.",
        examples=[1],
    )
    hashes: list[str] = Field(
        description="HMAC-SHA256 (lower-case hex) of each account's registrable domain under "
        "the partner's overlap key, each once (`schemas.account_overlap.hash_account_list`).",
        examples=[["3f0c1d9b6a4e2f7c8b5a1d0e9f8c7b6a5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a"]],
    )


class ConsentRequest(BaseModel):
    """The caller's side of the opt-in to showing the overlapping accounts."""

    model_config = ConfigDict(extra="forbid")

    opted_in: StrictBool = Field(
        description="true: show the overlap; false: withdraw.", examples=[True]
    )


class OverlapKeyView(BaseModel):
    """A partner's overlap key: hash the list with it; never send it back."""

    partner_id: str = Field(
        description="The partner.", examples=["5b0c7c1e-3c1f-4c55-9d2a-0f6f8e7a1b2c"]
    )
    version: int = Field(description="Rises with each rotation.", examples=[1])
    key: str = Field(description="The HMAC key, used as ASCII.", examples=["ovk_9c1e…"])
    issued_at: datetime = Field(
        description="When sales ops issued this version.", examples=["2026-12-02T12:00:00Z"]
    )


class UploadView(BaseModel):
    key_version: int = Field(description="The key version the list was hashed with.", examples=[1])
    uploaded_at: datetime = Field(
        description="When it replaced the previous list.", examples=["2026-12-02T12:00:00Z"]
    )
    accounts: int = Field(description="How many hashes it holds.", examples=[1200])


class ConsentView(BaseModel):
    partner_opted_in_at: datetime | None = Field(
        description="The partner's opt-in, if any.", examples=["2026-12-02T12:00:00Z"]
    )
    vendor_opted_in_at: datetime | None = Field(
        description="The vendor's opt-in, if any.", examples=[None]
    )
    revealed: bool = Field(
        description="Both opted in: `accounts` lists the overlap.", examples=[False]
    )


class CountsView(BaseModel):
    partner_accounts: int = Field(
        description="Distinct accounts in the partner's list.", examples=[1200]
    )
    vendor_accounts: int = Field(
        description="Distinct vendor accounts with a domain: open registrations, open direct "
        "opportunities in the CRM, house accounts.",
        examples=[5400],
    )
    overlapping: int = Field(description="Accounts on both lists.", examples=[87])


class OverlapAccountView(BaseModel):
    domain: str = Field(
        description="The registrable domain both sides hold.", examples=["acme.com"]
    )
    hash: str = Field(
        description="Its hash under the partner's current key.",
        examples=["3f0c1d9b6a4e2f7c8b5a1d0e9f8c7b6a5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a"],
    )
    registration_seed: dict[str, Any] = Field(
        description="The start of a `POST /v1/registrations` body (deal_registration) for it.",
        examples=[{"customer": {"name": "acme.com", "domain": "acme.com"}}],
    )


class OverlapReportView(BaseModel):
    """Counts for both sides; the overlapping accounts (only those) once both opted in."""

    partner_id: str = Field(
        description="The partner.", examples=["5b0c7c1e-3c1f-4c55-9d2a-0f6f8e7a1b2c"]
    )
    key_version: int | None = Field(
        description="The current overlap key's version, if issued.", examples=[1]
    )
    upload: UploadView | None = Field(description="The current list, if one was uploaded.")
    stale: bool = Field(
        description="The list was hashed with a key since rotated: upload again.",
        examples=[False],
    )
    consent: ConsentView = Field(description="Each side's opt-in.")
    counts: CountsView | None = Field(description="Null until a list under the current key.")
    accounts: list[OverlapAccountView] | None = Field(
        description="Null unless both sides opted in; then the overlapping accounts only.",
        examples=[None],
    )


def _view(found: OverlapReport) -> OverlapReportView:
    counts = None
    if found.partner_accounts is not None:
        counts = CountsView(
            partner_accounts=found.partner_accounts,
            vendor_accounts=found.vendor_accounts or 0,
            overlapping=found.overlapping or 0,
        )
    accounts = None
    if found.accounts is not None:
        accounts = [
            OverlapAccountView(
                domain=account.domain,
                hash=account.hash,
                registration_seed={"customer": {"name": account.domain, "domain": account.domain}},
            )
            for account in found.accounts
        ]
    return OverlapReportView(
        partner_id=found.partner_id,
        key_version=found.key_version,
        upload=None if found.upload is None else UploadView(**vars(found.upload)),
        stale=found.stale,
        consent=ConsentView(
            partner_opted_in_at=found.consent.partner_opted_in_at,
            vendor_opted_in_at=found.consent.vendor_opted_in_at,
            revealed=found.consent.both,
        ),
        counts=counts,
        accounts=accounts,
    )


def _refuse(error: Exception) -> NoReturn:
    if isinstance(error, OverlapNotFoundError):
        raise ProblemError(404, f"No such {error.args[0]}.") from error
    if isinstance(error, OverlapForbiddenError):
        raise forbidden(f"This token may not do that: {error.args[0]}.") from error
    if isinstance(error, InvalidUploadError):
        raise ProblemError(
            422,
            "The list was not taken; the previous one stands.",
            title="Unprocessable Content",
            errors=[{"field": e.field, "message": e.message} for e in error.errors],
        ) from error
    if isinstance(error, UploadTooSoonError):
        raise ProblemError(
            429,
            "A new list is taken at most once per interval; the previous one stands.",
            title="Too Many Requests",
            headers={"Retry-After": str(error.retry_after)},
        ) from error
    raise error


_ERRORS = (OverlapNotFoundError, OverlapForbiddenError, InvalidUploadError, UploadTooSoonError)


@router.post(
    "/partners/{partner_id}/key",
    status_code=201,
    response_model=OverlapKeyView,
    summary="Issue or rotate a partner's overlap key (sales ops)",
    responses=problems(*WRITE, 403, 404),
)
async def issue_overlap_key(partner_id: PartnerId, ctx: Ctx, caller: AnyCaller) -> Any:
    try:
        return vars(await overlap.issue_key(ctx, caller, partner_id))
    except _ERRORS as error:
        _refuse(error)


@router.get(
    "/partners/{partner_id}/key",
    response_model=OverlapKeyView,
    summary="The partner's current overlap key (the partner itself, or sales ops)",
    responses=problems(*READ, 404),
)
async def read_overlap_key(partner_id: PartnerId, ctx: Ctx, caller: AnyCaller) -> Any:
    try:
        return vars(await overlap.current_key(ctx, caller, partner_id))
    except _ERRORS as error:
        _refuse(error)


@router.put(
    "/partners/{partner_id}/accounts",
    response_model=OverlapReportView,
    summary="Replace the partner's list of keyed hashes (the partner itself)",
    responses=problems(
        *WRITE, 403, 404, 429, _429="A list came too soon after the last one; see `Retry-After`"
    ),
)
async def upload_overlap_accounts(
    partner_id: PartnerId, body: UploadRequest, ctx: Ctx, caller: AnyCaller
) -> Any:
    try:
        found = await overlap.upload(
            ctx, caller, partner_id, key_version=body.key_version, hashes=body.hashes
        )
    except _ERRORS as error:
        _refuse(error)
    return _view(found)


@router.put(
    "/partners/{partner_id}/consent",
    response_model=OverlapReportView,
    summary="Opt the caller's side in to (or out of) showing the overlapping accounts",
    responses=problems(*WRITE, 404),
)
async def set_overlap_consent(
    partner_id: PartnerId, body: ConsentRequest, ctx: Ctx, caller: AnyCaller
) -> Any:
    try:
        found = await overlap.set_consent(ctx, caller, partner_id, opted_in=body.opted_in)
    except _ERRORS as error:
        _refuse(error)
    return _view(found)


@router.get(
    "/partners/{partner_id}",
    response_model=OverlapReportView,
    summary="The overlap report: counts, and the overlapping accounts once both opted in",
    responses=problems(*READ, 404),
)
async def read_overlap(partner_id: PartnerId, ctx: Ctx, caller: AnyCaller) -> Any:
    try:
        found = await overlap.read_report(ctx, caller, partner_id)
    except _ERRORS as error:
        _refuse(error)
    return _view(found)
