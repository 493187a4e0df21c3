"""Account-level events: template status and quality, sender-number and account updates, Meta's
errors and anything not understood.

Each is recorded once as a `WebhookEvent` (by content) in the same transaction as its effects, so
duplicates and replays change nothing, and the admin shows every event with what was done. The
apps to the left own the rules: the templates app records a template's status (and says whether
it became unsendable), then the campaigns app stops the campaigns using it; the templates app
stores a number's quality, tier and throughput.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction

from campaigns.services import campaigns_stop_using_template
from templates_app.models import SenderNumber
from templates_app.senders import sender_numbers_record_update
from templates_app.services import template_record_quality_update, template_record_status_change
from whatsapp.events import (
    AccountUpdateEvent,
    ErrorEvent,
    Event,
    EventKind,
    PhoneNumberUpdateEvent,
    TemplateQualityEvent,
    TemplateStatusEvent,
    UnknownEvent,
)

from .inbound import user_preference_record
from .records import event_claim

logger = logging.getLogger(__name__)

# Legacy phone_number_quality_update events: FLAGGED means the quality rating dropped to low;
# UNFLAGGED lifts that without saying to what.
_QUALITY_OF_EVENT = {
    "FLAGGED": SenderNumber.QualityRating.RED,
    "UNFLAGGED": SenderNumber.QualityRating.UNKNOWN,
}
_TIER_OF_DAILY_LIMIT = {
    "50": SenderNumber.MessagingLimitTier.TIER_50,
    "250": SenderNumber.MessagingLimitTier.TIER_250,
    "2000": SenderNumber.MessagingLimitTier.TIER_2K,
    "10000": SenderNumber.MessagingLimitTier.TIER_10K,
    "100000": SenderNumber.MessagingLimitTier.TIER_100K,
    "UNLIMITED": SenderNumber.MessagingLimitTier.TIER_UNLIMITED,
    "-1": SenderNumber.MessagingLimitTier.TIER_UNLIMITED,
}
THROUGHPUT_UPGRADE = "THROUGHPUT_UPGRADE"


def _recorded(event: Event, delivery_id: int | None, apply: Callable[[], str]) -> str:
    """Record the event and apply its effects once; the outcome text is kept on the record."""
    with transaction.atomic():
        record = event_claim(event, delivery_id=delivery_id)
        if record is None:
            return "duplicate"
        record.outcome = apply()[:500]
        record.save(update_fields=["outcome"])
    return event.kind.value


def template_status_record(event: TemplateStatusEvent, delivery_id: int | None) -> str:
    """A template's status changed at Meta: record it, and when the template can no longer be
    sent (paused, disabled...), stop the campaigns using it with Meta's reason."""

    def apply() -> str:
        reason = event.reason if event.reason.strip().upper() not in {"", "NONE"} else ""
        update = template_record_status_change(
            waba_id=event.waba_id,
            name=event.template_name,
            language=event.language,
            new_status=event.event,
            reason=reason or event.rejection_reason or event.other_info_title or None,
            meta_template_id=event.template_id or None,
        )
        label = f"{event.template_name} ({event.language})"
        if update is None:
            return f"Template {label} is not known here yet; the next sync brings it"
        if not (update.became_unsendable or update.pauses_campaigns):
            return f"Template {label}: {update.old_status} → {update.new_status}"
        why = " ".join(filter(None, [event.other_info_title, reason])) or event.event
        stopped = campaigns_stop_using_template(
            template=update.template,
            reason=f"Meta reported template {label} {update.new_status}: {why}"[:500],
        )
        return (
            f"Template {label}: {update.old_status} → {update.new_status}; "
            f"stopped campaigns {stopped or 'none'}"
        )

    return _recorded(event, delivery_id, apply)


def template_quality_record(event: TemplateQualityEvent, delivery_id: int | None) -> str:
    def apply() -> str:
        template = template_record_quality_update(
            waba_id=event.waba_id,
            name=event.template_name,
            language=event.language,
            quality_score=event.new_quality,
            meta_template_id=event.template_id or None,
        )
        if template is None:
            return f"Template {event.template_name} ({event.language}) is not known here yet"
        return f"Quality {event.previous_quality or '?'} → {event.new_quality or '?'}"

    return _recorded(event, delivery_id, apply)


def _tier(limit: str, daily: str) -> str | None:
    if limit in SenderNumber.MessagingLimitTier.values:
        return limit
    return _TIER_OF_DAILY_LIMIT.get(daily.strip().upper()) if daily else None


def phone_number_update_record(event: PhoneNumberUpdateEvent, delivery_id: int | None) -> str:
    """Quality, messaging-limit tier or throughput of a sender number changed."""

    def apply() -> str:
        quality = event.quality_rating or _QUALITY_OF_EVENT.get(event.event)
        update = sender_numbers_record_update(
            waba_id=event.waba_id,
            display_phone_number=event.display_phone_number,
            quality_rating=quality,
            messaging_limit_tier=_tier(event.current_limit, event.max_daily_conversations),
            throughput_upgraded=event.event == THROUGHPUT_UPGRADE,
        )
        return _sender_outcome(event.event, update.number_ids, update.changes)

    return _recorded(event, delivery_id, apply)


def account_update_record(event: AccountUpdateEvent, delivery_id: int | None) -> str:
    """An account-level update: a new messaging limit is stored on the account's numbers; every
    other update (restrictions, violations, reviews) is kept for the admin."""

    def apply() -> str:
        tier = _tier("", event.max_daily_conversations)
        if tier is None:
            logger.warning("WhatsApp account %s: %s", event.waba_id, event.event or event.field)
            return f"Recorded: {event.field} {event.event}".strip()
        update = sender_numbers_record_update(
            waba_id=event.waba_id,
            display_phone_number=event.phone_number,
            messaging_limit_tier=tier,
        )
        return _sender_outcome(event.event or event.field, update.number_ids, update.changes)

    return _recorded(event, delivery_id, apply)


def _sender_outcome(what: str, number_ids: list[int], changes: list[str]) -> str:
    if not number_ids:
        return f"{what}: no sender number of this account matches"
    done = ", ".join(changes) if changes else "no change"
    return f"{what}: sender numbers {number_ids}: {done}"


def error_record(event: ErrorEvent, delivery_id: int | None) -> str:
    """Meta could not process something on its side: keep it visible."""
    error = event.error

    def apply() -> str:
        logger.warning("Meta reported webhook error %s: %s", error.code, error.summary)
        return f"Meta error {error.code}: {error.summary} {error.details}".strip()

    return _recorded(event, delivery_id, apply)


def unknown_event_record(event: Any, delivery_id: int | None) -> str:
    """Not understood by this version: kept whole, so a later version can replay it."""
    reason = event.reason if isinstance(event, UnknownEvent) else f"kind {event.kind}"
    return _recorded(event, delivery_id, lambda: f"Not understood: {reason}")


HANDLERS: dict[EventKind, Callable[[Any, int | None], str]] = {
    EventKind.TEMPLATE_STATUS: template_status_record,
    EventKind.TEMPLATE_QUALITY: template_quality_record,
    EventKind.USER_PREFERENCE: user_preference_record,
    EventKind.PHONE_NUMBER_UPDATE: phone_number_update_record,
    EventKind.ACCOUNT_UPDATE: account_update_record,
    EventKind.ERROR: error_record,
    EventKind.UNKNOWN: unknown_event_record,
}
