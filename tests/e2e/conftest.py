"""End-to-end fixtures: the three services as processes on PostgreSQL and Kafka."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import fresh_database
from tests.support.infra import ROOT
from tests.support.stack import SERVICES, ServiceStack


def artifacts_dir(request: pytest.FixtureRequest) -> Path:
    return ROOT / "test-artifacts" / re.sub(r"[^\w.-]+", "_", request.node.name)


@pytest.fixture
async def stack(
    request: pytest.FixtureRequest, kafka_bootstrap: str, postgres_server: str, topic_prefix: str
) -> AsyncIterator[ServiceStack]:
    databases = {service: fresh_database(postgres_server) for service in SERVICES}
    urls = {service: await database.__aenter__() for service, database in databases.items()}
    services = ServiceStack(
        kafka_bootstrap=kafka_bootstrap,
        database_urls=urls,
        topic_prefix=topic_prefix,
        artifacts=artifacts_dir(request),
    )
    try:
        yield services
    finally:
        services.stop_all()
        for database in databases.values():
            await database.__aexit__(None, None, None)
