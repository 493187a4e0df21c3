"""Factories of the campaigns tests: consented contacts, segments and ready-to-launch campaigns."""

from __future__ import annotations

import datetime as dt

import factory
from django.utils import timezone

from campaigns.models import Campaign, Message, MessageStatus
from contacts.models import ConsentScope, ConsentSource, Contact, Segment
from contacts.services import consent_record_opt_in, consent_record_opt_out
from tests.templates_app.factories import (
    MessageTemplateFactory,
    SenderNumberFactory,
    WhatsAppAccountFactory,
)

# Every variable of the templates_app factory's positional `order_update` template.
ORDER_UPDATE_MAPPING = {
    "header.1": {"source": "contact", "path": "external_id", "fallback": "your order"},
    "body.1": {"source": "contact", "path": "name", "fallback": "there"},
    "body.2": {"source": "contact", "path": "external_id", "fallback": "-"},
    "body.3": {"source": "constant", "path": "Friday"},
    "button.0": {"source": "contact", "path": "external_id", "fallback": "orders"},
}


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    phone = factory.Sequence(lambda number: f"+447911{number:06d}")
    name = factory.Sequence(lambda number: f"Customer {number}")
    external_id = factory.Sequence(lambda number: f"C-{number}")
    language = "en_US"
    timezone = "Europe/London"


def opt_in(contact: Contact, scope: str = ConsentScope.ALL, **extra) -> None:
    consent_record_opt_in(
        contact=contact,
        scope=scope,
        source=ConsentSource.WEB_FORM,
        evidence="signup-form-7",
        captured_at=extra.pop("captured_at", timezone.now() - dt.timedelta(days=1)),
        **extra,
    )


def opt_out(contact: Contact, scope: str = ConsentScope.ALL) -> None:
    consent_record_opt_out(
        contact=contact,
        scope=scope,
        source=ConsentSource.INBOUND_KEYWORD,
        evidence="wamid.STOP",
        captured_at=timezone.now(),
    )


def consented_contacts(count: int, scope: str = ConsentScope.ALL, **fields) -> list[Contact]:
    contacts = ContactFactory.create_batch(count, **fields)
    for contact in contacts:
        opt_in(contact, scope)
    return contacts


class SegmentFactory(factory.django.DjangoModelFactory):
    """Everyone (no conditions)."""

    class Meta:
        model = Segment

    name = factory.Sequence(lambda number: f"Segment {number}")


class CampaignFactory(factory.django.DjangoModelFactory):
    """A draft campaign of the positional UTILITY `order_update` template to everyone."""

    class Meta:
        model = Campaign

    name = factory.Sequence(lambda number: f"Campaign {number}")
    template = factory.SubFactory(MessageTemplateFactory)
    sender = factory.LazyAttribute(
        lambda campaign: SenderNumberFactory(account=campaign.template.account)
    )
    default_language = "en_US"
    segment = factory.SubFactory(SegmentFactory)
    variable_mapping = factory.LazyFunction(lambda: dict(ORDER_UPDATE_MAPPING))


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    campaign = factory.SubFactory(CampaignFactory)
    contact = factory.SubFactory(ContactFactory)
    sender = factory.LazyAttribute(lambda message: message.campaign.sender)
    template = factory.LazyAttribute(lambda message: message.campaign.template)
    category = factory.LazyAttribute(lambda message: message.campaign.template.category)
    idempotency_key = factory.LazyAttribute(
        lambda message: f"campaign:{message.campaign.pk}:{message.contact.pk}"
    )
    status = MessageStatus.QUEUED


__all__ = [
    "CampaignFactory",
    "ContactFactory",
    "MessageFactory",
    "MessageTemplateFactory",
    "SegmentFactory",
    "SenderNumberFactory",
    "WhatsAppAccountFactory",
    "consented_contacts",
    "opt_in",
    "opt_out",
]
