"""``dealreg matching calibrate``: shows the resolver's proposal and publishes it only when
asked, as the policy document the resolver returned (against a fake resolver)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from services.cli import matching
from services.cli.main import app

PROPOSAL: dict[str, Any] = {
    "policy_version": 3,
    "decisions": 100,
    "target_precision": 0.99,
    "current": {"same_account": 0.92, "review": 0.8},
    "proposed": {"same_account": 0.88, "review": 0.86},
    "steps": [
        {"similarity": 0.8, "probability": 0.0, "support": 50},
        {"similarity": 0.88, "probability": 1.0, "support": 35},
    ],
    "what_if": {"changed": 85, "different->different": 50, "same->same": 35},
    "note": "100 decisions in the band, 2 steps",
    "policy": {"matching": {"same_account": 0.88, "review": 0.86}},
}


@pytest.fixture
def requests(monkeypatch: pytest.MonkeyPatch) -> list[httpx.Request]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "POST":
            return httpx.Response(200, json=PROPOSAL)
        return httpx.Response(200, json={"version": 4, "policy": json.loads(request.content)})

    @contextmanager
    def fake_api(_target: object, _service: str) -> Iterator[httpx.Client]:
        with httpx.Client(transport=httpx.MockTransport(handle), base_url="http://r") as client:
            yield client

    monkeypatch.setattr(matching, "api", fake_api)
    monkeypatch.setattr(matching, "load_target", lambda: None)
    return seen


def test_calibrate_shows_the_proposal_and_publishes_nothing(requests: list[httpx.Request]) -> None:
    result = CliRunner().invoke(app, ["matching", "calibrate"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert [r.method for r in requests] == ["POST"]
    assert json.loads(requests[0].content) == {"target_precision": None}
    assert "0.88" in result.output
    assert "same->same" in result.output
    assert "Nothing published" in result.output


def test_calibrate_publish_puts_the_proposed_policy_as_a_new_version(
    requests: list[httpx.Request],
) -> None:
    result = CliRunner().invoke(
        app, ["matching", "calibrate", "--target-precision", "0.995", "--publish", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert [(r.method, r.url.path) for r in requests] == [
        ("POST", "/v1/matching/calibration"),
        ("PUT", "/v1/policy"),
    ]
    assert json.loads(requests[0].content) == {"target_precision": 0.995}
    assert json.loads(requests[1].content) == PROPOSAL["policy"]
    assert json.loads(result.output)["published"]["version"] == 4
