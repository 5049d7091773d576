"""The admin token before a rotation, accepted beside the new one for an overlap.

``dealreg keys rotate admin-token`` makes a new token and keeps only the old one's SHA-256 and
the end of its overlap (``DEALREG_ADMIN_TOKEN_PREVIOUS_SHA256``, ``..._UNTIL``): callers still on
the old token keep working until then, and nothing readable of it is stored.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class PreviousAdminToken:
    """The admin token before a rotation (``dealreg keys rotate admin-token``): still accepted
    until ``until``, so callers can switch to the new one. Only its SHA-256 is kept."""

    sha256: str
    until: datetime

    def accepts(self, token: str, *, now: datetime) -> bool:
        return now < self.until and hmac.compare_digest(
            token_sha256(token).encode(), self.sha256.lower().encode()
        )
