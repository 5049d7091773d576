"""Request and response bodies of the deal_registration API.

Input models forbid unknown fields and bound every string, so a typo in a field name is an
error naming that field rather than silently dropped data. The field rules themselves (what a
country, currency, amount or domain must look like) live in ``domain.validation`` as plain
functions; these models only wire them to fields. Every field carries a description and an
example: the OpenAPI document is generated from these classes.

- ``fields``: the field types and the input/output bases.
- ``registrations``, ``principals``, ``webhooks``: the bodies of each part of the API.
- ``problems``: the error body.
"""

from deal_registration.api.models.fields import (
    CountryCode,
    CurrencyCode,
    DealType,
    LongText,
    PartnerStatus,
    PartnerTier,
    Reference,
    RegistrationStatus,
    ShortText,
    Slug,
    WebDomain,
)
from deal_registration.api.models.principals import (
    ApiKeyCreated,
    ApiKeyList,
    ApiKeyView,
    OpsUserCreate,
    OpsUserCreated,
    PartnerCreate,
    PartnerCreated,
    PartnerUpdate,
    PartnerView,
)
from deal_registration.api.models.problems import (
    FieldError,
    Problem,
)
from deal_registration.api.models.registrations import (
    Amount,
    AmountView,
    Contact,
    ContactView,
    CrmLink,
    Customer,
    CustomerView,
    History,
    HistoryEntry,
    RegistrationCreate,
    RegistrationPage,
    RegistrationView,
)
from deal_registration.api.models.webhooks import (
    WebhookCreated,
    WebhookDeliveryPage,
    WebhookDeliveryView,
    WebhookSecretRotation,
    WebhookUpdate,
    WebhookView,
)

__all__ = [
    "Amount",
    "AmountView",
    "ApiKeyCreated",
    "ApiKeyList",
    "ApiKeyView",
    "Contact",
    "ContactView",
    "CountryCode",
    "CrmLink",
    "CurrencyCode",
    "Customer",
    "CustomerView",
    "DealType",
    "FieldError",
    "History",
    "HistoryEntry",
    "LongText",
    "OpsUserCreate",
    "OpsUserCreated",
    "PartnerCreate",
    "PartnerCreated",
    "PartnerStatus",
    "PartnerTier",
    "PartnerUpdate",
    "PartnerView",
    "Problem",
    "Reference",
    "RegistrationCreate",
    "RegistrationPage",
    "RegistrationStatus",
    "RegistrationView",
    "ShortText",
    "Slug",
    "WebDomain",
    "WebhookCreated",
    "WebhookDeliveryPage",
    "WebhookDeliveryView",
    "WebhookSecretRotation",
    "WebhookUpdate",
    "WebhookView",
]
