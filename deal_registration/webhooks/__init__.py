"""Partner webhooks: every status change of a partner's registrations, POSTed to its URL.

- ``staging``: a delivery is staged with the change it tells of (the table is an outbox).
- ``dispatcher``: workers lease due deliveries, send them outside any transaction, record the
  outcome, and retry on a backoff schedule until the last attempt (then ``failed``).
- ``addresses``: deliveries connect only to the vetted public address of the webhook's host.
- ``secrets``: Standard Webhooks signing (``webhook-id``, ``webhook-timestamp``,
  ``webhook-signature``), secrets encrypted at rest, rotation with an overlap.
"""

from deal_registration.webhooks.dispatcher import DEFAULT_RETRY_SCHEDULE, WebhookDispatcher
from deal_registration.webhooks.secrets import SecretBox, new_secret, signature_headers
from deal_registration.webhooks.setup import WebhookSetup
from deal_registration.webhooks.staging import stage_delivery

__all__ = [
    "DEFAULT_RETRY_SCHEDULE",
    "SecretBox",
    "WebhookDispatcher",
    "WebhookSetup",
    "new_secret",
    "signature_headers",
    "stage_delivery",
]
