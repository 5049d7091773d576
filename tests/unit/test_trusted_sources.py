"""Who may speak on a topic: the sources ``schemas.flows`` declares for each event."""

from __future__ import annotations

from schemas.crm import CrmDealClosed
from schemas.flows import SERVICES, is_trusted_source, sender_source
from schemas.principals import ApiKeyRevoked, OpsKeyIssued
from schemas.registration import ConflictEscalated


def test_only_deal_registration_speaks_on_principals() -> None:
    for event in (OpsKeyIssued, ApiKeyRevoked):
        assert is_trusted_source(event, "/dealreg/deal_registration")
        assert not is_trusted_source(event, "/dealreg/crm_sync")
        assert not is_trusted_source(event, "/evil")
        assert not is_trusted_source(event, "/dealreg/deal_registration_evil")


def test_only_crm_sync_closes_deals() -> None:
    assert is_trusted_source(CrmDealClosed, "/dealreg/crm_sync")
    assert not is_trusted_source(CrmDealClosed, "/dealreg/deal_registration")


def test_a_component_path_below_the_service_source_is_the_service() -> None:
    assert is_trusted_source(ConflictEscalated, "/dealreg/conflict_resolver/queue")


def test_every_service_declares_its_source() -> None:
    assert [service.source for service in SERVICES] == [
        f"/dealreg/{service.name}" for service in SERVICES
    ]


def test_the_sender_source_of_an_event_is_its_owners() -> None:
    assert sender_source(OpsKeyIssued) == "/dealreg/deal_registration"
    assert sender_source(CrmDealClosed) == "/dealreg/crm_sync"
