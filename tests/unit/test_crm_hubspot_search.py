"""Sweeping HubSpot's search past its result cap, with a fake search that enforces the cap."""

from __future__ import annotations

from typing import Any

import pytest

from crm_sync.adapters.hubspot_search import modified_between


class CappedSearch:
    """HubSpot's search rules that matter here: filters, one sort, pages of 200, a cap."""

    def __init__(self, modified: dict[int, int], cap: int) -> None:
        self.modified = modified  # object id -> modification ms
        self.cap = cap
        self.calls = 0

    async def __call__(self, request: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        start = int(request.get("after") or 0)
        if start >= self.cap:
            raise AssertionError("paged past the cap: HubSpot answers 400")
        (group,) = request["filterGroups"]
        rows = [
            (i, ms)
            for i, ms in self.modified.items()
            if all(_ok(i, ms, f) for f in group["filters"])
        ]
        sort = request["sorts"][0]["propertyName"]
        rows.sort(key=lambda row: row[1] if sort == "hs_lastmodifieddate" else row[0])
        page = rows[start : min(start + request["limit"], self.cap)]
        answer: dict[str, Any] = {
            "total": len(rows),
            "results": [
                {"id": str(i), "properties": {"hs_lastmodifieddate": str(ms)}} for i, ms in page
            ],
        }
        if start + request["limit"] < len(rows):
            answer["paging"] = {"next": {"after": str(start + request["limit"])}}
        return answer


def _ok(object_id: int, ms: int, flt: dict[str, Any]) -> bool:
    left = ms if flt["propertyName"] == "hs_lastmodifieddate" else object_id
    right = int(flt["value"])
    return {"GTE": left >= right, "LTE": left <= right, "EQ": left == right, "GT": left > right}[
        flt["operator"]
    ]


async def _swept(search: CappedSearch, since: int, until: int) -> set[int]:
    seen: set[int] = set()
    async for page in modified_between(
        search, since_ms=since, until_ms=until, properties=[], cap=search.cap
    ):
        seen.update(int(item["id"]) for item in page)
    return seen


@pytest.mark.parametrize("per_ms", [1, 7])
async def test_every_record_in_the_window_is_read_though_far_more_than_the_cap(per_ms: int) -> None:
    modified = {i: 1_000 + i // per_ms for i in range(5_000)}
    search = CappedSearch(modified, cap=1_000)
    assert await _swept(search, 1_000, 10_000) == set(modified)


async def test_a_millisecond_holding_more_than_the_cap_is_read_whole() -> None:
    modified = {i: 2_000 for i in range(2_500)} | {2_500 + i: 2_001 + i for i in range(500)}
    search = CappedSearch(modified, cap=1_000)
    assert await _swept(search, 1_000, 10_000) == set(modified)


async def test_only_the_window_is_read() -> None:
    modified = {i: 1_000 + i for i in range(3_000)}
    search = CappedSearch(modified, cap=1_000)
    assert await _swept(search, 1_500, 1_600) == set(range(500, 601))
