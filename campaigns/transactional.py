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
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from contacts.models import Contact
from contacts.selectors import contacts_consent_for_category
from templates_app.models import MessageTemplate, SenderNumber, TemplateStatus
from templates_app.rendering import TemplateValuesError, template_message_for, validate_values
from templates_app.selectors import template_is_sendable
from whatsapp import get_provider
from whatsapp.base import ProviderError, StopScope

from . import throttle
from .dispatch import (
    ACCOUNT_ERROR_HOLD,
    UNCONFIRMED_RESEND,
    ChunkResult,
    Claim,
    callback_data_for,
    claimed_messages_update,
    messages_hand_over,
    proven_messages_settle,
    record_outcomes,
    release_unsent,
    sending_stop_for_account_error,
)
from .errors import CampaignError
from .models import Message, MessageStatus, SkipReason, UnknownOutcomePolicy
from .sending import SendJob, send_paced

logger = logging.getLogger(__name__)

# Template errors that end when Meta approves or unpauses the template: an API message waits
# (within its validity) instead of failing.
TEMPLATE_STATES_THAT_PASS = frozenset({132001, 132015})


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


def message_replay(*, idempotency_key: str, fingerprint: str) -> Message | None:
    """The message an earlier request with this key made, if any (before any other work, so a
    replay is cheap); a conflict if that request had another body."""
    existing = Message.objects.filter(idempotency_key=idempotency_key).first()
    if existing is None:
        return None
    return _replay(existing, fingerprint).message


def default_validity() -> dt.timedelta:
    """How long an API message may still go out: a receipt or a code sent a day late is worse
    than none (a paused template or an account error can hold a message that long)."""
    return dt.timedelta(seconds=settings.TIDINGS_TRANSACTIONAL_VALIDITY_SECONDS)


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
    """Record the message (queued) and hand it to a worker after commit; or return the original.

    The message expires unsent after `valid_for` (default TIDINGS_TRANSACTIONAL_VALIDITY_SECONDS).
    """
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
                expires_at=now + (valid_for or default_validity()),
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


def claim_api_message(message_id: int, lease_seconds: float) -> Claim | None:
    """Take one queued API message (`queued → sending` under a new claim), or None.

    An earlier attempt whose outcome stayed unknown is checked for proof first: if a status
    webhook shows it left, the message is sent and not sent again.
    """
    token = uuid.uuid4()
    started = time.monotonic()
    now = timezone.now()
    with transaction.atomic():
        row = (
            Message.objects.select_for_update(skip_locked=True)
            .filter(pk=message_id, status=MessageStatus.QUEUED, campaign__isnull=True)
            .filter(Q(not_before__isnull=True) | Q(not_before__lte=now))
            .values_list("reason", flat=True)
            .first()
        )
        if row is None:
            return None
        if row == UNCONFIRMED_RESEND and proven_messages_settle([message_id], now):
            return None
        claimed = Message.objects.filter(pk=message_id, status=MessageStatus.QUEUED).update(
            status=MessageStatus.SENDING,
            sending_at=now,
            lease_expires_at=now + dt.timedelta(seconds=lease_seconds),
            claim_token=token,
            attempts=F("attempts") + 1,
            updated_at=now,
        )
    if not claimed:
        return None
    return Claim(token, [message_id], lease_seconds, started + lease_seconds)


def message_send_now(*, message_id: int) -> str:
    """Send one queued API message: claim, re-check, throttle, send, record.

    Returns the message's status afterwards. Safe to run twice: only the run that moves the row
    from queued to sending sends. A paused template or an account-level error holds the message
    for a while instead of failing it, but never past its validity: then it expires unsent.
    """
    claim = claim_api_message(message_id, settings.TIDINGS_DISPATCH_LEASE_SECONDS)
    if claim is None:
        return Message.objects.values_list("status", flat=True).get(pk=message_id)
    handed_over: set[int] = set()
    try:
        return _send_claimed(message_id, claim, handed_over)
    except BaseException:
        try:
            release_unsent(claim, keep=handed_over)
        except Exception:
            logger.exception("could not hand back message %s; the reconciler will", message_id)
        raise


