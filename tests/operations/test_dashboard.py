"""The admin's landing page as staff see it: today's messages, the week's rates, failures by
code, templates needing attention, running campaigns, warnings, and the audit exports."""

from __future__ import annotations

import datetime as dt
import socket
import zoneinfo

import pytest
from django.core.cache import cache
from django.utils import timezone

from campaigns.models import CampaignStatus, Message, MessageStatus
from config.timezones import COOKIE_NAME
from contacts.roles import COMPLIANCE_GROUP
from operations.dashboard import DashboardWarning
from templates_app.models import TemplateStatus
from tests.campaigns.factories import CampaignFactory, MessageFactory, MessageTemplateFactory
from tests.contacts.factories import UserFactory
from webhooks.models import DeliveryStatus, WebhookDelivery

pytestmark = pytest.mark.django_db

INDEX = "/admin/"


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    # The dashboard caches its statistics for a few seconds; the in-process cache outlives a test.
    cache.clear()


@pytest.fixture
def staff(client):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def dashboard(client) -> dict:
    response = client.get(INDEX)
    assert response.status_code == 200
    return response.context["dashboard"]


def created(message: Message, when: dt.datetime) -> Message:
    Message.objects.filter(pk=message.pk).update(created_at=when)
    return message


def days_ago(days: int, hours: int = 0) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=days, hours=hours)


def warning_texts(board: dict) -> list[str]:
    return [warning.text for warning in board["warnings"]]


# --- Messages ---------------------------------------------------------------------------------


def test_todays_messages_are_counted_by_status(staff):
    campaign = CampaignFactory()
    for status in (MessageStatus.QUEUED, MessageStatus.QUEUED, MessageStatus.SENT):
        MessageFactory(campaign=campaign, status=status)
    MessageFactory(campaign=campaign, status=MessageStatus.FAILED, failed_at=timezone.now())
    created(MessageFactory(campaign=campaign, status=MessageStatus.SENT), days_ago(2))

    board = dashboard(staff)

    assert board["messages"]["today"] == [
        {"status": "queued", "label": "Queued", "count": 2},
        {"status": "sent", "label": "Sent", "count": 1},
        {"status": "failed", "label": "Failed", "count": 1},
    ]
    assert board["messages"]["today_total"] == 4


def test_today_is_the_staff_members_day(staff):
    auckland = zoneinfo.ZoneInfo("Pacific/Auckland")
    midnight = timezone.make_aware(
        dt.datetime.combine(timezone.localdate(timezone=auckland), dt.time.min), auckland
    )
    campaign = CampaignFactory()
    created(
        MessageFactory(campaign=campaign), min(midnight + dt.timedelta(minutes=1), timezone.now())
    )
    created(MessageFactory(campaign=campaign), midnight - dt.timedelta(minutes=1))

    staff.cookies[COOKIE_NAME] = "Pacific/Auckland"  # what the admin's page script sets

    board = dashboard(staff)

    assert board["messages"]["today_total"] == 1


def test_delivery_and_read_rates_per_day_for_the_last_seven_days(staff):
    campaign = CampaignFactory()
    for status in (
        MessageStatus.SENT,
        MessageStatus.DELIVERED,
        MessageStatus.DELIVERED,
        MessageStatus.READ,
        MessageStatus.FAILED,
        MessageStatus.QUEUED,  # not gone out: in no rate
    ):
        MessageFactory(campaign=campaign, status=status)
    created(MessageFactory(campaign=campaign, status=MessageStatus.DELIVERED), days_ago(3))
    created(MessageFactory(campaign=campaign, status=MessageStatus.READ), days_ago(9))

    board = dashboard(staff)

    days = board["messages"]["days"]
    assert [day["day"] for day in days] == [
        timezone.localdate() - dt.timedelta(days=n) for n in range(6, -1, -1)
    ]
    today, three_days_ago = days[-1], days[-4]
    assert today == {
        "day": timezone.localdate(),
        "created": 6,
        "outgoing": 5,
        "delivered": 3,
        "read": 1,
        "failed": 1,
        "delivery_rate": 60.0,
        "read_rate": 33.3,
    }
    assert (three_days_ago["outgoing"], three_days_ago["delivery_rate"]) == (1, 100.0)
    assert (three_days_ago["read_rate"]) == 0.0
    assert [day["outgoing"] for day in days if day not in (today, three_days_ago)] == [0] * 5
    assert board["messages"]["week"] == {
        "outgoing": 6,
        "delivered": 4,
        "read": 1,
        "delivery_rate": 66.7,
        "read_rate": 25.0,
    }


