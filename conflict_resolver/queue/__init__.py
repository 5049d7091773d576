"""The conflict queue: cases the rules could not decide alone, and the ops who decide them.

- ``domain``: pure rules of the queue (filters, sort and cursors, what a decision does, the SLA,
  the numbers sales ops ask for).
- ``handlers``: a package by use case (``reading``, ``deciding``, ``sla``, ``numbers``), one
  transaction each (list, get, assign, decide, escalate, stats); deciding changes
  protections through ``conflict_resolver.handlers.review``.
- ``auth``: short-lived stream tokens for the console's server-sent events (every other
  route takes the resolver's one ops dependency, ``conflict_resolver.api.auth``).
- ``api``: the ``/v1/conflicts`` and ``/v1/stats`` routes; ``live``: the change feed behind
  ``GET /v1/conflicts/stream``; ``jobs``: the SLA escalation loop.
"""
