"""What the resolver's routes reach, built once by its lifespan (``services.http.state``)."""

from __future__ import annotations

from dataclasses import dataclass

from conflict_resolver import handlers
from conflict_resolver.handlers.overlap import OverlapContext
from conflict_resolver.queue import handlers as queue_handlers
from conflict_resolver.queue.live import LiveFeed
from services.principals import OpsAuthenticator


@dataclass(frozen=True)
class ResolverState:
    context: handlers.Context  # the rules, the policy and the decisions
    queue: queue_handlers.QueueContext  # the conflict queue
    feed: LiveFeed  # the queue's live changes (server-sent events)
    ops_auth: OpsAuthenticator  # the admin token and the live ops keys
    overlap: OverlapContext  # account overlap (partner keys, lists, opt-ins)
    intake_url: str = "http://127.0.0.1:8081"  # deal_registration, for the console's figures
