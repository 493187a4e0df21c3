"""Attribution: a conversion goes to the contact's latest campaign message sent within the window
before it, or to nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns.conversions import ConversionConflict, conversion_record
from campaigns.errors import CampaignError
from campaigns.models import Conversion, MessageStatus
from tests.campaigns.factories import CampaignFactory, ContactFactory, MessageFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)


def sent(contact, hours_before: float, status: str = MessageStatus.DELIVERED, **fields):
    """A campaign message to `contact` sent `hours_before` the conversion at NOW."""
    return MessageFactory(
        contact=contact,
        status=status,
        sent_at=NOW - dt.timedelta(hours=hours_before),
        **fields,
    )


def record(contact, order_id: str = "ORD-1", occurred_at=NOW, **fields):
    values = {"value": Decimal("49.90"), "currency": "EUR", "fingerprint": "body-1"} | fields
    return conversion_record(
        contact=contact, order_id=order_id, occurred_at=occurred_at, **values
    ).conversion


@pytest.fixture(autouse=True)
def seven_day_window(settings):
    settings.TIDINGS_CONVERSION_ATTRIBUTION_HOURS = 168


def test_a_conversion_inside_the_window_goes_to_that_message_and_its_campaign():
    contact = ContactFactory()
    message = sent(contact, hours_before=30)

    conversion = record(contact)

    assert (conversion.message, conversion.campaign) == (message, message.campaign)
    assert conversion.attribution_window_hours == 168


def test_a_message_sent_before_the_window_leaves_the_conversion_unattributed():
    contact = ContactFactory()
    sent(contact, hours_before=168.5)

    conversion = record(contact)

    assert (conversion.message, conversion.campaign) == (None, None)


def test_the_window_is_the_setting(settings):
    settings.TIDINGS_CONVERSION_ATTRIBUTION_HOURS = 24
    contact = ContactFactory()
    sent(contact, hours_before=30)

    conversion = record(contact)

    assert conversion.message is None
    assert conversion.attribution_window_hours == 24


def test_a_message_exactly_at_the_start_of_the_window_still_counts():
    contact = ContactFactory()
    message = sent(contact, hours_before=168)

    assert record(contact).message == message


def test_the_latest_message_before_the_conversion_wins():
    contact = ContactFactory()
    sent(contact, hours_before=100)
    latest = sent(contact, hours_before=2, status=MessageStatus.SENT)
    sent(contact, hours_before=50, status=MessageStatus.READ)

    assert record(contact).message == latest


def test_a_message_sent_after_the_conversion_does_not_count():
    contact = ContactFactory()
    before = sent(contact, hours_before=5)
    sent(contact, hours_before=-1)

    assert record(contact).message == before


@pytest.mark.parametrize(
    "status",
    [MessageStatus.FAILED, MessageStatus.QUEUED, MessageStatus.SKIPPED, MessageStatus.UNKNOWN],
)
def test_a_message_that_did_not_go_out_does_not_count(status):
    contact = ContactFactory()
    older = sent(contact, hours_before=40)
    sent(contact, hours_before=1, status=status)

    assert record(contact).message == older


def test_test_sends_and_api_messages_never_get_conversions():
    contact = ContactFactory()
    campaign = CampaignFactory()
    common = {
        "contact": contact,
        "campaign": None,
        "sender": campaign.sender,
        "template": campaign.template,
        "category": "UTILITY",
        "status": MessageStatus.DELIVERED,
        "sent_at": NOW - dt.timedelta(hours=1),
    }
    MessageFactory(test_of_campaign=campaign, idempotency_key="test:1", **common)
    MessageFactory(idempotency_key="api:1:k", **common)

    conversion = record(contact)

    assert (conversion.message, conversion.campaign) == (None, None)


def test_another_contacts_message_does_not_count():
    contact = ContactFactory()
    sent(ContactFactory(), hours_before=1)

    assert record(contact).message is None


def test_the_same_order_again_returns_the_original_and_records_nothing_new():
    contact = ContactFactory()
    first = record(contact)
    # A message sent since would win a fresh attribution; a replay keeps the original one.
    sent(contact, hours_before=0.5)

    result = conversion_record(
        contact=contact,
        order_id="ORD-1",
        value=Decimal("49.90"),
        currency="EUR",
        occurred_at=NOW,
        fingerprint="body-1",
    )

    assert (result.conversion, result.created) == (first, False)
    assert result.conversion.message is None
    assert Conversion.objects.count() == 1


def test_the_same_order_with_another_body_is_a_conflict():
    contact = ContactFactory()
    record(contact)

    with pytest.raises(ConversionConflict) as refused:
        record(contact, value=Decimal("10"), fingerprint="body-2")

    assert refused.value.field_errors == {
        "order_id": ["This order was already reported with a different body."]
    }
    assert Conversion.objects.get().value == Decimal("49.90")


@pytest.mark.parametrize(
    ("fields", "field", "problem"),
    [
        (
            {"currency": "ABC"},
            "currency",
            "'ABC' is not an ISO 4217 currency code such as \"EUR\".",
        ),
        (
            {"currency": "DEM"},
            "currency",
            "'DEM' is not an ISO 4217 currency code such as \"EUR\".",
        ),
        ({"value": Decimal("-1")}, "value", "A conversion's value cannot be negative."),
        (
            {"occurred_at": NOW + dt.timedelta(hours=1)},
            "occurred_at",
            "A conversion cannot be in the future.",
        ),
    ],
)
def test_a_conversion_that_cannot_be_is_refused_naming_the_field(fields, field, problem):
    with pytest.raises(CampaignError) as refused:
        record(ContactFactory(), **fields)

    assert refused.value.field_errors == {field: [problem]}
    assert not Conversion.objects.exists()


def test_the_currency_is_stored_in_capitals():
    assert record(ContactFactory(), currency="eur").currency == "EUR"
