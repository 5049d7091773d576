"""The OpenAPI document of deal_registration, as served at ``/openapi.json`` (and ``/docs``).

``python -m deal_registration.openapi docs/openapi/deal_registration.json`` writes the checked-in
copy; a unit test fails when that copy is stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from deal_registration.api.models import Problem

PROBLEM_JSON = "application/problem+json"


def build_document(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, with errors answered only as problem+json.

    FastAPI lists every error response under ``application/json`` too and adds its own 422
    schema; this service answers errors only with the ``Problem`` schema.
    """
    document = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=[
            {"name": "registrations", "description": "A partner's registrations."},
            {"name": "webhook", "description": "Status changes POSTed to the partner."},
            {"name": "admin", "description": "Partners, ops users and API keys."},
            {"name": "operations", "description": "Health, readiness and metrics."},
        ],
    )
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, schema in (
        Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        .get("$defs", {})
        .items()
    ):
        schemas[name] = schema
    schemas["Problem"].pop("$defs", None)
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    document["components"]["securitySchemes"] = {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key or the admin token.",
        }
    }
    for path, operations in document["paths"].items():
        for operation in operations.values():
            if path.startswith("/v1/"):
                operation["security"] = [{"bearer": []}]
            for code, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if code.startswith(("4", "5")) and PROBLEM_JSON in content:
                    response["content"] = {PROBLEM_JSON: content[PROBLEM_JSON]}
    return document


def install(app: FastAPI) -> None:
    """Serve :func:`build_document` at ``/openapi.json`` (and so in ``/docs``)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def render() -> str:
    from deal_registration.app import create_app

    return json.dumps(create_app().openapi(), indent=2, sort_keys=True) + "\n"


def main() -> None:
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/openapi/deal_registration.json")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render())


if __name__ == "__main__":
    main()
