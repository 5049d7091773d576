"""Webhook signing secrets: made, encrypted at rest, rotated with an overlap, and signing.

A partner's secret must be readable to sign with (unlike API keys, which are only hashed), so
the database holds it encrypted with Fernet (AES-128-CBC and HMAC-SHA256, from
``cryptography``) under the key in ``DEALREG_WEBHOOK_SECRET_KEY``. After a rotation the previous
secret keeps signing beside the new one until the overlap ends: Standard Webhooks receivers
accept a message when any of the space-separated ``v1,<signature>`` values verifies.
"""

from __future__ import annotations

import base64
import hashlib
import secrets as random_secrets
from datetime import datetime

from cryptography.fernet import Fernet, InvalidToken
from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
_SEALED_PREFIX = "enc:v1:"


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` + base64 of 24 random bytes."""
    return SECRET_PREFIX + base64.b64encode(random_secrets.token_bytes(24)).decode()


class SecretBox:
    """Seals secrets for the database and opens them to sign with."""

    def __init__(self, key: str) -> None:
        self._fernet = Fernet(key.encode())

    @classmethod
    def derived_from(cls, material: str) -> SecretBox:
        """A key derived from other secret material (development and tests only: settings
        refuse to start production without an explicit key)."""
        digest = hashlib.sha256(b"dealreg-webhook-secrets:" + material.encode()).digest()
        return cls(base64.urlsafe_b64encode(digest).decode())

    def seal(self, secret: str) -> str:
        return _SEALED_PREFIX + self._fernet.encrypt(secret.encode()).decode()

    def open(self, stored: str) -> str:
        """The secret; a row written before encryption (plain ``whsec_``) reads as it is."""
        if not stored.startswith(_SEALED_PREFIX):
            return stored
        try:
            return self._fernet.decrypt(stored.removeprefix(_SEALED_PREFIX).encode()).decode()
        except InvalidToken as error:
            raise ValueError("webhook secret sealed under another key") from error


def signature_headers(
    signing_secrets: list[str], *, message_id: str, timestamp: datetime, body: str
) -> dict[str, str]:
    """The three Standard Webhooks headers, signed by every secret in force."""
    signatures = [
        Webhook(secret).sign(msg_id=message_id, timestamp=timestamp, data=body)
        for secret in signing_secrets
    ]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": " ".join(signatures),
    }