def test_failures_of_the_week_by_meta_error_code_with_their_meaning(staff):
    campaign = CampaignFactory()
    for code, failed_at in (
        (131026, days_ago(0)),
        (131026, days_ago(2)),
        (131047, days_ago(1)),
        (None, days_ago(0)),
        (131050, days_ago(9)),  # too old
    ):
        MessageFactory(
            campaign=campaign, status=MessageStatus.FAILED, error_code=code, failed_at=failed_at
        )

    board = dashboard(staff)

    assert board["messages"]["failures"] == [
        {"code": "131026", "title": "Message undeliverable", "count": 2},
        {"code": "131047", "title": "More than 24 hours since the user last replied", "count": 1},
        {"code": "none", "title": "No Meta error code", "count": 1},
    ]


# --- Templates, campaigns, warnings -----------------------------------------------------------


def test_templates_needing_attention_and_a_warning_for_paused_ones(staff):
    MessageTemplateFactory(name="spring_sale")  # approved: fine
    rejected = MessageTemplateFactory(
        name="winter_sale", status=TemplateStatus.REJECTED, rejection_reason="INVALID_FORMAT"
    )
    paused = MessageTemplateFactory(name="order_update", status=TemplateStatus.PAUSED)
    disabled = MessageTemplateFactory(name="reminder", status=TemplateStatus.DISABLED)

    response = staff.get(INDEX)
    board = response.context["dashboard"]

    assert {row["template"] for row in board["templates"]} == {rejected, paused, disabled}
    assert warning_texts(board) == [  # most recently changed first
        "Template “reminder” (en_US) is disabled by Meta: campaigns using it are stopped.",
        "Template “order_update” (en_US) is paused by Meta: campaigns using it are stopped.",
    ]
    page = response.content.decode()
    assert "INVALID_FORMAT" in page
    assert f'href="/admin/templates_app/messagetemplate/{paused.pk}/change/"' in page


def test_running_campaigns_show_their_progress(staff):
    campaign = CampaignFactory(name="Spring orders", status=CampaignStatus.RUNNING)
    CampaignFactory(name="Draft one")
    now = timezone.now()
    for status in (MessageStatus.SENT, MessageStatus.SENT, MessageStatus.QUEUED):
        MessageFactory(campaign=campaign, status=status, sent_at=now if status == "sent" else None)
    MessageFactory(campaign=campaign, status=MessageStatus.FAILED, failed_at=now)

    response = staff.get(INDEX)
    (row,) = response.context["dashboard"]["campaigns"]

    assert row["campaign"] == campaign
    assert (row["done"], row["progress"].total, row["percent"]) == (3, 4, 75)
    assert row["recent_failure_rate"] == 33.3
    assert "3 / 4" in response.content.decode()


def _results(campaign, *, sent: int, failed_after_sending: int = 0, refused: int = 0, age=0):
    """Send outcomes `age` minutes ago: sent, sent then failed by webhook, refused by Meta."""
    when = timezone.now() - dt.timedelta(minutes=age)
    for _ in range(sent):
        MessageFactory(campaign=campaign, status=MessageStatus.DELIVERED, sent_at=when)
    for _ in range(failed_after_sending):
        MessageFactory(campaign=campaign, status=MessageStatus.FAILED, sent_at=when, failed_at=when)
    for _ in range(refused):
        MessageFactory(campaign=campaign, status=MessageStatus.FAILED, failed_at=when)


def test_a_spike_in_a_running_campaigns_failures_is_a_warning(staff):
    spiking = CampaignFactory(name="Spiking", status=CampaignStatus.RUNNING)
    _results(spiking, sent=20, failed_after_sending=4, refused=6)
    steady = CampaignFactory(name="Steady", status=CampaignStatus.RUNNING)
    _results(steady, sent=25, refused=5)
    young = CampaignFactory(name="Young", status=CampaignStatus.RUNNING)
    _results(young, sent=5, refused=5)  # too few results to judge
    recovered = CampaignFactory(name="Recovered", status=CampaignStatus.RUNNING)
    _results(recovered, sent=0, refused=30, age=90)  # over an hour ago
    _results(recovered, sent=30)

    board = dashboard(staff)

    assert board["warnings"] == [
        DashboardWarning(
            "Campaign “Spiking”: 10 of its last 30 send results failed (33.3%, above 20%).",
            f"/admin/campaigns/campaign/{spiking.pk}/change/",
            "error",
        )
    ]


def test_the_spike_looks_at_the_last_results_only(staff, settings):
    settings.TIDINGS_DASHBOARD_FAILURE_SPIKE_RESULTS = 20
    campaign = CampaignFactory(name="Better now", status=CampaignStatus.RUNNING)
    _results(campaign, sent=0, refused=15, age=30)
    _results(campaign, sent=20, age=1)

    assert dashboard(staff)["warnings"] == []


