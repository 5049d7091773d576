"""Can this process reach the Kafka cluster right now? (the broker part of ``/readyz``).

A fresh client asks the bootstrap servers for the cluster's metadata, bounded by a timeout.
The answer is reused for a second or two so a busy ``/readyz`` does not flood the brokers, and
probes never overlap.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError


class BrokerProbe:
    def __init__(
        self,
        *,
        bootstrap_servers: str,
        client_id: str,
        timeout_seconds: float,
        cache_seconds: float,
        monotonic: Callable[[], float] = time.monotonic,
        security: Mapping[str, Any] | None = None,
    ) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._security = dict(security or {})
        self._client_id = client_id
        self._timeout = timeout_seconds
        self._cache_seconds = cache_seconds
        self._monotonic = monotonic
        self._last: tuple[float, bool, str] | None = None
        self._lock = asyncio.Lock()

    async def reachable(self) -> tuple[bool, str]:
        """(whether the cluster answered, what it said or why not), reused ``cache_seconds``."""
        async with self._lock:
            if self._last is not None and self._monotonic() - self._last[0] < self._cache_seconds:
                return self._last[1], self._last[2]
            ok, detail = await self._ask()
            self._last = (self._monotonic(), ok, detail)
            return ok, detail

    async def _ask(self) -> tuple[bool, str]:
        client = AIOKafkaClient(
            bootstrap_servers=self._bootstrap_servers,
            client_id=self._client_id,
            request_timeout_ms=int(self._timeout * 1000),
            **self._security,
        )
        try:
            async with asyncio.timeout(self._timeout):
                await client.bootstrap()
            brokers = len(client.cluster.brokers())
            return True, f"{brokers} broker(s) in the cluster metadata"
        except (KafkaError, OSError) as error:  # TimeoutError is an OSError
            return False, f"cannot reach {self._bootstrap_servers}: {type(error).__name__}"
        finally:
            await client.close()
