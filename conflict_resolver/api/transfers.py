"""Sales ops move a live protection (``POST /v1/protections/transfer``): validate, call, shape."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from conflict_resolver import handlers
from conflict_resolver.api.auth import Caller
from conflict_resolver.domain.protection import ProtectionConflictError
from conflict_resolver.handlers import transfers
from conflict_resolver.state import ResolverState
from services.http.openapi import WRITE, problems
from services.http.problems import ProblemError
from services.http.state import service_state

router = APIRouter(prefix="/v1", tags=["protections"])
RegistrationId = Annotated[str, StringConstraints(min_length=1, max_length=36)]
Reason = Literal["customer_request", "first_to_register_conflict", "partner_merger"]


async def context(request: Request) -> handlers.Context:
    return service_state(request, ResolverState).context


Ctx = Annotated[handlers.Context, Depends(context)]


class TransferRequest(BaseModel):
    """Move the live protection of one registration to another for the same customer and
    product line (one in review or on the waitlist)."""

    model_config = ConfigDict(extra="forbid")

    from_registration_id: RegistrationId = Field(
        description="The registration holding the live protection.",
        examples=["5b0c7c1e-3c1f-4c55-9d2a-0f6f8e7a1b2c"],
    )
    to_registration_id: RegistrationId = Field(
        description="The registration that receives it (in review or on the waitlist).",
        examples=["0d9f3a55-8e1b-4a7e-b7b4-2a1c9d6e4f10"],
    )
    reason: Reason = Field(description="Why the protection moves.", examples=["customer_request"])
    note: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)
    ] = Field(
        description="A sentence for sales ops (kept with the case); partners never read it.",
        examples=["The customer asked to work with the partner that registered first."],
    )


class TransferView(BaseModel):
    """Both registrations after the transfer."""

    from_registration_id: str = Field(description="The old holder.", examples=["5b0c…"])
    from_status: str = Field(description="Now `transferred`.", examples=["transferred"])
    to_registration_id: str = Field(description="The new holder.", examples=["0d9f…"])
    to_status: str = Field(description="Now `approved`.", examples=["approved"])
    protection_expires_at: datetime = Field(
        description="The new holder's protection expiry.", examples=["2027-03-01T12:00:00Z"]
    )
    reason: Reason = Field(description="Why it moved.", examples=["customer_request"])
    transferred_at: datetime = Field(description="When.", examples=["2026-12-01T12:00:00Z"])
    transferred_by: str = Field(description="`ops:<id>` or `admin`.", examples=["ops:42"])


@router.post(
    "/protections/transfer",
    response_model=TransferView,
    responses=problems(
        *WRITE,
        404,
        409,
        _404="A registration unknown to the resolver",
        _409="The source holds no live protection, or the target cannot receive it",
    ),
)
async def transfer_protection(body: TransferRequest, ctx: Ctx, caller: Caller) -> Any:
    try:
        return await transfers.transfer(
            ctx,
            from_registration_id=body.from_registration_id,
            to_registration_id=body.to_registration_id,
            reason=body.reason,
            note=body.note,
            actor=caller.actor,
        )
    except transfers.UnknownRegistrationError as error:
        raise ProblemError(404, f"No registration {error.args[0]} is known.") from error
    except ProtectionConflictError as error:
        raise ProblemError(409, str(error)) from error
