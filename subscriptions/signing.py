"""Signing secrets and signatures of outbound events.

No secret is stored. Each subscription's secret is derived from the environment's master key
(`TIDINGS_SUBSCRIPTION_SIGNING_KEY`) and the subscription's random `public_id`::

    secret = "whsec_" + hex(HMAC-SHA256(master key, "tidings.subscriptions.v1:" + public id))

so the database (or a backup of it) alone cannot sign an event, rotating the public id gives the
subscription a new secret, and changing the master key rotates every secret at once.

Each request carries ``X-Tidings-Signature: t=<unix seconds>,v1=<hex>``, where the hex is
HMAC-SHA256 keyed with the secret over ``"<t>.<raw body>"``. The timestamp is signed too, so a
receiver that refuses old timestamps refuses replays. During the grace period after a rotation
the header carries a second ``v1=`` made with the previous secret; a receiver accepts the request
when any ``v1`` matches.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable

from django.conf import settings

SIGNATURE_HEADER = "X-Tidings-Signature"
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
_DERIVATION_LABEL = b"tidings.subscriptions.v1:"
# How far a receiver should let the timestamp be from its own clock.
DEFAULT_TOLERANCE_SECONDS = 300


def subscription_secret(public_id: str) -> str:
    """The signing secret of the subscription with this public id."""
    master = settings.TIDINGS_SUBSCRIPTION_SIGNING_KEY.encode()
    digest = hmac.new(master, _DERIVATION_LABEL + public_id.encode(), hashlib.sha256).hexdigest()
    return SECRET_PREFIX + digest


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"`` keyed with `secret`."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(body: bytes, secrets: Iterable[str], timestamp: int | None = None) -> str:
    """The `X-Tidings-Signature` value: ``t=<timestamp>`` and one ``v1=`` per secret."""
    moment = int(time.time()) if timestamp is None else timestamp
    parts = [f"t={moment}", *(f"v1={signature(secret, moment, body)}" for secret in secrets)]
    return ",".join(parts)


def verify_signature(
    body: bytes,
    header: str,
    secret: str,
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """What a receiver does (the README shows the same in a few lines): the timestamp is recent
    and one of the ``v1`` signatures matches. Used by the tests as the receiver's check."""
    timestamp = None
    candidates = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)
