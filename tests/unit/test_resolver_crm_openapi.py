"""conflict_resolver's and crm_sync's OpenAPI documents: typed, problem+json errors, current."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conflict_resolver import openapi as resolver_openapi
from crm_sync import openapi as crm_openapi
from tests.support.infra import ROOT

DOCUMENTS: dict[str, Callable[[], str]] = {
    "conflict_resolver": resolver_openapi.render,
    "crm_sync": crm_openapi.render,
}
# Request bodies that are domain types of their own (validated by the domain, documented there).
DOMAIN_SCHEMAS = {
    "Policy",
    "ExtensionPolicy",
    "MatchingPolicy",
    "ProductLinePolicy",
    "ReviewPolicy",
    "HouseAccount",
    "HouseAccountList",
}


@pytest.fixture(scope="module", params=sorted(DOCUMENTS))
def service(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def document(service: str) -> dict[str, Any]:
    return dict(json.loads(DOCUMENTS[service]()))


def test_the_checked_in_document_is_current(service: str) -> None:
    checked_in = Path(ROOT / "docs" / "openapi" / f"{service}.json").read_text()
    assert checked_in == DOCUMENTS[service](), (
        f"docs/openapi/{service}.json is stale: run "
        f"`python -m {service}.openapi docs/openapi/{service}.json`"
    )


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, operations in document["paths"].items()
        if path.startswith("/v1/")
        for method, operation in operations.items()
    ]


def test_every_call_answers_a_typed_body_or_nothing(document: dict[str, Any]) -> None:
    untyped = []
    for method, path, operation in _operations(document):
        for code, response in operation["responses"].items():
            if not code.startswith("2"):
                continue
            for media, content in response.get("content", {}).items():
                schema = content.get("schema", {})
                if media == "application/json" and "$ref" not in schema:
                    untyped.append(f"{method} {path} {code}")
    assert untyped == []


def test_every_error_is_a_documented_problem(document: dict[str, Any]) -> None:
    for method, path, operation in _operations(document):
        codes = set(operation["responses"])
        assert {"401", "503"} <= codes, f"{method} {path}"
        if method in {"post", "put"}:
            assert "413" in codes, f"{method} {path}"
        for code, response in operation["responses"].items():
            if code[0] in "45":
                assert list(response["content"]) == ["application/problem+json"], (code, path)
                assert response["content"]["application/problem+json"]["schema"] == {
                    "$ref": "#/components/schemas/Problem"
                }


def test_only_signed_webhooks_and_the_token_stream_go_without_a_bearer_token(
    document: dict[str, Any],
) -> None:
    open_calls = {
        f"{method} {path}" for method, path, op in _operations(document) if op["security"] == []
    }
    assert open_calls <= {
        "get /v1/conflicts/stream",
        "post /v1/webhooks/hubspot",
        "post /v1/webhooks/salesforce",
    }
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_every_response_field_has_a_description_and_an_example(document: dict[str, Any]) -> None:
    missing = []
    for name, schema in document["components"]["schemas"].items():
        if name in DOMAIN_SCHEMAS:
            continue
        for field, spec in schema.get("properties", {}).items():
            if "description" not in spec:
                missing.append(f"{name}.{field}: description")
            if "$ref" not in json.dumps(spec) and "examples" not in spec:
                missing.append(f"{name}.{field}: example")
    assert missing == []
