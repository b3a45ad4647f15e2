"""HMAC-SHA256 signatures of webhook bodies. Pure.

The receiver recomputes ``HMAC-SHA256(secret, "<timestamp>.<body>")`` and compares it with
the ``X-Pbxctl-Signature`` header (``sha256=<hex>``); the timestamp header lets it refuse
replays of old deliveries: :func:`is_valid` accepts a timestamp at most
``MAX_AGE_SECONDS`` (300) away from the receiver's clock, either way.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Pbxctl-Signature"
TIMESTAMP_HEADER = "X-Pbxctl-Timestamp"
EVENT_HEADER = "X-Pbxctl-Event"
DELIVERY_HEADER = "X-Pbxctl-Delivery"
MAX_AGE_SECONDS = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The header value that signs ``body`` sent at ``timestamp`` (Unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def is_valid(secret: str, timestamp: int, body: bytes, presented: str, *,
             max_age: float = MAX_AGE_SECONDS, now: float | None = None) -> bool:
    """Whether ``presented`` is the signature of ``body`` at ``timestamp`` (constant time)
    and ``timestamp`` is within ``max_age`` seconds of ``now`` (default: the clock). Any
    other input, non-ASCII included, is simply not valid."""
    if abs((time.time() if now is None else now) - timestamp) > max_age:
        return False
    if not presented.isascii():
        return False
    return hmac.compare_digest(signature(secret, timestamp, body).encode(), presented.encode())
