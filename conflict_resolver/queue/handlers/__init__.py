"""The queue's use cases, each one transaction: state change, history and outbox events
together. ``reading`` (list, get), ``deciding`` (assign, decide), ``encroachment`` (resolve a
``DIRECT_ENCROACHMENT`` case), ``returning`` (return for edit), ``sla`` (escalate or decide at
the deadline), ``numbers`` (stats, and the gauges' share of them)."""

from conflict_resolver.queue.handlers.context import PRINCIPALS_CONSUMER, SLA_ACTOR, QueueContext
from conflict_resolver.queue.handlers.deciding import assign, decide
from conflict_resolver.queue.handlers.encroachment import resolve_encroachment
from conflict_resolver.queue.handlers.numbers import gauge_numbers, stats
from conflict_resolver.queue.handlers.reading import claims_amount, get_case, list_cases
from conflict_resolver.queue.handlers.returning import return_for_edit
from conflict_resolver.queue.handlers.sla import escalate_due

__all__ = [
    "PRINCIPALS_CONSUMER",
    "SLA_ACTOR",
    "QueueContext",
    "assign",
    "claims_amount",
    "decide",
    "escalate_due",
    "gauge_numbers",
    "get_case",
    "list_cases",
    "resolve_encroachment",
    "return_for_edit",
    "stats",
]
