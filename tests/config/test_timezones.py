"""Date/times in the admin follow the staff member's timezone (the browser's, by cookie); the
API and any unknown name stay on settings.TIME_ZONE."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, CampaignStatus
from config.timezones import COOKIE_NAME, staff_timezone
from contacts.models import ConsentRecord
from tests.campaigns.factories import CampaignFactory, ContactFactory

pytestmark = pytest.mark.django_db

STARTED = dt.datetime(2026, 7, 1, 8, 15, tzinfo=dt.UTC)


@pytest.fixture
def started_campaign() -> Campaign:
    campaign = CampaignFactory()
    Campaign.objects.filter(pk=campaign.pk).update(
        status=CampaignStatus.COMPLETED, started_at=STARTED, planned_at=STARTED
    )
    return campaign


def campaign_page(client, campaign: Campaign) -> str:
    response = client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_the_cookie_names_the_zone_admin_pages_are_shown_in(admin_client, started_campaign):
    admin_client.cookies[COOKIE_NAME] = "Asia/Kolkata"

    page = campaign_page(admin_client, started_campaign)

    assert "Times in Asia/Kolkata." in page
    assert "started 2026-07-01 13:45:00 IST" in page  # UTC+05:30
    assert timezone.get_current_timezone_name() == "UTC"  # not left active after the request


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "../../etc/passwd", "", "x" * 200])
def test_an_unknown_zone_falls_back_to_the_configured_one(admin_client, started_campaign, name):
    admin_client.cookies[COOKIE_NAME] = name

    page = campaign_page(admin_client, started_campaign)

    assert "Times in UTC." in page
    assert "started 2026-07-01 08:15:00 UTC" in page


def test_without_a_cookie_the_admin_uses_settings_time_zone(
    admin_client, started_campaign, settings
):
    settings.TIME_ZONE = "America/New_York"

    page = campaign_page(admin_client, started_campaign)

    assert "Times in America/New_York." in page
    assert "started 2026-07-01 04:15:00 EDT" in page


def test_dates_typed_into_an_admin_form_are_read_in_the_staff_members_zone(admin_client):
    contact = ContactFactory()
    admin_client.cookies[COOKIE_NAME] = "Europe/Madrid"

    response = admin_client.post(
        reverse("admin:contacts_consentrecord_add"),
        {
            "contact": contact.pk,
            "action": "opt_in",
            "scope": "marketing",
            "source": "in_store",
            "evidence": "paper form 2025-114",
            "captured_at_0": "2025-01-15",
            "captured_at_1": "10:00:00",
        },
    )

    assert response.status_code == 302
    assert ConsentRecord.objects.get().captured_at == dt.datetime(2025, 1, 15, 9, 0, tzinfo=dt.UTC)


def test_the_api_ignores_the_cookie(admin_client, started_campaign):
    url = f"/api/v1/campaigns/{started_campaign.pk}/"
    plain = admin_client.get(url).json()["started_at"]
    admin_client.cookies[COOKIE_NAME] = "Asia/Kolkata"

    with_cookie = admin_client.get(url).json()["started_at"]

    assert plain == with_cookie
    assert plain.startswith("2026-07-01T08:15:00")


def test_every_admin_page_loads_the_script_that_sets_the_cookie(client):
    page = client.get(reverse("admin:login")).content.decode()

    assert "tidings/admin/timezone.js" in page
    assert 'data-cookie-path="/admin/"' in page
    assert 'data-active-zone="UTC"' in page
    script = finders.find("tidings/admin/timezone.js")
    assert script is not None
    assert "tidings_timezone=" in Path(script).read_text(encoding="utf-8")


def test_only_iana_names_are_accepted():
    assert str(staff_timezone("Europe/Lisbon")) == "Europe/Lisbon"
    assert str(staff_timezone("UTC")) == "UTC"
    assert staff_timezone("europe/lisbon") is None
    assert staff_timezone("/etc/localtime") is None
    assert staff_timezone(None) is None
