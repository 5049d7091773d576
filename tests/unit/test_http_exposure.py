"""What a listener shows besides the API, and what a service accepts before it starts.

``/docs``, ``/redoc``, ``/openapi.json`` and ``/metrics`` are on in development, off in
production (404), and ``/metrics`` with a metrics token answers only to it. A service bound
to every interface refuses to start while any setting has its development default, naming
each one; settings errors never echo the secret they refused.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace

import httpx
import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI
from pydantic import ValidationError

from conflict_resolver.settings import ResolverSettings
from crm_sync.settings import CrmSyncSettings
from deal_registration.settings import RegistrationSettings
from services.http.app import build_api
from services.settings import HttpSettings, SecuritySettings
from tests.support.infra import ROOT

DOC_PATHS = ("/docs", "/redoc", "/openapi.json")
METRICS_TOKEN = "metrics-token-0123456789abcdefghij"
REAL_TOKEN = "a-real-admin-token-0123456789abcdef"
POSTGRES = "postgresql+asyncpg://dealreg:pw@db:5432/deal_registration"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("DEALREG_"):
            monkeypatch.delenv(name)


def _app(http: HttpSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.runtime = SimpleNamespace(settings=SimpleNamespace(http=http))
        yield

    return build_api(title="t", description="t", lifespan=lifespan, routers=[])


async def _statuses(http: HttpSettings, headers: dict[str, str] | None = None) -> dict[str, int]:
    app = _app(http)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://service") as client,
    ):
        paths = (*DOC_PATHS, "/metrics", "/healthz")
        return {path: (await client.get(path, headers=headers)).status_code for path in paths}


@pytest.mark.parametrize("env", ["development", "test"])
async def test_docs_and_metrics_are_served_outside_production(env: str) -> None:
    statuses = await _statuses(HttpSettings(DEALREG_ENV=env))
    assert statuses == dict.fromkeys((*DOC_PATHS, "/metrics", "/healthz"), 200)


async def test_production_hides_docs_and_metrics_by_default() -> None:
    statuses = await _statuses(HttpSettings(DEALREG_ENV="production"))
    assert statuses == {**dict.fromkeys((*DOC_PATHS, "/metrics"), 404), "/healthz": 200}


async def test_a_setting_opens_or_closes_each_part() -> None:
    opened = await _statuses(HttpSettings(DEALREG_ENV="production", expose_docs=True))
    assert [opened[path] for path in DOC_PATHS] == [200, 200, 200]
    assert opened["/metrics"] == 404
    closed = await _statuses(HttpSettings(expose_docs=False, expose_metrics=False))
    assert closed == {**dict.fromkeys((*DOC_PATHS, "/metrics"), 404), "/healthz": 200}


async def test_the_metrics_token_guards_metrics_in_production() -> None:
    http = HttpSettings(DEALREG_ENV="production", metrics_token=METRICS_TOKEN)
    assert (await _statuses(http))["/metrics"] == 401
    wrong = await _statuses(http, {"Authorization": "Bearer not-the-token"})
    assert wrong["/metrics"] == 401
    right = await _statuses(http, {"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert right["/metrics"] == 200
    assert [right[path] for path in DOC_PATHS] == [404, 404, 404]


def test_a_weak_metrics_token_is_refused() -> None:
    with pytest.raises(ValidationError, match="DEALREG_HTTP_METRICS_TOKEN"):
        HttpSettings(metrics_token="changeme")


def test_every_interface_with_development_defaults_is_refused_naming_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEALREG_HTTP_HOST", "0.0.0.0")  # noqa: S104
    monkeypatch.setenv("DEALREG_ENV", "production")
    monkeypatch.setenv("DEALREG_KAFKA_ALLOW_PLAINTEXT", "true")
    monkeypatch.setenv("DEALREG_ADMIN_TOKEN", "short-token")
    monkeypatch.setenv("DEALREG_DATABASE_URL", "sqlite+aiosqlite:///dev.db")
    with pytest.raises(ValidationError) as refused:
        RegistrationSettings()
    message = str(refused.value)
    # The weak token is refused by the production rule first, and never echoed.
    assert "DEALREG_ADMIN_TOKEN" in message
    assert "short-token" not in message

    monkeypatch.setenv("DEALREG_ADMIN_TOKEN", REAL_TOKEN)
    with pytest.raises(ValidationError) as refused:
        RegistrationSettings()
    message = str(refused.value)
    assert "DEALREG_HTTP_HOST=0.0.0.0" in message
    assert "DEALREG_DATABASE_URL" in message
    assert "DEALREG_WEBHOOK_SECRET_KEY" in message
    assert "DEALREG_ADMIN_TOKEN" not in message


def test_development_mode_on_every_interface_is_refused_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEALREG_HTTP_HOST", "::")
    monkeypatch.setenv("DEALREG_ADMIN_TOKEN", "dev")
    monkeypatch.setenv("DEALREG_DATABASE_URL", POSTGRES)
    with pytest.raises(ValidationError, match=r"DEALREG_ADMIN_TOKEN \(a placeholder"):
        ResolverSettings()


def test_crm_sync_names_the_empty_secrets_of_its_connector(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEALREG_HTTP_HOST", "0.0.0.0")  # noqa: S104
    monkeypatch.setenv("DEALREG_ADMIN_TOKEN", REAL_TOKEN)
    monkeypatch.setenv("DEALREG_DATABASE_URL", POSTGRES)
    monkeypatch.setenv("DEALREG_CRM_CONNECTOR", "hubspot")
    monkeypatch.setenv("DEALREG_CRM_HUBSPOT_TOKEN", "pat-na1-0123456789abcdef")
    with pytest.raises(ValidationError) as refused:
        CrmSyncSettings()
    assert "DEALREG_CRM_HUBSPOT_CLIENT_SECRET (empty)" in str(refused.value)
    assert "DEALREG_CRM_HUBSPOT_TOKEN" not in str(refused.value)
    monkeypatch.setenv("DEALREG_CRM_HUBSPOT_CLIENT_SECRET", "a-client-secret-0123456789")
    assert CrmSyncSettings().http.all_interfaces


def test_real_values_on_every_interface_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEALREG_HTTP_HOST", "0.0.0.0")  # noqa: S104
    monkeypatch.setenv("DEALREG_ENV", "production")
    monkeypatch.setenv("DEALREG_KAFKA_ALLOW_PLAINTEXT", "true")
    monkeypatch.setenv("DEALREG_ADMIN_TOKEN", REAL_TOKEN)
    monkeypatch.setenv("DEALREG_DATABASE_URL", POSTGRES)
    monkeypatch.setenv("DEALREG_WEBHOOK_SECRET_KEY", Fernet.generate_key().decode())
    settings = RegistrationSettings()
    assert settings.development_defaults() == []
    assert not settings.http.docs_on
    assert not settings.http.metrics_on


def test_loopback_keeps_development_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEALREG_ADMIN_TOKEN", "dev")
    monkeypatch.setenv("DEALREG_DATABASE_URL", "sqlite+aiosqlite:///dev.db")
    assert RegistrationSettings().http.host == "127.0.0.1"


def test_a_refused_secret_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEALREG_ENV", "production")
    monkeypatch.setenv("DEALREG_ADMIN_TOKEN", "leaky-but-short")
    with pytest.raises(ValidationError) as refused:
        SecuritySettings()
    assert "leaky-but-short" not in str(refused.value)


def test_serve_refuses_to_start_on_every_interface_with_development_defaults(
    tmp_path: os.PathLike[str],
) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DEALREG_")},
        "DEALREG_HTTP_HOST": "0.0.0.0",  # noqa: S104
        "DEALREG_HTTP_PORT": "1",  # never bound: the refusal comes first
        "DEALREG_ADMIN_TOKEN": "dev",
        "DEALREG_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/dev.db",
    }
    done = subprocess.run(
        [sys.executable, "-m", "services.http.serve", "deal_registration"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "DEALREG_HTTP_HOST=0.0.0.0" in done.stderr
    assert "DEALREG_WEBHOOK_SECRET_KEY" in done.stderr
    assert "Uvicorn running" not in done.stderr
