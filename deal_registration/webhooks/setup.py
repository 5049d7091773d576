"""What the webhook use cases need besides the database: how secrets are sealed, which hosts
are allowed, how names resolve, and how long a rotated secret keeps signing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from deal_registration.webhooks.addresses import Resolver, system_resolver
from deal_registration.webhooks.secrets import SecretBox


@dataclass(frozen=True)
class WebhookSetup:
    secrets: SecretBox
    allow_private_addresses: bool = False
    resolver: Resolver = field(default=system_resolver)
    rotation_overlap: timedelta = timedelta(hours=24)
