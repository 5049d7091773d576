"""The sandbox's in-memory CRM: objects with properties, change notices, faults, counters."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any


def now_ms() -> int:
    return int(time.time() * 1000)


def iso(ms: int) -> str:
    return (
        datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    )


@dataclass
class Record:
    id: str
    properties: dict[str, Any]
    created_ms: int
    updated_ms: int
    archived: bool = False
    archived_ms: int | None = None
    modified_by: str = ""


@dataclass
class Faults:
    """What the next calls do: fail with a status, wait, or lose webhooks."""

    status: int | None = None
    count: int = 0
    retry_after: float | None = None
    latency_ms: int = 0
    target: str = "any"
    drop_webhooks: int = 0
    fail_item_ids: set[str] = field(default_factory=set)

    def take(self, target: str) -> int | None:
        if self.count > 0 and self.status and self.target in ("any", target):
            self.count -= 1
            return self.status
        return None


@dataclass
class Notice:
    """A change waiting to be delivered as a webhook event."""

    target: str
    body: dict[str, Any]
    attempts: int = 0
    due: float = 0.0


class ObjectStore:
    """One CRM's objects of one type, with a monotonic modification clock."""

    def __init__(self, prefix: str = "", start: int = 10_000_000_001) -> None:
        self.records: dict[str, Record] = {}
        self._ids = itertools.count(start)
        self._prefix = prefix
        self._last_ms = 0
        # The search index: each record as it was when last indexed (see ``searchable``).
        self._indexed: dict[str, Record] = {}

    def tick(self) -> int:
        self._last_ms = max(now_ms(), self._last_ms + 1)
        return self._last_ms

    def new_id(self) -> str:
        number = next(self._ids)
        if self._prefix:
            return f"{self._prefix}{number:012d}AAA"
        return str(number)

    def live(self) -> list[Record]:
        return [r for r in self.records.values() if not r.archived]

    def searchable(self, delay_ms: int) -> list[Record]:
        """What a search sees: each live record as of its last write at least ``delay_ms`` old.

        A write younger than the delay is not in the index yet: a new record is not found, an
        updated one is found with its previous values (and previous modification time).
        """
        if delay_ms <= 0:
            return self.live()
        horizon = now_ms() - delay_ms
        for record in self.records.values():
            seen = self._indexed.get(record.id)
            if record.updated_ms <= horizon and (
                seen is None or seen.updated_ms != record.updated_ms
            ):
                self._indexed[record.id] = replace(record, properties=dict(record.properties))
        return [record for record in self._indexed.values() if not record.archived]

    def find(self, prop: str, value: str) -> Record | None:
        for record in self.records.values():
            if not record.archived and str(record.properties.get(prop)) == value:
                return record
        return None


@dataclass
class Counters:
    calls: dict[str, int] = field(default_factory=lambda: {"hubspot": 0, "salesforce": 0})
    faults_served: int = 0
    rate_limited: int = 0
    webhooks_sent: int = 0
    webhooks_failed: int = 0
    webhooks_dropped: int = 0
    webhook_events_duplicated: int = 0
    # Writes to a sales-owned field by the integration after creation: must stay 0.
    echo_writes: int = 0
    integration_writes: int = 0
    # Every deal (opportunity) record the integration wrote, created or updated: a deal pushed
    # twice counts twice.
    deal_writes: dict[str, int] = field(default_factory=lambda: {"hubspot": 0, "salesforce": 0})
    creations: dict[str, int] = field(default_factory=lambda: {"hubspot": 0, "salesforce": 0})


class Sandbox:
    def __init__(self) -> None:
        self.hubspot: dict[str, ObjectStore] = {
            "deals": ObjectStore(),
            "companies": ObjectStore(start=20_000_000_001),
        }
        self.hubspot_assoc: dict[str, set[str]] = {}
        self.salesforce: dict[str, ObjectStore] = {
            "Opportunity": ObjectStore(prefix="006"),
            "Account": ObjectStore(prefix="001"),
            # Partner accounts on an opportunity: create, delete and query only, as in
            # Salesforce (a role changes by deleting the record and creating another).
            "OpportunityPartner": ObjectStore(prefix="00I"),
        }
        self.faults = Faults()
        self.counters = Counters()
        self.outbox: list[Notice] = []
        self.salesforce_tokens: dict[str, str] = {}  # token -> user id
        self.windows: dict[str, list[float]] = {}

    def reset(self) -> None:
        tokens = self.salesforce_tokens
        self.__init__()  # type: ignore[misc]
        self.salesforce_tokens = tokens
