"""The event types a subscription can ask for, and what each one means."""

from __future__ import annotations

from django.db import models


class EventType(models.TextChoices):
    MESSAGE_SENT = "message.sent", "message.sent: Meta accepted a message for delivery"
    MESSAGE_DELIVERED = "message.delivered", "message.delivered: it reached the phone"
    MESSAGE_READ = "message.read", "message.read: the recipient opened it"
    MESSAGE_FAILED = "message.failed", "message.failed: Meta reported a failure, with its errors"
    MESSAGE_RECEIVED = (
        "message.received",
        "message.received: a contact wrote to us (a reply, attributed to a campaign or not)",
    )
    CONTACT_OPTED_OUT = "contact.opted_out", "contact.opted_out: an opt-out entered the ledger"
    CONTACT_OPTED_IN = "contact.opted_in", "contact.opted_in: an opt-in entered the ledger"
    CAMPAIGN_STATUS_CHANGED = (
        "campaign.status_changed",
        "campaign.status_changed: a campaign was scheduled, started, paused, completed...",
    )


# Sent by the test action to one subscription, whatever it subscribed to; never from the feed.
PING = "ping"
EVENT_TYPES = frozenset(EventType.values)