def _send_claimed(message_id: int, claim: Claim, handed_over: set[int]) -> str:
    now = timezone.now()
    message = Message.objects.select_related("contact", "template", "sender").get(pk=message_id)
    token = claim.token
    if message.expires_at and message.expires_at <= now:
        claimed_messages_update(
            [message_id], token, status=MessageStatus.EXPIRED, reason="expired", failed_at=now
        )
        return MessageStatus.EXPIRED
    consent = contacts_consent_for_category(
        contact_ids=[message.contact_id], category=message.category
    )
    if message.contact.erased_at is not None or message.contact_id not in consent:
        claimed_messages_update(
            [message_id], token, status=MessageStatus.SKIPPED, reason=SkipReason.OPTED_OUT
        )
        return MessageStatus.SKIPPED
    if not template_is_sendable(message.template):
        # Meta would refuse it (132015/132016): hold it until the template is approved again.
        _hold(message, token, reason=f"template_{message.template.status}".lower())
        return Message.objects.values_list("status", flat=True).get(pk=message_id)
    try:
        outbound = template_message_for(
            message.template,
            to=message.contact.phone,
            values=message.parameters,
            biz_opaque_callback_data=callback_data_for(message.pk),
        )
    except TemplateValuesError:
        claimed_messages_update(
            [message_id], token, status=MessageStatus.SKIPPED, reason=SkipReason.INVALID_PARAMETERS
        )
        return MessageStatus.SKIPPED
    sender = message.sender
    job = SendJob(message.pk, outbound)
    paced = send_paced(
        provider=get_provider(),
        phone_number_id=sender.phone_number_id,
        jobs=[job],
        reserve=lambda wanted, horizon: throttle.reserve(
            sender_key=sender.phone_number_id,
            rate_per_second=sender.throughput_per_second,
            wanted=wanted,
            horizon_seconds=horizon,
        ),
        keep_going=lambda: claim.deadline if claim.renew_if_due() else None,
        hand_over=lambda batch: _hand_over(batch, message, token),
    )
    # Once handed to the provider, an error must leave it to the reconciler, never requeue it.
    handed_over |= paced.submitted
    account_error = record_outcomes(
        [job],
        paced.outcomes,
        {message.pk: dict(message.parameters)},
        {message.pk: message},
        token=token,
        resend_unknown=(
            settings.TIDINGS_TRANSACTIONAL_UNKNOWN_OUTCOME_POLICY == UnknownOutcomePolicy.RESEND
        ),
        result=ChunkResult(),
    )
    if paced.error is not None:
        raise paced.error
    if account_error is not None:
        _settle_account_error(message, account_error)
    return Message.objects.values_list("status", flat=True).get(pk=message_id)


def _hand_over(batch: list[SendJob], message: Message, token: uuid.UUID) -> list[SendJob]:
    leaving, withdrawn = messages_hand_over(
        batch,
        token=token,
        contact_of={message.pk: message.contact_id},
        category=message.category,
    )
    if withdrawn:
        claimed_messages_update(
            withdrawn, token, status=MessageStatus.SKIPPED, reason=SkipReason.OPTED_OUT
        )
    return leaving


def _settle_account_error(message: Message, error: ProviderError) -> None:
    """Meta refused the message for its account or template (record_outcomes queued it again,
    attempt not counted): fail it if it can never be accepted as it is, else hold it."""
    if error.stop_scope == StopScope.CAMPAIGN and error.code not in TEMPLATE_STATES_THAT_PASS:
        now = timezone.now()
        Message.objects.filter(pk=message.pk, status=MessageStatus.QUEUED).update(
            status=MessageStatus.FAILED,
            reason="meta_error",
            error_code=error.code,
            error_title=(error.title or error.message)[:300],
            error_details=error.details or "",
            failed_at=now,
            updated_at=now,
        )
        return
    if error.stop_scope == StopScope.ALL_SENDING:
        sending_stop_for_account_error(error=error, sender=message.sender)
    # Try again later, not every tick.
    _hold(message, None, reason=f"account_error_{error.code}")


def _hold(message: Message, token: uuid.UUID | None, *, reason: str) -> None:
    """Wait a while before the next try, or expire now if the wait would outlast the validity.

    With a token the message is still claimed (`sending`, and its attempt is given back);
    without, it is already queued again.
    """
    now = timezone.now()
    retry_at = now + ACCOUNT_ERROR_HOLD
    rows = (
        Message.objects.filter(pk=message.pk, status=MessageStatus.SENDING, claim_token=token)
        if token is not None
        else Message.objects.filter(pk=message.pk, status=MessageStatus.QUEUED)
    )
    if message.expires_at is not None and message.expires_at <= retry_at:
        rows.update(
            status=MessageStatus.EXPIRED,
            reason=reason[:64],
            failed_at=now,
            lease_expires_at=None,
            updated_at=now,
        )
        return
    values: dict[str, Any] = {}
    if token is not None:
        values["attempts"] = F("attempts") - 1
    rows.update(
        status=MessageStatus.QUEUED,
        not_before=retry_at,
        reason=reason[:64],
        lease_expires_at=None,
        updated_at=now,
        **values,
    )


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
