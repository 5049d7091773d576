"""The problem+json error body (RFC 9457) every error answers with."""

from __future__ import annotations

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
)

from deal_registration.api.models.fields import _Output


class FieldError(_Output):
    field: str = Field(
        description="Dotted path of the bad field (`customer.country`), `header.<name>` or "
        "`query.<name>`.",
        examples=["customer.country"],
    )
    message: str = Field(
        description="What is wrong with it.",
        examples=["is not an ISO 3166-1 alpha-2 country code"],
    )


class Problem(BaseModel):
    """An RFC 9457 problem document (`application/problem+json`)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="A URI naming the problem type.", examples=["about:blank"])
    title: str = Field(description="Short summary.", examples=["Validation failed"])
    status: int = Field(description="The HTTP status code.", examples=[422])
    detail: str = Field(
        description="What went wrong, for a person.", examples=["The request has invalid fields."]
    )
    errors: list[FieldError] | None = Field(
        default=None,
        description="For validation errors: each bad field.",
        examples=[
            [{"field": "customer.country", "message": "is not an ISO 3166-1 alpha-2 country code"}]
        ],
    )
