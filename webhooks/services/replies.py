"""The reply to a consent keyword: nothing unless TIDINGS_CONSENT_KEYWORD_REPLY is set, and then
that text, once per inbound message.

The inbound message row carries the reply's state. Processing the message marks it `pending` in
the transaction that records the consent and enqueues the send after commit; the task claims it
with a conditional update (`pending` → `sending`), so a redelivered webhook, a replay or a task
run twice sends nothing more. A send whose outcome is unknown (a timeout after the request left)
is marked `uncertain` and never repeated: two confirmations are worse than one missing.

A free-form text is allowed because the user has just written to us: the 24-hour customer-service
window is open. A reply that could only go out after the window closed is not attempted.
"""

from __future__ import annotations

import datetime as dt
import inspect
import logging
from typing import Any

from django.conf import settings
from django.utils import timezone

from whatsapp import ErrorClass, ProviderError, SendAccepted, get_provider

from ..models import ConsentReplyStatus, InboundMessage

logger = logging.getLogger(__name__)

SERVICE_WINDOW = dt.timedelta(hours=24)
# Leave Meta this much of the window: a reply sent in its last minute may arrive after it.
WINDOW_MARGIN = dt.timedelta(minutes=5)


def consent_reply_text() -> str:
    """The configured reply, or "" when none is to be sent."""
    return (settings.TIDINGS_CONSENT_KEYWORD_REPLY or "").strip()


def consent_reply_due(inbound: InboundMessage) -> bool:
    """Whether a reply is to be sent for this message (a keyword was just recorded for it)."""
    return bool(consent_reply_text() and inbound.from_wa_id and inbound.phone_number_id)


def consent_reply_enqueue(inbound_message_id: int) -> None:
    """Publish the reply task (called after commit); a lost task is caught up by the sweep."""
    from ..tasks import send_consent_reply
    from .deliveries import enqueue

    enqueue(send_consent_reply, inbound_message_id)


def consent_reply_send(*, inbound_message_id: int) -> str:
    """Send the configured reply for this inbound message, unless it was handled already.

    Returns the reply's state afterwards ("pending" again when Meta asked us to retry later),
    or "not_due" when nothing was waiting to be sent.
    """
    claimed = InboundMessage.objects.filter(
        pk=inbound_message_id, consent_reply_status=ConsentReplyStatus.PENDING
    ).update(consent_reply_status=ConsentReplyStatus.SENDING)
    if not claimed:
        return "not_due"
    inbound = InboundMessage.objects.get(pk=inbound_message_id)
    text = consent_reply_text()
    if not text:
        return _finish(inbound, ConsentReplyStatus.FAILED, error="No reply is configured any more")
    if timezone.now() > inbound.sent_at + SERVICE_WINDOW - WINDOW_MARGIN:
        return _finish(
            inbound, ConsentReplyStatus.FAILED, error="The 24-hour service window has closed"
        )
    try:
        outcome = _send_text(
            get_provider(),
            phone_number_id=inbound.phone_number_id,
            to=inbound.from_wa_id,
            body=text,
            last_inbound_at=inbound.sent_at,
        )
    except Exception as error:
        logger.exception("consent reply to inbound message %s", inbound.pk)
        return _finish(inbound, ConsentReplyStatus.UNCERTAIN, error=type(error).__name__)
    if isinstance(outcome, SendAccepted):
        return _finish(inbound, ConsentReplyStatus.SENT, wamid=outcome.wamid)
    return _finish_with_error(inbound, outcome)


def _send_text(provider: Any, *, last_inbound_at: dt.datetime, **arguments: Any) -> Any:
    """`send_text`, telling the provider when the user last wrote if it takes that (a provider
    that checks the service window itself needs it to know the window is open)."""
    if "last_inbound_at" in inspect.signature(provider.send_text).parameters:
        arguments["last_inbound_at"] = last_inbound_at
    return provider.send_text(**arguments)


def _finish_with_error(inbound: InboundMessage, error: ProviderError) -> str:
    summary = f"Meta error {error.code}: {error.message}" if error.code else error.message
    if error.ambiguous:
        return _finish(inbound, ConsentReplyStatus.UNCERTAIN, error=summary)
    if error.error_class == ErrorClass.RETRYABLE:
        return _finish(inbound, ConsentReplyStatus.PENDING, error=summary)
    return _finish(inbound, ConsentReplyStatus.FAILED, error=summary)


def _finish(
    inbound: InboundMessage, status: ConsentReplyStatus, *, wamid: str = "", error: str = ""
) -> str:
    InboundMessage.objects.filter(
        pk=inbound.pk, consent_reply_status=ConsentReplyStatus.SENDING
    ).update(
        consent_reply_status=status,
        consent_reply_wamid=wamid[:128],
        consent_reply_error=error[:500],
    )
    if status != ConsentReplyStatus.SENT:
        logger.warning("consent reply to inbound message %s: %s %s", inbound.pk, status, error)
    return str(status)


def consent_replies_due(*, now: dt.datetime, grace: dt.timedelta, limit: int) -> list[int]:
    """Replies still pending after `grace` (their task was lost) while the window is open."""
    return list(
        InboundMessage.objects.filter(
            consent_reply_status=ConsentReplyStatus.PENDING,
            recorded_at__lt=now - grace,
            recorded_at__gte=now - SERVICE_WINDOW,
        )
        .order_by("recorded_at")
        .values_list("pk", flat=True)[:limit]
    )
