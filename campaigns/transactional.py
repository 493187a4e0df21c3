"""One template message to one contact through the API, idempotent like Stripe's API.

The `Idempotency-Key` a caller sends is stored (scoped to the caller) as the message's unique
idempotency key together with a fingerprint of the request body: the same key with the same body
returns the original message, the same key with a different body is a conflict, and concurrent
duplicates collapse into one row through the unique constraint rather than a check-then-insert.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from contacts.models import Contact
from contacts.selectors import contacts_consent_for_category
from templates_app.models import MessageTemplate, SenderNumber, TemplateStatus
from templates_app.rendering import TemplateValuesError, template_message_for, validate_values
from whatsapp import get_provider

from . import throttle
from .dispatch import ChunkResult, callback_data_for, record_outcomes
from .errors import CampaignError
from .models import Message, MessageStatus, SkipReason
from .sending import SendJob, send_paced

ACCOUNT_ERROR_RETRY = dt.timedelta(minutes=5)


class IdempotencyConflict(CampaignError):
    """The idempotency key was already used with a different request."""


@dataclass(frozen=True)
class TransactionalResult:
    message: Message
    created: bool


def request_fingerprint(data: Any) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def scoped_key(*, caller_id: int | None, key: str | None) -> str:
    if not key:
        return f"api:{uuid.uuid4().hex}"
    return f"api:{caller_id or 0}:{key}"


def message_send_transactional(
    *,
    contact: Contact,
    template: MessageTemplate,
    sender: SenderNumber,
    values: dict[str, str],
    idempotency_key: str,
    fingerprint: str,
    triggered_by: Any = None,
    valid_for: dt.timedelta | None = None,
) -> TransactionalResult:
    """Record the message (queued) and hand it to a worker after commit; or return the original."""
    existing = Message.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return _replay(existing, fingerprint)
    _check(contact=contact, template=template, sender=sender, values=values)
    consent = contacts_consent_for_category(contact_ids=[contact.id], category=template.category)
    if contact.id not in consent:
        scope = "marketing" if template.category == "MARKETING" else "utility"
        raise CampaignError(
            f"The contact has not opted in to {scope} messages.",
            field_errors={"contact": [f"No {scope} consent."]},
        )
    now = timezone.now()
    try:
        with transaction.atomic():
            message = Message.objects.create(
                contact=contact,
                sender=sender,
                template=template,
                category=template.category,
                parameters={key: str(value) for key, value in values.items()},
                idempotency_key=idempotency_key,
                request_fingerprint=fingerprint,
                consent_record_id=consent[contact.id],
                queued_at=now,
                not_before=now,
                expires_at=(now + valid_for) if valid_for else None,
                triggered_by=triggered_by if getattr(triggered_by, "pk", None) else None,
            )
            from .tasks import send_message

            transaction.on_commit(lambda: send_message.delay(message.pk))
    except IntegrityError:
        # A concurrent request with the same key won the race: answer as its replay.
        return _replay(Message.objects.get(idempotency_key=idempotency_key), fingerprint)
    return TransactionalResult(message, True)


def _replay(message: Message, fingerprint: str) -> TransactionalResult:
    if message.request_fingerprint != fingerprint:
        raise IdempotencyConflict(
            "This Idempotency-Key was already used with a different request body."
        )
    return TransactionalResult(message, False)


def _check(
    *, contact: Contact, template: MessageTemplate, sender: SenderNumber, values: dict[str, str]
) -> None:
    errors: dict[str, list[str]] = {}
    if contact.erased_at is not None:
        errors["contact"] = ["This contact was erased and can never be messaged."]
    if template.status != TemplateStatus.APPROVED:
        errors["template"] = [f"The template is {template.status}, not APPROVED."]
    if sender.account_id != template.account_id:
        errors["sender"] = ["The sender number belongs to another account than the template."]
    problems = validate_values(template, values)
    if problems:
        errors["parameters"] = problems
    if errors:
        raise CampaignError("The message cannot be sent as it is.", field_errors=errors)


def message_send_now(*, message_id: int) -> str:
    """Send one queued API message: claim, re-check consent, throttle, send, record.

    Returns the message's status afterwards. Safe to run twice: only the run that moves the row
    from queued to sending sends.
    """
    now = timezone.now()
    claimed = Message.objects.filter(
        pk=message_id, status=MessageStatus.QUEUED, campaign__isnull=True
    ).update(
        status=MessageStatus.SENDING,
        sending_at=now,
        lease_expires_at=now + dt.timedelta(seconds=120),
        attempts=F("attempts") + 1,
        updated_at=now,
    )
    message = Message.objects.select_related("contact", "template", "sender").get(pk=message_id)
    if not claimed:
        return message.status
    result = ChunkResult()
    if message.expires_at and message.expires_at <= now:
        Message.objects.filter(pk=message_id, status=MessageStatus.SENDING).update(
            status=MessageStatus.EXPIRED, reason="expired", failed_at=now, lease_expires_at=None
        )
        return MessageStatus.EXPIRED
    consent = contacts_consent_for_category(
        contact_ids=[message.contact_id], category=message.category
    )
    if message.contact.erased_at is not None or message.contact_id not in consent:
        Message.objects.filter(pk=message_id, status=MessageStatus.SENDING).update(
            status=MessageStatus.SKIPPED, reason=SkipReason.OPTED_OUT, lease_expires_at=None
        )
        return MessageStatus.SKIPPED
    try:
        outbound = template_message_for(
            message.template,
            to=message.contact.phone,
            values=message.parameters,
            biz_opaque_callback_data=callback_data_for(message.pk),
        )
    except TemplateValuesError:
        Message.objects.filter(pk=message_id, status=MessageStatus.SENDING).update(
            status=MessageStatus.SKIPPED,
            reason=SkipReason.INVALID_PARAMETERS,
            lease_expires_at=None,
        )
        return MessageStatus.SKIPPED
    sender = message.sender
    job = SendJob(message.pk, outbound)
    outcomes = send_paced(
        provider=get_provider(),
        phone_number_id=sender.phone_number_id,
        jobs=[job],
        reserve=lambda wanted: throttle.reserve(
            sender_key=sender.phone_number_id,
            rate_per_second=sender.throughput_per_second,
            wanted=wanted,
        ),
        stop=threading.Event(),
    )
    account_error = record_outcomes(
        [job],
        outcomes,
        {message.pk: dict(message.parameters)},
        {message.pk: message},
        resend_unknown=False,
        result=result,
    )
    if account_error is not None:
        # The account cannot send at all (token, payment…): try again later, not every tick.
        Message.objects.filter(pk=message_id, status=MessageStatus.QUEUED).update(
            not_before=timezone.now() + ACCOUNT_ERROR_RETRY,
            reason=f"account_error_{account_error.code}",
        )
    return Message.objects.values_list("status", flat=True).get(pk=message_id)


def due_transactional_message_ids(limit: int = 500) -> list[int]:
    """Queued API messages whose time has come (retries, sends an account error held back)."""
    return list(
        Message.objects.filter(
            campaign__isnull=True,
            status=MessageStatus.QUEUED,
            not_before__lte=timezone.now(),
        )
        .order_by("not_before")
        .values_list("id", flat=True)[:limit]
    )
