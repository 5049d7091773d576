"""The CRM drain benchmark's path, short and untimed (tests/bench/bench_crm_drain.py --short):
a backlog of approvals already on the decisions topic, crm_sync as a process mirroring into the
HubSpot sandbox with its documented limits; every approval becomes exactly one deal."""

from __future__ import annotations

import pytest

from tests.bench.bench_crm_drain import SHORT, approvals, drain
from tests.e2e.conftest import artifacts_dir

pytestmark = pytest.mark.integration


async def test_a_backlog_of_approvals_is_mirrored_once_each(
    request: pytest.FixtureRequest, postgres_url: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    events = approvals(SHORT)

    result = await drain(
        postgres_url, kafka_bootstrap, topic_prefix, events, artifacts=artifacts_dir(request)
    )

    assert set(result.deals_per_registration) == {e.data.registration_id for e in events}
    assert result.duplicates == 0
    assert max(result.deals_per_registration.values()) == 1
    assert result.samples[-1].deals == SHORT
    assert result.samples[-1].mirrored == SHORT
