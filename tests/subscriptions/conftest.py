"""Fixtures of the outbound event tests: a loopback receiver, subscriptions pointed at it, and
the source rows every event type is made from, written through the apps' own services."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator

import pytest
from django.utils import timezone

from campaigns.ledger import message_statuses_apply
from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus
from campaigns.services import campaign_pause
from contacts.models import ConsentScope, ConsentSource, Contact
from contacts.services import consent_record_opt_in, consent_record_opt_out
from subscriptions.event_types import EVENT_TYPES
from subscriptions.feed import feed_run
from subscriptions.models import Subscription
from subscriptions.services import subscription_create
from tests.campaigns.factories import CampaignFactory, ContactFactory, MessageFactory
from tests.support.event_receiver import EventReceiver
from webhooks.services.inbound import inbound_message_record
from whatsapp.events import EventError, InboundMessageEvent, StatusEvent

_numbers = itertools.count(1)


@pytest.fixture
def receiver() -> Iterator[EventReceiver]:
    with EventReceiver() as stand_in:
        yield stand_in


@pytest.fixture(autouse=True)
def _quick_retries(settings) -> None:
    # Backoff in tenths of a second so that tests wait for it for real.
    settings.TIDINGS_SUBSCRIPTION_RETRY_BASE_SECONDS = 0.2
    settings.TIDINGS_SUBSCRIPTION_RETRY_MAX_SECONDS = 1.0
    settings.TIDINGS_SUBSCRIPTION_READ_TIMEOUT = 1.0


@pytest.fixture
def subscribe(receiver):
    """A subscription to `types` (every type by default) at the receiver."""

    def make(*types: str, **fields) -> Subscription:
        fields.setdefault("target_url", receiver.url)
        return subscription_create(event_types=list(types or sorted(EVENT_TYPES)), **fields)

    return make


@pytest.fixture
def feed(django_capture_on_commit_callbacks):
    """Run the change feed as the beat does, with the deliveries it enqueues (Celery is eager
    in tests, so they are attempted before this returns)."""

    def run() -> dict:
        with django_capture_on_commit_callbacks(execute=True):
            return feed_run()

    return run


def sent_message(**fields) -> Message:
    number = next(_numbers)
    fields.setdefault("contact", ContactFactory())
    fields.setdefault("status", MessageStatus.SENT)
    fields.setdefault("wamid", f"wamid.TEST{number:08d}")
    fields.setdefault("sent_at", timezone.now() - dt.timedelta(minutes=5))
    return MessageFactory(**fields)


def report(message: Message, status: str, *errors: EventError) -> None:
    """Meta reports `status` for the message (the ledger's own path)."""
    message_statuses_apply(
        statuses=[
            StatusEvent(
                wamid=message.wamid,
                status=status,
                occurred_at=timezone.now() - dt.timedelta(seconds=1),
                errors=errors,
            )
        ]
    )


def inbound(contact: Contact, text: str, *, context_wamid: str = "") -> None:
    """The contact writes to us (the webhooks app's own path)."""
    number = next(_numbers)
    inbound_message_record(
        InboundMessageEvent(
            wamid=f"wamid.IN{number:08d}",
            from_wa_id=contact.phone.removeprefix("+"),
            message_type="text",
            text=text,
            context_wamid=context_wamid,
            phone_number_id="106540352242922",
            occurred_at=timezone.now() - dt.timedelta(seconds=1),
        ),
        None,
    )


def opt_out(contact: Contact) -> None:
    consent_record_opt_out(
        contact=contact,
        scope=ConsentScope.MARKETING,
        source=ConsentSource.WEB_FORM,
        evidence="preferences page",
        captured_at=timezone.now() - dt.timedelta(seconds=1),
    )


def opt_in(contact: Contact) -> None:
    consent_record_opt_in(
        contact=contact,
        scope=ConsentScope.MARKETING,
        source=ConsentSource.WEB_FORM,
        evidence="signup-form-7",
        captured_at=timezone.now() - dt.timedelta(seconds=1),
    )


def pause_a_running_campaign() -> Campaign:
    campaign = CampaignFactory()
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.RUNNING)
    return campaign_pause(campaign_id=campaign.pk, reason="waiting for stock")


UNDELIVERABLE = EventError(
    code=131026,
    title="Message undeliverable",
    message="Message undeliverable",
    details="The recipient's phone number is not a WhatsApp phone number.",
    href="https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
)


def one_of_each_event() -> dict[str, int]:
    """Write the source rows of one event of every type; returns the contact of each type."""
    delivered = sent_message()
    report(delivered, "sent")
    report(delivered, "delivered")
    report(delivered, "read")
    failed = sent_message()
    report(failed, "failed", UNDELIVERABLE)
    inbound(delivered.contact, "Is my order on its way?", context_wamid=delivered.wamid)
    person = ContactFactory()
    opt_in(person)
    opt_out(person)
    campaign = pause_a_running_campaign()
    return {
        "message.sent": delivered.contact_id,
        "message.delivered": delivered.contact_id,
        "message.read": delivered.contact_id,
        "message.failed": failed.contact_id,
        "message.received": delivered.contact_id,
        "contact.opted_in": person.pk,
        "contact.opted_out": person.pk,
        "campaign.status_changed": campaign.pk,
    }
