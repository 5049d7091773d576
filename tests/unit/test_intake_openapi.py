"""The OpenAPI document is complete and the checked-in copy is current."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deal_registration.openapi import render
from tests.support.infra import ROOT

CHECKED_IN = ROOT / "docs" / "openapi" / "deal_registration.json"


def test_the_checked_in_document_is_current() -> None:
    assert Path(CHECKED_IN).read_text() == render(), (
        "docs/openapi/deal_registration.json is stale: run "
        "`python -m deal_registration.openapi docs/openapi/deal_registration.json`"
    )


def _document() -> dict[str, Any]:
    import json

    return dict(json.loads(render()))


def _is_reference(schema: dict[str, Any]) -> bool:
    if "$ref" in schema:
        return True
    options = schema.get("anyOf", [])
    items = schema.get("items", {})
    return any("$ref" in option for option in options) or "$ref" in items


def test_every_field_has_a_description_and_an_example() -> None:
    missing = []
    for name, schema in _document()["components"]["schemas"].items():
        for field, spec in schema.get("properties", {}).items():
            if "description" not in spec:
                missing.append(f"{name}.{field}: description")
            if not _is_reference(spec) and "examples" not in spec and "example" not in spec:
                missing.append(f"{name}.{field}: example")
    assert missing == []


def test_every_call_lists_its_error_responses_as_problems() -> None:
    document = _document()
    for path, operations in document["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert {"401", "403", "429"} <= codes, f"{method} {path}"
            if method in {"post", "put", "patch"}:
                assert {"400", "413", "415", "422"} <= codes, f"{method} {path}"
            for code, response in operation["responses"].items():
                if code.startswith("4"):
                    assert list(response["content"]) == ["application/problem+json"]


def test_withdraw_and_extension_document_their_conflicts() -> None:
    paths = _document()["paths"]
    for action in ("withdraw", "extension"):
        assert (
            "409" in paths[f"/v1/registrations/{{registration_id}}/{action}"]["post"]["responses"]
        )


async def test_a_wrong_method_lists_every_allowed_one() -> None:
    import httpx

    from deal_registration.app import create_app

    transport = httpx.ASGITransport(app=create_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
        response = await client.request("OPTIONS", "/v1/webhook")
    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET, PUT"
    assert response.headers["content-type"] == "application/problem+json"
