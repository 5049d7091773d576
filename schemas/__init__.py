"""Event contracts shared by the dealreg services.

The map of this package:

- ``envelope``: the CloudEvents 1.0 envelope every event travels in, and its Kafka binary
  binding (``ce_*`` headers, the data as the value, the account key as the Kafka key).
- ``registration``: the events about one registration's lifecycle.
- ``crm``: the events about the CRM side (mirrored, changed, closed, direct opportunities).
- ``accounts``: the customer account's matching key (every event's Kafka key).
- ``topics``: every Kafka topic, declared once, and which event type goes to which topic.
- ``flows``: which service sends and which receives each event (the AsyncAPI operations).
- ``catalogue``: generates the event catalogue (JSON Schema per event, AsyncAPI) from the models
  and freezes each new event version under ``docs/events/published/``.

Events are a public, versioned API: only additive changes, consumers ignore unknown fields,
past-tense names. A breaking change bumps the model's ``schema_version`` and adds an
``@upcaster(event_type, from_version=N)`` beside the model; ``decode_event`` upcasts old
records step by step before validation, and ``tests/unit/test_event_versions.py`` fails on any
incompatible change to a published version.
"""

from schemas.envelope import EventEnvelope, EventPayload, decode_event, encode_event
from schemas.registration import (
    AmountData,
    CustomerData,
    PartnerSnapshot,
    RegistrationApproved,
    RegistrationRejected,
    RegistrationSubmitted,
)
from schemas.topics import TOPICS, TopicSpec, topic_for

__all__ = [
    "TOPICS",
    "AmountData",
    "CustomerData",
    "EventEnvelope",
    "EventPayload",
    "PartnerSnapshot",
    "RegistrationApproved",
    "RegistrationRejected",
    "RegistrationSubmitted",
    "TopicSpec",
    "decode_event",
    "encode_event",
    "topic_for",
]
