"""The resolver's one emitter (:data:`EMITTER`, with its one :data:`SOURCE`): the envelopes of
every event it stages, whichever adapter stages it (re-exported by ``adapters.outcomes``)."""

from __future__ import annotations

from conflict_resolver.adapters.tables import outbox
from services.events import Emitter

SOURCE = "/dealreg/conflict_resolver"
EMITTER = Emitter(source=SOURCE, outbox=outbox)
