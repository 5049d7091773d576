"""Only the owner may speak on a control topic: an event from any other source is poison.

Producing to ``dealreg.principals`` would otherwise mint an ops key, and producing to
``dealreg.crm`` close a registration. ACLs keep other principals off those topics at the
broker (``services.kafka.acls``); this check keeps a consumer from acting on an event whose
CloudEvents ``source`` is not one of the services ``schemas.flows`` declares as its sender,
whatever got it onto the topic. The consumer dead-letters such an event with the reason
(``untrusted source ...``), and nothing is applied: the check runs before the handler, so no
inbox row is claimed either.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from schemas.envelope import EventEnvelope, EventPayload
from schemas.flows import is_trusted_source, senders_of
from services.kafka.consumer import EventHandler, PoisonEventError


class UntrustedSourceError(PoisonEventError):
    """An event whose ``source`` is not a service declared to send it."""


def check_source(envelope: EventEnvelope[Any], payload_type: type[EventPayload]) -> None:
    """Raise :class:`UntrustedSourceError` unless ``envelope`` comes from a declared sender."""
    if not is_trusted_source(payload_type, envelope.source):
        senders = ", ".join(service.source for service in senders_of(payload_type)) or "nobody"
        raise UntrustedSourceError(
            f"untrusted source {envelope.source!r} for {envelope.type}: only {senders} may send it"
        )


def only_from_senders(handlers: Mapping[str, EventHandler]) -> dict[str, EventHandler]:
    """``handlers`` (by event type), each refusing events not sent by a declared sender."""
    return {event_type: _guarded(handler) for event_type, handler in handlers.items()}


def _guarded(handler: EventHandler) -> EventHandler:
    async def handle(envelope: EventEnvelope[Any]) -> None:
        check_source(envelope, type(envelope.data))
        await handler(envelope)

    return handle
