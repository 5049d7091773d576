"""The OpenAPI document every service serves: errors answered only as problem+json.

FastAPI lists every error response under ``application/json`` and adds its own 422 schema;
our services answer errors only with the :class:`Problem` schema (RFC 9457). Routes declare
their problem answers with :func:`problems`; :func:`build_document` keeps only the
problem+json content of each error, adds the ``Problem`` schema and marks every ``/v1/``
call as needing a bearer token, except those that declare their own ``security`` (CRM
webhooks are signed instead; the console's event stream takes a stream token).

:func:`render` gives the document as checked in under ``docs/openapi/``; a unit test per
service fails when that copy is stale.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field

PROBLEM_JSON = "application/problem+json"

_DESCRIPTIONS = {
    400: "The body is not valid JSON (or not the JSON this call takes)",
    401: "Missing, unknown or revoked bearer token",
    403: "The token may not do this",
    404: "Not found",
    409: "The resource's state does not allow this",
    413: "The body is larger than the limit (64 KiB; webhooks 512 KiB)",
    415: "The body is not application/json",
    422: "Invalid fields, each named in `errors`",
    429: "Too many requests; see `Retry-After`",
    503: "The service's database (or the CRM) is unavailable for a moment; retry later",
}


class FieldError(BaseModel):
    """One bad field of a request."""

    model_config = ConfigDict(extra="forbid")

    field: str = Field(
        description="Dotted path of the bad field (`reason`), `header.<name>` or `query.<name>`.",
        examples=["query.limit"],
    )
    message: str = Field(description="What is wrong with it.", examples=["is required"])


class Problem(BaseModel):
    """An RFC 9457 problem document (`application/problem+json`)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="A URI naming the problem type.", examples=["about:blank"])
    title: str = Field(description="Short summary.", examples=["Not Found"])
    status: int = Field(description="The HTTP status code.", examples=[404])
    detail: str = Field(description="What went wrong, for a person.", examples=["No such case."])
    errors: list[FieldError] | None = Field(
        default=None,
        description="For validation errors: each bad field.",
        examples=[[{"field": "reason", "message": "is required"}]],
    )


def problems(*codes: int, **described: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problem answers a route may give (always also 503: a database
    that is unavailable for a moment). ``described`` overrides a code's description:
    ``problems(404, _404="No such conflict case")``."""
    entries: dict[int | str, dict[str, Any]] = {}
    for code in sorted({*codes, 503}):
        entry: dict[str, Any] = {
            "description": described.get(f"_{code}", _DESCRIPTIONS[code]),
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        if code == 503:
            entry["headers"] = {
                "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}
            }
        entries[code] = entry
    return entries


READ = (401, 422)
WRITE = (400, 401, 413, 415, 422)


def build_document(app: FastAPI, *, tags: Iterable[dict[str, str]] = ()) -> dict[str, Any]:
    """FastAPI's document with errors answered only as problem+json and bearer security."""
    document = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=list(tags) or None,
    )
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem.pop("$defs", {}))
    schemas["Problem"] = problem
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    document["components"]["securitySchemes"] = {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "A sales-ops API key or the admin token.",
        }
    }
    for path, operations in document["paths"].items():
        for operation in operations.values():
            if path.startswith("/v1/"):
                operation.setdefault("security", [{"bearer": []}])
            for code, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if code.startswith(("4", "5")) and PROBLEM_JSON in content:
                    response["content"] = {PROBLEM_JSON: content[PROBLEM_JSON]}
    return document


def install(app: FastAPI, *, tags: Iterable[dict[str, str]] = ()) -> None:
    """Serve :func:`build_document` at ``/openapi.json`` (and so in ``/docs``)."""
    tag_list = list(tags)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_document(app, tags=tag_list)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def render(create_app: Callable[[], FastAPI]) -> str:
    """The document as checked in: sorted keys, two-space indent, a final newline."""
    return json.dumps(create_app().openapi(), indent=2, sort_keys=True) + "\n"
