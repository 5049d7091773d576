"""Bodies are limited while they are read, before authentication, chunked or not, on every
service (the shared ``build_api``); metrics keep a fixed label set whatever method is made up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, Request
from prometheus_client import REGISTRY
from pydantic import BaseModel

from services.http.app import build_api
from services.http.security import unauthorized


def _authenticated(authorization: Annotated[str, Header()] = "") -> None:
    if authorization != "Bearer right":
        raise unauthorized()


class Thing(BaseModel):
    name: str


router = APIRouter()


@router.post("/v1/things", status_code=201, dependencies=[Depends(_authenticated)])
async def create_thing(thing: Thing) -> Thing:
    return thing


@router.post("/v1/webhooks/hubspot", status_code=204)
async def webhook(request: Request) -> None:
    await request.body()


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = build_api(title="t", description="t", lifespan=_lifespan, routers=[router])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        yield client


async def _chunks(total: int, sent: list[int]) -> AsyncIterator[bytes]:
    chunk = b"x" * 8192
    while sent[0] < total:
        sent[0] += len(chunk)
        yield chunk
        await asyncio.sleep(0)


@pytest.mark.parametrize(("path", "ceiling"), [("/v1/things", 1), ("/v1/webhooks/hubspot", 2)])
async def test_a_streamed_body_is_refused_as_soon_as_it_passes_the_limit(
    client: httpx.AsyncClient, path: str, ceiling: int
) -> None:
    sent = [0]
    response = await client.post(
        path,
        content=_chunks(10 * 1024 * 1024, sent),  # 10 MiB, chunked: no Content-Length
        headers={"content-type": "application/json", "authorization": "Bearer wrong"},
    )
    assert response.status_code == 413  # not 401: the limit comes before authentication
    assert response.headers["content-type"] == "application/problem+json"
    assert sent[0] < ceiling * 1024 * 1024  # it stopped reading long before the end


async def test_a_declared_length_over_the_limit_is_refused_before_reading(
    client: httpx.AsyncClient,
) -> None:
    request = client.build_request(
        "POST", "/v1/things", content=b"{}", headers={"content-type": "application/json"}
    )
    request.headers["content-length"] = str(10 * 1024 * 1024)
    assert (await client.send(request)).status_code == 413


@pytest.mark.parametrize("length", ["²", "1e3", "-1", "0x10"])
async def test_a_content_length_that_is_not_ascii_digits_is_a_400(
    client: httpx.AsyncClient, length: str
) -> None:
    request = client.build_request(
        "POST", "/v1/things", content=b"{}", headers={"content-type": "application/json"}
    )
    request.headers["content-length"] = length
    assert (await client.send(request)).status_code == 400


async def test_a_body_that_is_not_json_is_a_415(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/things", content=b"name=x", headers={"content-type": "text/plain"}
    )
    assert response.status_code == 415


async def test_a_body_within_the_limit_reaches_authentication_and_the_route(
    client: httpx.AsyncClient,
) -> None:
    body = {"name": "x" * 60_000}
    assert (await client.post("/v1/things", json=body)).status_code == 401
    authorised = await client.post(
        "/v1/things", json=body, headers={"authorization": "Bearer right"}
    )
    assert authorised.status_code == 201


def _series() -> int:
    return sum(
        len(metric.samples)
        for metric in REGISTRY.collect()
        if metric.name.startswith("dealreg_http_request")
    )


async def test_made_up_methods_do_not_mint_metric_series(client: httpx.AsyncClient) -> None:
    await client.request("BREW", "/v1/things")
    before = _series()
    for index in range(50):
        await client.request(f"M{index}X", "/v1/things")
    assert _series() == before


def _observed(route: str, status: str) -> float:
    value = REGISTRY.get_sample_value(
        "dealreg_http_request_duration_seconds_count",
        {"method": "POST", "route": route, "status": status},
    )
    return value or 0.0


async def test_each_request_is_timed_under_its_route_template_and_status(
    client: httpx.AsyncClient,
) -> None:
    created, refused = _observed("/v1/things", "201"), _observed("/v1/things", "401")
    unmatched = _observed("unmatched", "404")

    await client.post("/v1/things", json={"name": "a"}, headers={"Authorization": "Bearer right"})
    await client.post("/v1/things", json={"name": "a"})
    await client.post("/v1/nowhere", json={})

    assert _observed("/v1/things", "201") == created + 1
    assert _observed("/v1/things", "401") == refused + 1
    assert _observed("unmatched", "404") == unmatched + 1
