"""The checked-in event catalogue is exactly what the models generate."""

from __future__ import annotations

from pathlib import Path

from schemas.catalogue import render
from schemas.topics import TOPICS, events_on, topic_for
from tests.support.events import declaration_unit

CATALOGUE = Path(__file__).resolve().parents[2] / "docs" / "events"


def test_checked_in_catalogue_is_not_stale() -> None:
    expected = render()
    on_disk = {path.name: path.read_text() for path in CATALOGUE.iterdir() if path.is_file()}
    assert sorted(on_disk) == sorted(expected), "run `make catalogue`"
    for name, content in expected.items():
        assert on_disk[name] == content, f"{name} is stale: run `make catalogue`"


def test_every_event_type_has_exactly_one_topic() -> None:
    seen: dict[str, str] = {}
    for topic in TOPICS:
        for payload in events_on(topic):
            assert payload.event_type not in seen
            seen[payload.event_type] = topic.name
            assert topic_for(payload) is topic


def test_deal_registration_consumes_what_the_flows_declare() -> None:
    from deal_registration.app import subscriptions
    from schemas.flows import DEAL_REGISTRATION

    declared = {p for s in subscriptions(declaration_unit()) for p in s.payload_types}
    assert declared == set(DEAL_REGISTRATION.receives)


def test_crm_sync_consumes_what_the_flows_declare() -> None:
    import asyncio

    from crm_sync.app import subscriptions
    from crm_sync.handlers import Mirror
    from schemas.flows import CRM_SYNC

    declared = set(subscriptions(declaration_unit(), Mirror(asyncio.Event())).payload_types)
    assert declared == set(CRM_SYNC.receives)
