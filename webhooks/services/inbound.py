"""What users send us: inbound messages (replies, STOP/START, button taps) and the marketing
Stop/Resume preference they set in WhatsApp itself.

Each is applied exactly once: an inbound message is inserted by its unique wamid in the same
transaction as its effects (contact, consent, reply attribution), and a preference by its
`WebhookEvent` key. A duplicate or a replay finds the row and changes nothing — which matters
here, because the consent ledger is append-only.
"""

from __future__ import annotations

import datetime as dt
import logging
from functools import partial

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from campaigns.ledger import message_record_reply
from contacts.errors import ContactError
from contacts.models import ConsentScope, ConsentSource, Contact
from contacts.services import (
    consent_record_opt_in,
    consent_record_opt_out,
    contact_find_or_create_from_whatsapp,
    contact_record_inbound,
)
from whatsapp.events import InboundMessageEvent, UserPreferenceEvent

from ..keywords import ConsentIntent, button_intent, keyword_intent
from ..models import ConsentReplyStatus, InboundMessage
from .records import event_claim
from .replies import consent_reply_due, consent_reply_enqueue

logger = logging.getLogger(__name__)

RECORDED_VIA = "WhatsApp webhook"
# Not something the user sent: no service window, no reply.
_NOT_FROM_THE_USER = frozenset({"system"})
# Meta's user_preferences category for marketing messages, and its values.
MARKETING_PREFERENCE = "marketing_messages"


def _at(moment: dt.datetime | None) -> dt.datetime:
    """Meta's time, never in our future (clocks differ; consent refuses future captures)."""
    now = timezone.now()
    return now if moment is None or moment > now else moment


def _contact(*, wa_id: str, user_id: str, profile_name: str = "") -> Contact | None:
    """The contact identified by a phone (`wa_id`) or a business-scoped user id, created when
    unknown (with no consent). None when neither identifies anyone."""
    if not wa_id and not user_id:
        return None
    try:
        return contact_find_or_create_from_whatsapp(
            wa_id=wa_id or None, user_id=user_id or None, profile_name=profile_name
        )
    except ContactError as error:
        logger.warning("inbound webhook names no usable contact: %s", error.message)
        return None


def inbound_message_record(event: InboundMessageEvent, delivery_id: int | None) -> str:
    """Store a message a user sent and act on it; returns what was done (for the summary).

    Opens the 24-hour service window (`last_inbound_at`), reads an opt-out or opt-in keyword or a
    marketing opt-out button (consent records with the message id as evidence; nothing is sent
    back unless TIDINGS_CONSENT_KEYWORD_REPLY is set, and then once, after commit), and counts the
    message as a reply to the campaign message it answers.
    """
    if not event.wamid:
        return "inbound_without_id"
    sent_at = _at(event.occurred_at)
    with transaction.atomic():
        contact = _contact(
            wa_id=event.from_wa_id, user_id=event.from_user_id, profile_name=event.profile_name
        )
        inbound, created = InboundMessage.objects.get_or_create(
            wamid=event.wamid,
            defaults={
                "contact": contact,
                "delivery_id": delivery_id,
                "phone_number_id": event.phone_number_id[:64],
                "from_wa_id": event.from_wa_id[:32],
                "from_user_id": event.from_user_id[:160],
                "message_type": event.message_type[:32],
                "text": event.text,
                "button_payload": event.button_payload[:1000],
                "button_text": event.button_text[:1000],
                "interactive_type": event.interactive_type[:32],
                "interactive_id": event.interactive_id[:256],
                "interactive_title": event.interactive_title[:256],
                "context_wamid": event.context_wamid[:128],
                "sent_at": sent_at,
            },
        )
        if not created:
            return "inbound_duplicate"
        if contact is None:
            return "inbound_without_contact"
        if event.message_type in _NOT_FROM_THE_USER:
            return "inbound_message"
        contact_record_inbound(contact_id=contact.pk, at=sent_at)
        changed = []
        intent = _intent(event)
        if intent is not None and _record_consent(contact, intent, event, sent_at):
            inbound.consent_action = intent.value
            changed.append("consent_action")
            if consent_reply_due(inbound):
                inbound.consent_reply_status = ConsentReplyStatus.PENDING
                changed.append("consent_reply_status")
                transaction.on_commit(partial(consent_reply_enqueue, inbound.pk))
        replied_to = message_record_reply(
            contact_id=contact.pk,
            replied_at=sent_at,
            window=dt.timedelta(hours=settings.TIDINGS_REPLY_ATTRIBUTION_HOURS),
            context_wamid=event.context_wamid,
        )
        if replied_to is not None:
            inbound.replied_to_id = replied_to
            changed.append("replied_to")
        if changed:
            inbound.save(update_fields=changed)
    return f"inbound_{intent.value}" if intent is not None else "inbound_message"


