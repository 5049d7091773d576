"""Field types and the two bases every body derives from."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    StringConstraints,
)

from deal_registration.domain import validation as rules


def _plain_text(value: str) -> str:
    problem = rules.text_problem(value, single_line=True)
    if problem:
        raise ValueError(problem)
    return value


def _long_text(value: str) -> str:
    problem = rules.text_problem(value, single_line=False)
    if problem:
        raise ValueError(problem)
    return value


def _as(check: Any) -> Any:
    """Turn a ``value -> (normalised, problem)`` rule into a pydantic after-validator."""

    def validate(value: Any) -> Any:
        normalised, problem = check(value)
        if problem:
            raise ValueError(problem)
        return normalised

    return AfterValidator(validate)


ShortText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=rules.SHORT_TEXT_MAX),
    AfterValidator(_plain_text),
]
LongText = Annotated[
    str, StringConstraints(max_length=rules.LONG_TEXT_MAX), AfterValidator(_long_text)
]
Reference = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=rules.REFERENCE_MAX),
    AfterValidator(_plain_text),
]
Slug = Annotated[str, StringConstraints(pattern=rules.SLUG_PATTERN, max_length=rules.SLUG_MAX)]
CountryCode = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=8), _as(rules.normalise_country)
]
CurrencyCode = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=8), _as(rules.normalise_currency)
]
WebDomain = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=rules.DOMAIN_INPUT_MAX),
    _as(rules.normalise_domain),
]
DealType = Literal["new", "renewal", "upsell"]
RegistrationRole = Literal["sourced", "influence"]
CoSellRole = Literal["distributor", "reseller", "msp", "referral"]
PartnerTier = Literal["registered", "silver", "gold", "platinum"]
PartnerStatus = Literal["active", "suspended"]
RegistrationStatus = Literal[
    "submitted",
    "accepted",
    "pending_review",
    "approved",
    "rejected",
    "won",
    "lost",
    "expired",
    "withdrawn",
    "action_required",
    "transferred",
]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=rules.LONG_TEXT_MAX)


class _Output(BaseModel):
    model_config = ConfigDict(extra="forbid")
