"""End-to-end fixtures: the three services as processes on Kafka and on a database of each
kind (a SQLite file per service, or a PostgreSQL database per service)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.databases import Databases
from tests.support.infra import ROOT
from tests.support.stack import ServiceStack, service_databases


def artifacts_dir(request: pytest.FixtureRequest) -> Path:
    return ROOT / "test-artifacts" / re.sub(r"[^\w.-]+", "_", request.node.name)


@pytest.fixture
async def stack(
    request: pytest.FixtureRequest, kafka_bootstrap: str, databases: Databases, topic_prefix: str
) -> AsyncIterator[ServiceStack]:
    async with service_databases(databases) as urls:
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