def _intent(event: InboundMessageEvent) -> ConsentIntent | None:
    if event.message_type == "text":
        return keyword_intent(event.text)
    if event.message_type == "button":
        return button_intent(payload=event.button_payload, text=event.button_text)
    if event.message_type == "interactive":
        return button_intent(payload=event.interactive_id, text=event.interactive_title)
    return None


def _record_consent(
    contact: Contact, intent: ConsentIntent, event: InboundMessageEvent, at: dt.datetime
) -> bool:
    evidence = f"WhatsApp message {event.wamid}"
    if intent is ConsentIntent.OPT_IN:
        try:
            consent_record_opt_in(
                contact=contact,
                scope=ConsentScope.ALL,
                source=ConsentSource.INBOUND_KEYWORD,
                evidence=evidence,
                captured_at=at,
                recorded_via=RECORDED_VIA,
            )
        except ContactError as error:
            logger.info("opt-in keyword of contact %s not recorded: %s", contact.pk, error.message)
            return False
        return True
    marketing_only = intent is ConsentIntent.MARKETING_OPT_OUT
    # A configured opt-out button is a keyword the user sent by tapping: the same source.
    consent_record_opt_out(
        contact=contact,
        scope=ConsentScope.MARKETING if marketing_only else ConsentScope.ALL,
        source=ConsentSource.INBOUND_KEYWORD,
        evidence=evidence,
        captured_at=at,
        recorded_via=RECORDED_VIA,
    )
    return True


def user_preference_record(event: UserPreferenceEvent, delivery_id: int | None) -> str:
    """The user tapped Stop or Resume for this business's marketing messages in WhatsApp: a
    marketing opt-out or opt-in with source `whatsapp_preference`. Other values (Meta's pywa-only
    `signup`) and categories are kept as events, not acted on."""
    with transaction.atomic():
        record = event_claim(event, delivery_id=delivery_id)
        if record is None:
            return "duplicate"
        outcome = _apply_preference(event)
        record.outcome = outcome[:500]
        record.save(update_fields=["outcome"])
    return "user_preference"


def _apply_preference(event: UserPreferenceEvent) -> str:
    if event.category != MARKETING_PREFERENCE or event.value not in {"stop", "resume"}:
        return f"Not acted on: {event.category or '?'} {event.value or '?'}"
    contact = _contact(wa_id=event.wa_id, user_id=event.user_id)
    if contact is None:
        return "No contact identified"
    at = _at(event.occurred_at)
    evidence = f"WhatsApp marketing preference '{event.value}' at {at.isoformat()}"
    if event.value == "stop":
        consent_record_opt_out(
            contact=contact,
            scope=ConsentScope.MARKETING,
            source=ConsentSource.WHATSAPP_PREFERENCE,
            evidence=evidence,
            captured_at=at,
            recorded_via=RECORDED_VIA,
        )
        return f"Marketing opt-out of contact {contact.pk}"
    try:
        consent_record_opt_in(
            contact=contact,
            scope=ConsentScope.MARKETING,
            source=ConsentSource.WHATSAPP_PREFERENCE,
            evidence=evidence,
            captured_at=at,
            recorded_via=RECORDED_VIA,
        )
    except ContactError as error:
        return f"Marketing opt-in of contact {contact.pk} refused: {error.message}"
    return f"Marketing opt-in of contact {contact.pk}"
