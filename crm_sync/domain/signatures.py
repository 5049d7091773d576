"""Webhook signatures: HubSpot v1, v2 and v3, and dealreg's own scheme for Salesforce.

HubSpot v3: base64(HMAC-SHA256(client secret, method + URI + raw body + timestamp)), where the
URI is the full URL with HubSpot's list of percent-encoded characters decoded first, and the
timestamp (``X-HubSpot-Request-Timestamp``, milliseconds) at most 5 minutes old. HubSpot's own
SDK neither decodes the URI nor refuses future timestamps; we do both. Comparisons are constant
time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

# https://developers.hubspot.com/docs/api/webhooks/validating-requests
_HUBSPOT_DECODED = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}
MAX_SKEW_MS = 5 * 60 * 1000


def hubspot_decode_uri(uri: str) -> str:
    """Decode exactly the characters HubSpot decodes before signing (case-insensitive)."""
    out: list[str] = []
    index = 0
    while index < len(uri):
        triple = uri[index : index + 3].upper()
        if triple in _HUBSPOT_DECODED:
            out.append(_HUBSPOT_DECODED[triple])
            index += 3
        else:
            out.append(uri[index])
            index += 1
    return "".join(out)


def hubspot_v1(secret: str, body: bytes) -> str:
    return hashlib.sha256(secret.encode() + body).hexdigest()


def hubspot_v2(secret: str, method: str, uri: str, body: bytes) -> str:
    return hashlib.sha256(secret.encode() + method.encode() + uri.encode() + body).hexdigest()


def hubspot_v3(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    message = method.encode() + hubspot_decode_uri(uri).encode() + body + timestamp.encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def timestamp_fresh(timestamp_ms: str, now_ms: int, max_skew_ms: int = MAX_SKEW_MS) -> bool:
    """Neither older than the window nor from the future (beyond the same window)."""
    # ASCII digits only: str.isdigit() also accepts "²" and other scripts' digits, which int()
    # then refuses (a pre-authentication crash).
    if not (timestamp_ms.isascii() and timestamp_ms.isdigit()) or len(timestamp_ms) > 19:
        return False
    return abs(now_ms - int(timestamp_ms)) <= max_skew_ms


def verify_hubspot_v3(
    *,
    secret: str,
    method: str,
    uri: str,
    body: bytes,
    timestamp: str,
    signature: str,
    now_ms: int,
    max_skew_ms: int = MAX_SKEW_MS,
) -> bool:
    if not secret or not signature or not timestamp_fresh(timestamp, now_ms, max_skew_ms):
        return False
    expected = hubspot_v3(secret, method, uri, body, timestamp)
    return hmac.compare_digest(expected.encode(), signature.encode())


def dealreg_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The Salesforce callout scheme: ``v1=`` + base64(HMAC-SHA256(secret, ts + "." + body)),
    the timestamp in milliseconds (the same window as HubSpot's)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).digest()
    return "v1=" + base64.b64encode(digest).decode()


def verify_dealreg_signature(
    *, secret: str, timestamp: str, body: bytes, signature: str, now_ms: int
) -> bool:
    if not secret or not signature or not timestamp_fresh(timestamp, now_ms):
        return False
    expected = dealreg_signature(secret, timestamp, body)
    return hmac.compare_digest(expected.encode(), signature.encode())
