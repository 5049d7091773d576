"""conflict_resolver's subscriptions (``app.subscriptions``): what it consumes, on which
topics, in which consumer groups, and which of them hear only the declared sender."""

from __future__ import annotations

from conflict_resolver import handlers
from conflict_resolver.app import subscriptions
from conflict_resolver.queue.handlers import PRINCIPALS_CONSUMER
from schemas.flows import CONFLICT_RESOLVER
from schemas.topics import CRM, PRINCIPALS, REGISTRATIONS
from tests.support.events import declaration_unit


def test_conflict_resolver_consumes_what_the_flows_declare() -> None:
    declared = [p for s in subscriptions(declaration_unit()) for p in s.payload_types]
    assert len(declared) == len(set(declared))
    assert set(declared) == set(CONFLICT_RESOLVER.receives)


def test_each_group_reads_one_topic_and_control_topics_hear_only_their_sender() -> None:
    groups = {
        s.consumer: (s.topics, s.trusted_senders_only) for s in subscriptions(declaration_unit())
    }
    assert groups == {
        handlers.SUBMISSIONS_CONSUMER: ([REGISTRATIONS.name], False),
        handlers.CRM_CONSUMER: ([CRM.name], True),
        PRINCIPALS_CONSUMER: ([PRINCIPALS.name], True),
    }
