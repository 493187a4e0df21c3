"""A campaign's results: message cost from Meta's pricing and the rate table, conversions,
revenue, cost per conversion and conversion rate — in the stats API and on the admin page."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from campaigns.conversions import conversion_record
from campaigns.models import Message, MessageStatus
from campaigns.results import campaign_results, message_cost
from tests.campaigns.factories import CampaignFactory, ContactFactory, MessageFactory
from tests.templates_app.factories import UserFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)
RATES = {
    "currency": "USD",
    "marketing": Decimal("0.025"),
    "utility": Decimal("0.004"),
    "authentication": Decimal("0.0135"),
    "authentication_international": Decimal("0.03"),
    "service": Decimal("0"),
}


@pytest.fixture(autouse=True)
def rate_table(settings):
    settings.TIDINGS_MESSAGE_RATES = RATES
    settings.TIDINGS_CONVERSION_ATTRIBUTION_HOURS = 168


def message(campaign=None, *, status=MessageStatus.DELIVERED, category="marketing", **fields):
    """A message Meta reported with `category` pricing (billable, regular, unless told)."""
    return MessageFactory(
        **({"campaign": campaign} if campaign else {}),
        status=status,
        sent_at=NOW - dt.timedelta(hours=5),
        pricing_category=category,
        pricing_type=fields.pop("pricing_type", "regular"),
        billable=fields.pop("billable", True),
        **fields,
    )


def convert(contact, order_id: str, value: str, currency: str) -> None:
    conversion_record(
        contact=contact,
        order_id=order_id,
        value=Decimal(value),
        currency=currency,
        occurred_at=NOW,
        fingerprint=order_id,
    )


# --- One message's cost ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("category", "cost"),
    [
        ("marketing", Decimal("0.025")),
        ("utility", Decimal("0.004")),
        ("authentication", Decimal("0.0135")),
        ("authentication-international", Decimal("0.03")),
        ("service", Decimal("0")),
    ],
)
def test_a_delivered_billable_message_costs_its_categorys_rate(category, cost):
    assert message_cost(message(category=category)) == cost


def test_a_read_message_was_delivered_and_is_charged():
    assert message_cost(message(status=MessageStatus.READ)) == Decimal("0.025")


@pytest.mark.parametrize(
    "reported",
    [
        {"billable": False},
        {"pricing_type": "free_customer_service"},
        {"pricing_type": "free_entry_point", "billable": None},
    ],
)
def test_a_message_meta_reported_free_costs_nothing(reported):
    assert message_cost(message(**reported)) == Decimal("0")


@pytest.mark.parametrize("status", [MessageStatus.SENT, MessageStatus.FAILED, MessageStatus.QUEUED])
def test_a_message_that_was_not_delivered_costs_nothing(status):
    assert message_cost(message(status=status)) == Decimal("0")


def test_a_category_without_a_rate_has_no_cost_rather_than_a_guess():
    assert message_cost(message(category="marketing_lite")) is None


def test_the_messages_api_shows_each_messages_cost():
    delivered = message(category="utility")
    free = message(billable=False)
    client = APIClient()
    user = UserFactory(is_superuser=True)
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")

    rows = {row["id"]: row for row in client.get("/api/v1/messages/").json()["results"]}

    assert (rows[delivered.pk]["cost"], rows[delivered.pk]["cost_currency"]) == ("0.004", "USD")
    assert rows[free.pk]["cost"] == "0.00"


# --- A campaign's results --------------------------------------------------------------------


@pytest.fixture
def campaign_with_results():
    """Six messages and three attributed conversions, plus noise that must not count.

    cost: two delivered marketing messages at 0.025 = 0.05 USD (the free one, the one only sent
    and the failed one cost nothing; marketing_lite has no rate);
    conversions: 3 (two by Ana), revenue 60.00 EUR and 1500 JPY;
    conversion rate: 2 converted contacts of 5 messages sent, delivered or read.
    """
    campaign = CampaignFactory()
    ana = message(campaign).contact
    ben = message(campaign, status=MessageStatus.READ).contact
    message(campaign, category="utility", billable=False, pricing_type="free_customer_service")
    message(campaign, status=MessageStatus.SENT)
    message(campaign, category="marketing_lite")
    message(campaign, status=MessageStatus.FAILED, category="", billable=None)
    convert(ana, "A-1", "49.90", "EUR")
    convert(ana, "A-2", "10.10", "EUR")
    convert(ben, "B-1", "1500", "JPY")

    # Noise: a test send of this campaign and another campaign's message and conversion.
    MessageFactory(
        campaign=None,
        test_of_campaign=campaign,
        contact=ContactFactory(),
        sender=campaign.sender,
        template=campaign.template,
        category="UTILITY",
        idempotency_key="test:noise",
        status=MessageStatus.DELIVERED,
        sent_at=NOW - dt.timedelta(hours=1),
        pricing_category="marketing",
        billable=True,
    )
    other = message()
    convert(other.contact, "X-1", "999", "EUR")
    convert(ContactFactory(), "U-1", "5", "EUR")
    return campaign


EXPECTED_RESULTS = {
    "conversions": 3,
    "converted_contacts": 2,
    "revenue": {"EUR": "60.00", "JPY": "1500"},
    "messages_sent": 5,
    "conversion_rate": 0.4,
    "cost": "0.05",
    "cost_currency": "USD",
    "cost_per_conversion": "0.0167",
    "charged_messages": 3,
    "unpriced_messages": 1,
    "attribution_window_hours": 168,
}


def test_the_stats_api_shows_the_results_next_to_the_existing_keys(campaign_with_results):
    client = APIClient()
    user = UserFactory(is_superuser=True)
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")

    response = client.get(f"/api/v1/campaigns/{campaign_with_results.pk}/stats/")

    assert response.status_code == 200
    stats = response.json()
    assert stats["results"] == EXPECTED_RESULTS
    assert set(stats) == {
        "total",
        "by_status",
        "pending",
        "rate_per_second",
        "eta_seconds",
        "funnel",
        "skipped_by_reason",
        "failed_by_code",
        "results",
    }
    assert stats["total"] == 6


def test_a_campaign_without_messages_or_conversions_has_empty_results():
    results = campaign_results(CampaignFactory().pk).as_dict()

    assert results == {
        "conversions": 0,
        "converted_contacts": 0,
        "revenue": {},
        "messages_sent": 0,
        "conversion_rate": None,
        "cost": "0.00",
        "cost_currency": "USD",
        "cost_per_conversion": None,
        "charged_messages": 0,
        "unpriced_messages": 0,
        "attribution_window_hours": 168,
    }


def test_a_new_conversion_shows_at_once_despite_the_cache(django_capture_on_commit_callbacks):
    campaign = CampaignFactory()
    contact = message(campaign).contact
    assert campaign_results(campaign.pk).conversions == 0

    with django_capture_on_commit_callbacks(execute=True):
        convert(contact, "N-1", "20", "EUR")

    assert campaign_results(campaign.pk).conversions == 1


def test_the_results_take_the_same_few_queries_however_many_messages():
    small, large = CampaignFactory(), CampaignFactory()
    convert(message(small).contact, "S-1", "1", "EUR")
    for index in range(12):
        convert(message(large).contact, f"L-{index}", "1", "EUR")

    with CaptureQueriesContext(connection) as on_small:
        campaign_results(small.pk)
    with CaptureQueriesContext(connection) as on_large:
        campaign_results(large.pk)

    assert len(on_small) == len(on_large) == 4
    assert Message.objects.filter(campaign=large).count() == 12


# --- The admin page --------------------------------------------------------------------------


def test_the_campaign_page_shows_a_results_panel(client, campaign_with_results):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    page = client.get(f"/admin/campaigns/campaign/{campaign_with_results.pk}/change/")

    assert page.status_code == 200
    html = page.content.decode()
    for expected in (
        "<th style='text-align:left;padding-right:1em'>Conversions</th><td>3</td>",
        "<td>60.00 EUR, 1500 JPY</td>",
        "<td>40.00%</td>",
        "<td>0.05 USD (+1 messages without a rate)</td>",
        "<td>0.0167 USD</td>",
        f"?campaign__id__exact={campaign_with_results.pk}",
    ):
        assert expected in html


def test_the_conversions_admin_lists_them_read_only(client, campaign_with_results):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    listed = client.get(
        "/admin/campaigns/conversion/",
        {"campaign__id__exact": campaign_with_results.pk, "attributed": "yes"},
    )
    unattributed = client.get("/admin/campaigns/conversion/", {"attributed": "no"})

    assert listed.status_code == 200
    assert [row.order_id for row in listed.context["cl"].result_list] == ["B-1", "A-2", "A-1"]
    assert [row.order_id for row in unattributed.context["cl"].result_list] == ["U-1"]
    assert client.get("/admin/campaigns/conversion/add/").status_code == 403
