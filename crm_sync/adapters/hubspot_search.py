"""HubSpot's CRM search, swept by modification time past its limits.

One search query answers at most 10,000 results (asking for a page past them is a 400), and
200 per page. So a sweep sorts by ``hs_lastmodifieddate`` ascending and, before the next page
would cross the cap, starts a new query whose lower bound is the newest modification time it has
seen (``GTE``: the records on that millisecond are read again, which is harmless). If a whole
query's worth of records share one millisecond, that millisecond is read on its own, by
``hs_object_id``, and the sweep goes on from the next one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

SEARCH_CAP = 10_000
SEARCH_PAGE = 200
MODIFIED = "hs_lastmodifieddate"

Search = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


def modified_ms(item: dict[str, Any]) -> int:
    raw = str(item.get("properties", {}).get(MODIFIED) or item.get("updatedAt") or "0")
    if raw.isdigit():
        return int(raw)
    return int(datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp() * 1000)


def _request(
    filters: list[dict[str, Any]], sort_by: str, properties: list[str], after: str | None
) -> dict[str, Any]:
    request: dict[str, Any] = {
        "filterGroups": [{"filters": filters}],
        "sorts": [{"propertyName": sort_by, "direction": "ASCENDING"}],
        "properties": properties,
        "limit": SEARCH_PAGE,
    }
    if after is not None:
        request["after"] = after
    return request


async def _pages(
    search: Search,
    filters: list[dict[str, Any]],
    sort_by: str,
    properties: list[str],
    outcome: dict[str, bool],
    cap: int,
) -> AsyncIterator[list[dict[str, Any]]]:
    """One query's pages; ``outcome["complete"]`` says whether it ran out before the cap."""
    after: str | None = None
    seen = 0
    outcome["complete"] = False
    while True:
        answer = await search(_request(filters, sort_by, properties, after))
        results = list(answer.get("results", []))
        if results:
            yield results
        seen += len(results)
        after = answer.get("paging", {}).get("next", {}).get("after")
        if not after:
            outcome["complete"] = True
            return
        if seen + SEARCH_PAGE > cap:
            return


async def modified_between(
    search: Search, *, since_ms: int, until_ms: int, properties: list[str], cap: int = SEARCH_CAP
) -> AsyncIterator[list[dict[str, Any]]]:
    """Every record modified from ``since_ms`` to ``until_ms``, pages oldest first."""
    lower = since_ms
    while True:
        outcome: dict[str, bool] = {}
        newest = lower
        filters = [
            {"propertyName": MODIFIED, "operator": "GTE", "value": str(lower)},
            {"propertyName": MODIFIED, "operator": "LTE", "value": str(until_ms)},
        ]
        async for results in _pages(search, filters, MODIFIED, properties, outcome, cap):
            newest = max(newest, modified_ms(results[-1]))
            yield results
        if outcome["complete"]:
            return
        if newest > lower:
            lower = newest
            continue
        async for results in _same_millisecond(search, lower, properties, cap):
            yield results
        lower += 1


async def _same_millisecond(
    search: Search, at_ms: int, properties: list[str], cap: int
) -> AsyncIterator[list[dict[str, Any]]]:
    last_id = 0
    while True:
        outcome: dict[str, bool] = {}
        filters = [
            {"propertyName": MODIFIED, "operator": "EQ", "value": str(at_ms)},
            {"propertyName": "hs_object_id", "operator": "GT", "value": str(last_id)},
        ]
        async for results in _pages(search, filters, "hs_object_id", properties, outcome, cap):
            last_id = int(results[-1]["id"])
            yield results
        if outcome["complete"]:
            return
