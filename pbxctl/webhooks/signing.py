"""HMAC-SHA256 signatures of webhook bodies. Pure.

The receiver recomputes ``HMAC-SHA256(secret, "<timestamp>.<body>")`` and compares it with
the ``X-Pbxctl-Signature`` header (``sha256=<hex>``); the timestamp header lets it refuse
replays of old deliveries.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Pbxctl-Signature"
TIMESTAMP_HEADER = "X-Pbxctl-Timestamp"
EVENT_HEADER = "X-Pbxctl-Event"
DELIVERY_HEADER = "X-Pbxctl-Delivery"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The header value that signs ``body`` sent at ``timestamp`` (Unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def is_valid(secret: str, timestamp: int, body: bytes, presented: str) -> bool:
    """Whether ``presented`` is the signature of ``body`` at ``timestamp`` (constant time)."""
    return hmac.compare_digest(signature(secret, timestamp, body), presented)
