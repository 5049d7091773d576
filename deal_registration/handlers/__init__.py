"""deal_registration's use cases, one module per concern; routes and consumers call them.

- ``context``: the context, the caller and the envelope every use case shares.
- ``access``: who is calling (API key, admin token, rate limit) and what a caller may do.
- ``partners``: partners, ops users, API keys (the admin's use cases).
- ``idempotency``: one effect per ``Idempotency-Key``; a retry gets the stored answer.
- ``submissions``: a partner submits a registration.
- ``reading``: registrations, pages and history as their caller may see them.
- ``changes``: the partner's own changes (withdraw, extension) and how any change is written.
- ``from_events``: what the resolver and crm_sync report, applied to the partner's view.
- ``webhook_settings``: a partner's webhook and its deliveries.

Use cases return domain results (rows, small dataclasses) and raise ``domain.errors``; the
API renders the results and maps the errors to problem documents. Each use case runs in one
transaction: its state change, history row, outbox events, webhook deliveries and (for
consumers) its inbox row commit together or not at all. A partner acts only on its own
registrations (another partner's is not found, exactly like a missing one), ops users read
everything and write nothing, the admin manages partners and keys.
"""

from deal_registration.handlers.access import (
    PartnerWrite,
    authenticate,
    partner_write,
    require_admin,
    require_ops,
    require_partner,
    require_writing_partner,
)
from deal_registration.handlers.answers import Edit, appeal_registration, edit_registration
from deal_registration.handlers.changes import request_extension, withdraw_registration
from deal_registration.handlers.context import (
    CRM_CONSUMER,
    DECISIONS_CONSUMER,
    EMITTER,
    SOURCE,
    ActivePartner,
    Context,
    Principal,
    Row,
)
from deal_registration.handlers.encroachment import tell_encroachment
from deal_registration.handlers.from_events import apply_crm_change, apply_decision
from deal_registration.handlers.idempotency import (
    Answer,
    IdempotentRequest,
    Present,
    request_fingerprint,
)
from deal_registration.handlers.partners import (
    IssuedKey,
    NewPartner,
    create_ops_user,
    create_partner,
    get_partner,
    issue_partner_key,
    list_partner_keys,
    revoke_key,
    update_partner,
)
from deal_registration.handlers.reading import (
    get_registration,
    list_registrations,
    registration_history,
)
from deal_registration.handlers.submissions import (
    NewRegistration,
    registration_problems,
    submit_registration,
)
from deal_registration.handlers.webhook_settings import (
    NewWebhook,
    delete_webhook,
    get_webhook,
    put_webhook,
    rotate_webhook_secret,
    webhook_deliveries,
)

__all__ = [
    "CRM_CONSUMER",
    "DECISIONS_CONSUMER",
    "EMITTER",
    "SOURCE",
    "ActivePartner",
    "Answer",
    "Context",
    "Edit",
    "IdempotentRequest",
    "IssuedKey",
    "NewPartner",
    "NewRegistration",
    "NewWebhook",
    "PartnerWrite",
    "Present",
    "Principal",
    "Row",
    "appeal_registration",
    "apply_crm_change",
    "apply_decision",
    "authenticate",
    "create_ops_user",
    "create_partner",
    "delete_webhook",
    "edit_registration",
    "get_partner",
    "get_registration",
    "get_webhook",
    "issue_partner_key",
    "list_partner_keys",
    "list_registrations",
    "partner_write",
    "put_webhook",
    "registration_history",
    "registration_problems",
    "request_extension",
    "request_fingerprint",
    "require_admin",
    "require_ops",
    "require_partner",
    "require_writing_partner",
    "revoke_key",
    "rotate_webhook_secret",
    "submit_registration",
    "tell_encroachment",
    "update_partner",
    "webhook_deliveries",
    "withdraw_registration",
]
