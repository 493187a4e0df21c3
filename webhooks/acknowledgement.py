"""The acknowledgement of a Meta webhook POST: size limit, signature, durable store, answer.

One function decides the answer, so the Django view and the WSGI fast path (`webhooks.wsgi`) can
never disagree. A validly signed body is stored and answered 200 — even when it does not parse,
because Meta redelivers anything else for days; processing happens in Celery after commit. The
only other answers are 401/403 (signature), 413 (over Meta's 3 MB) and 503 when the body could
not be stored, so that Meta delivers it again. Never a 500.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import BinaryIO

from django.conf import settings

from whatsapp import signatures

from .services import webhook_delivery_store

logger = logging.getLogger(__name__)

# Meta's documented maximum webhook payload.
MAX_BODY_BYTES = 3 * 1024 * 1024


@dataclass(frozen=True)
class Acknowledgement:
    status: int
    detail: str = ""

    @property
    def stored(self) -> bool:
        return self.status == 200


def acknowledge(
    *, stream: BinaryIO, declared_length: str | None, signature: str | None
) -> Acknowledgement:
    """Read at most Meta's maximum from `stream`, check `signature`, store, and answer."""
    declared = declared_length or "0"
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return Acknowledgement(413, "payload too large")
    # Read the stream directly: Django's request.body would apply DATA_UPLOAD_MAX_MEMORY_SIZE,
    # which is smaller than Meta's 3 MB maximum.
    body = stream.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        return Acknowledgement(413, "payload too large")
    if not signature:
        logger.warning("webhook without X-Hub-Signature-256 refused (%d bytes)", len(body))
        return Acknowledgement(401, "missing signature")
    if not signatures.verify(body, signature, settings.WHATSAPP_APP_SECRET):
        logger.warning("webhook with a wrong signature refused (%d bytes)", len(body))
        return Acknowledgement(403, "invalid signature")
    try:
        webhook_delivery_store(body=body)
    except Exception:
        logger.exception("could not store a webhook delivery (%d bytes); answering 503", len(body))
        return Acknowledgement(503, "temporarily unavailable, retry")
    return Acknowledgement(200)
