"""The source tables the change feed reads, and the event each of their rows becomes.

Every source is an append-only table of an app to the left, written in the same transaction as
the change it records, so a row exists exactly when the change was committed:

* `message_status`: `campaigns.MessageStatusEvent`, each status Meta reported, once:
  `message.sent`, `message.delivered`, `message.read`, `message.failed`;
* `inbound_message`: `webhooks.InboundMessage`: `message.received`;
* `consent`: `contacts.ConsentRecord`, the append-only ledger: `contact.opted_out`,
  `contact.opted_in`;
* `campaign_status`: `campaigns.CampaignStatusChange`: `campaign.status_changed`.

A row that is no event (a status Meta added later, such as `played`) gives None and is passed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import models

from campaigns.models import CampaignStatusChange, Message, MessageStatusEvent
from contacts.models import ConsentAction, ConsentRecord, Contact
from webhooks.models import InboundMessage

from .event_types import EventType


@dataclass(frozen=True)
class EventDraft:
    type: str
    occurred_at: dt.datetime
    data: dict[str, Any]
    contact_id: int | None = None
    campaign_id: int | None = None


@dataclass(frozen=True)
class Source:
    name: str
    model: type[models.Model]
    types: frozenset[str]
    queryset: Callable[[], models.QuerySet]
    to_event: Callable[[Any], EventDraft | None]


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def contact_data(contact: Contact | None) -> dict[str, Any] | None:
    if contact is None:
        return None
    return {
        "id": contact.pk,
        "phone": contact.phone,
        "external_id": contact.external_id,
        "whatsapp_user_id": contact.whatsapp_user_id,
    }


def _message_data(message: Message) -> dict[str, Any]:
    template = message.template
    return {
        "id": message.pk,
        "wamid": message.wamid,
        "campaign_id": message.campaign_id,
        "test_of_campaign_id": message.test_of_campaign_id,
        "category": message.category,
        "template": {"name": template.name, "language": template.language} if template else None,
        "status": message.status,
    }


_STATUS_TYPES = {
    "sent": EventType.MESSAGE_SENT,
    "delivered": EventType.MESSAGE_DELIVERED,
    "read": EventType.MESSAGE_READ,
    "failed": EventType.MESSAGE_FAILED,
}


def _message_status_event(row: MessageStatusEvent) -> EventDraft | None:
    event_type = _STATUS_TYPES.get(row.status)
    if event_type is None:
        return None
    message = row.message
    data: dict[str, Any] = {
        "status": row.status,
        "occurred_at": _iso(row.occurred_at),
        "message": _message_data(message),
        "contact": contact_data(message.contact),
    }
    if event_type == EventType.MESSAGE_FAILED:
        data["errors"] = _failure_errors(row, message)
    return EventDraft(
        type=event_type,
        occurred_at=row.occurred_at,
        data=data,
        contact_id=message.contact_id,
        campaign_id=message.campaign_id or message.test_of_campaign_id,
    )


def _failure_errors(row: MessageStatusEvent, message: Message) -> list[dict[str, Any]]:
    """Meta's errors whole when the message keeps them for this failure, else the code and
    title the status event recorded."""
    kept = message.meta_errors or []
    if kept and kept[0].get("code") == row.error_code:
        return [
            {key: error.get(key) for key in ("code", "title", "message", "details", "href")}
            for error in kept
        ]
    if row.error_code is None and not row.error_title:
        return []
    return [
        {"code": row.error_code, "title": row.error_title, "message": "", "details": "", "href": ""}
    ]


def _inbound_event(row: InboundMessage) -> EventDraft:
    replied_to = row.replied_to
    data = {
        "inbound_message": {
            "id": row.pk,
            "wamid": row.wamid,
            "type": row.message_type,
            "text": row.text,
            "button": {"payload": row.button_payload, "text": row.button_text},
            "interactive": {
                "type": row.interactive_type,
                "id": row.interactive_id,
                "title": row.interactive_title,
            },
            "context_wamid": row.context_wamid or None,
            "phone_number_id": row.phone_number_id,
            "sent_at": _iso(row.sent_at),
        },
        "contact": contact_data(row.contact),
        "in_reply_to": (
            {
                "message_id": replied_to.pk,
                "wamid": replied_to.wamid,
                "campaign_id": replied_to.campaign_id,
            }
            if replied_to
            else None
        ),
        "consent_action": row.consent_action or None,
    }
    return EventDraft(
        type=EventType.MESSAGE_RECEIVED,
        occurred_at=row.sent_at,
        data=data,
        contact_id=row.contact_id,
        campaign_id=replied_to.campaign_id if replied_to else None,
    )


def _consent_event(row: ConsentRecord) -> EventDraft:
    opted_out = row.action == ConsentAction.OPT_OUT
    data = {
        "contact": contact_data(row.contact),
        "consent": {
            "id": row.pk,
            "action": row.action,
            "scope": row.scope,
            "source": row.source,
            "captured_at": _iso(row.captured_at),
            "recorded_at": _iso(row.recorded_at),
            "recorded_via": row.recorded_via,
        },
    }
    return EventDraft(
        type=EventType.CONTACT_OPTED_OUT if opted_out else EventType.CONTACT_OPTED_IN,
        occurred_at=row.captured_at,
        data=data,
        contact_id=row.contact_id,
    )


def _campaign_status_event(row: CampaignStatusChange) -> EventDraft:
    campaign = row.campaign
    data = {
        "campaign": {"id": campaign.pk, "name": campaign.name},
        "from_status": row.from_status,
        "to_status": row.to_status,
        "reason": row.reason,
        "changed_at": _iso(row.changed_at),
    }
    return EventDraft(
        type=EventType.CAMPAIGN_STATUS_CHANGED,
        occurred_at=row.changed_at,
        data=data,
        campaign_id=campaign.pk,
    )


SOURCES: tuple[Source, ...] = (
    Source(
        name="message_status",
        model=MessageStatusEvent,
        types=frozenset(_STATUS_TYPES.values()),
        queryset=lambda: MessageStatusEvent.objects.select_related(
            "message__contact", "message__template"
        ),
        to_event=_message_status_event,
    ),
    Source(
        name="inbound_message",
        model=InboundMessage,
        types=frozenset({EventType.MESSAGE_RECEIVED}),
        queryset=lambda: InboundMessage.objects.select_related("contact", "replied_to"),
        to_event=_inbound_event,
    ),
    Source(
        name="consent",
        model=ConsentRecord,
        types=frozenset({EventType.CONTACT_OPTED_OUT, EventType.CONTACT_OPTED_IN}),
        queryset=lambda: ConsentRecord.objects.select_related("contact"),
        to_event=_consent_event,
    ),
    Source(
        name="campaign_status",
        model=CampaignStatusChange,
        types=frozenset({EventType.CAMPAIGN_STATUS_CHANGED}),
        queryset=lambda: CampaignStatusChange.objects.select_related("campaign"),
        to_event=_campaign_status_event,
    ),
)
SOURCES_BY_NAME = {source.name: source for source in SOURCES}
