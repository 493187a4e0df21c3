"""`X-Hub-Signature-256`: how Meta signs webhook POSTs, and how we check them.

The signature is `sha256=<hex>`, the HMAC-SHA256 of the raw request body bytes keyed with the
*app secret* (not the access token, not the verify token). Verify over the bytes exactly as
received, before any JSON parsing: re-serialised JSON does not hash the same.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Hub-Signature-256"
PREFIX = "sha256="


def sign(body: bytes, secret: str) -> str:
    """The header value Meta would send for `body`: `"sha256=" + hex HMAC-SHA256`."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"{PREFIX}{digest}"


def verify(body: bytes, header_value: str | None, secret: str) -> bool:
    """True only when `header_value` is a well-formed signature of `body` under `secret`.

    Missing or malformed headers, a wrong prefix, and an empty secret are all False. The compare
    is constant-time so the check leaks nothing about the expected digest.
    """
    if not header_value or not secret or not header_value.startswith(PREFIX):
        return False
    received = header_value[len(PREFIX) :].strip().lower()
    if len(received) != hashlib.sha256().digest_size * 2:
        return False
    expected = sign(body, secret)[len(PREFIX) :]
    return hmac.compare_digest(received.encode("ascii", "replace"), expected.encode("ascii"))
