"""crm_sync: mirrors approved registrations into the CRM and takes CRM webhooks back.

- ``app``: the composition root; one consumer group (``crm_sync.mirror``) on the typed runtime.
- ``routes``: CRM webhooks in, sync status and dead letters for operators.
- use cases: ``handlers`` (what the mirrored opportunity should say), ``outbound`` (push to
  the CRM), ``inbound`` and ``reconcile`` (CRM changes back as events), ``dead_letters``,
  ``status``, ``lease`` (one pusher and one reconciler across instances), ``notices``.
- ``adapters``: the SQL (``mirror``, ``connector_state``, ``dead_letters``, ``direct``,
  ``leases``, ``webhook_inbox``) and the CRM connectors; ``ports``: what a connector offers.
- ``domain``: the pure rules (field ownership, lifecycle merge, signatures).

The layers are checked by import-linter (pyproject.toml).
"""