def test_a_stopped_campaign_is_a_warning_with_its_reason(staff):
    stopped = CampaignFactory(
        name="Autumn",
        status=CampaignStatus.STOPPED,
        status_reason="Template order_update was paused by Meta",
    )

    board = dashboard(staff)

    assert board["warnings"] == [
        DashboardWarning(
            "Campaign “Autumn” was stopped: Template order_update was paused by Meta.",
            f"/admin/campaigns/campaign/{stopped.pk}/change/",
        )
    ]


def _delivery(n: int, status: str, age_seconds: int) -> None:
    WebhookDelivery.objects.create(
        body=b"{}",
        sha256=f"{n:064d}",
        status=status,
        received_at=timezone.now() - dt.timedelta(seconds=age_seconds),
    )


def test_webhook_processing_falling_behind_is_a_warning(staff):
    _delivery(1, DeliveryStatus.PENDING, 600)
    _delivery(2, DeliveryStatus.PROCESSING, 30)
    _delivery(3, DeliveryStatus.PROCESSED, 7200)

    board = dashboard(staff)

    (warning,) = board["warnings"]
    assert warning.level == "error"
    assert warning.text.startswith("Webhook processing is behind: the oldest delivery not ")
    assert warning.text.endswith(" arrived 10 min ago (2 waiting).")
    assert warning.url == "/admin/webhooks/webhookdelivery/?status__exact=pending"
    assert board["webhooks"]["open"] == 2


def test_webhooks_within_the_threshold_and_failed_deliveries(staff):
    _delivery(1, DeliveryStatus.PENDING, 30)
    _delivery(2, DeliveryStatus.FAILED, 3600)

    board = dashboard(staff)

    assert warning_texts(board) == [
        "1 webhook delivery failed processing: replay it once the cause is fixed."
    ]
    assert (board["webhooks"]["open"], board["webhooks"]["failed"]) == (1, 1)


def test_a_quiet_system_has_no_warnings(staff):
    CampaignFactory(status=CampaignStatus.RUNNING)
    _results(CampaignFactory(status=CampaignStatus.RUNNING), sent=40)

    response = staff.get(INDEX)

    assert response.context["dashboard"]["warnings"] == []
    assert 'id="dashboard-warnings"' not in response.content.decode()


# --- Who sees what ----------------------------------------------------------------------------


def test_the_audit_exports_are_linked_from_the_dashboard(staff):
    page = staff.get(INDEX).content.decode()

    assert 'href="/admin/campaigns/message/audit/"' in page
    assert 'href="/admin/contacts/consentrecord/export/"' in page


def test_compliance_sees_the_message_panels_and_audit_links_and_nothing_to_change(client):
    client.force_login(UserFactory(username="compliance", is_staff=True, groups=[COMPLIANCE_GROUP]))
    MessageFactory(status=MessageStatus.SENT)

    response = client.get(INDEX)
    board = response.context["dashboard"]
    page = response.content.decode()

    assert board["messages"]["today_total"] == 1
    assert board["message_audit_url"] == "/admin/campaigns/message/audit/"
    assert board["consent_audit_url"] == "/admin/contacts/consentrecord/export/"
    assert 'id="dashboard-campaigns"' in page  # read-only: progress, no actions
    assert 'id="dashboard-webhooks"' in page  # read-only everywhere: the webhook health too
    assert "addlink" not in page
    assert client.get("/admin/campaigns/message/audit/", {"download": "1"}).status_code == 200


def test_staff_without_permissions_get_the_plain_index(client):
    client.force_login(UserFactory(username="newcomer", is_staff=True))

    response = client.get(INDEX)

    assert response.status_code == 200
    assert response.context["dashboard"] == {
        "now": response.context["dashboard"]["now"],
        "rate_days": 7,
        "warnings": [],
    }
    assert "Message audit export" not in response.content.decode()


def test_the_dashboard_needs_a_staff_login(client):
    anonymous = client.get(INDEX)
    client.force_login(UserFactory(username="customer"))
    not_staff = client.get(INDEX)

    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/admin/login/")
    assert not_staff.status_code == 302


def test_the_page_renders_when_the_cache_is_down(staff, settings):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    CampaignFactory(name="Spring orders", status=CampaignStatus.RUNNING)
    MessageFactory(status=MessageStatus.SENT)
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }

    response = staff.get(INDEX)

    assert response.status_code == 200
    assert response.context["dashboard"]["messages"]["today_total"] == 1
    assert "progress unavailable" in response.content.decode()
