"""/metrics as Prometheus scrapes it: protected, exact values for a known ledger, and still
answering when Redis or the broker is down."""

from __future__ import annotations

import datetime as dt
import socket

import pytest
import redis
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST

from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus
from campaigns.personalisation.sources import fetch_for_contacts
from operations.metrics import collect_families
from tests.campaigns.factories import CampaignFactory, ContactFactory, MessageFactory
from tests.campaigns.personalisation.factories import DataSourceFactory
from tests.support.crm_api import CRMStandIn
from webhooks.models import DeliveryStatus, UnmatchedStatus, UnmatchedStatusState, WebhookDelivery

from .conftest import METRICS_TOKEN, by_label, parse

pytestmark = pytest.mark.django_db


def direct_message(campaign: Campaign, **fields) -> Message:
    """An API send (no campaign) from the campaign's number and template."""
    contact = ContactFactory()
    return Message.objects.create(
        contact=contact,
        sender=campaign.sender,
        template=campaign.template,
        category=campaign.template.category,
        idempotency_key=f"api:{contact.pk}",
        **fields,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- Protection -------------------------------------------------------------------------------


def test_without_a_token_or_allowed_addresses_metrics_are_off(client, settings):
    settings.TIDINGS_METRICS_TOKEN = ""

    response = client.get("/metrics")

    assert response.status_code == 403
    assert b"Metrics are off" in response.content
    assert b"tidings_" not in response.content


def test_a_missing_bearer_token_is_asked_for_and_a_wrong_one_refused(client):
    missing = client.get("/metrics")
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer not-the-token")
    basic = client.get("/metrics", HTTP_AUTHORIZATION=f"Basic {METRICS_TOKEN}")

    assert missing.status_code == 401
    assert missing["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert wrong.status_code == 403
    assert basic.status_code == 401
    assert all(b"tidings_" not in r.content for r in (missing, wrong, basic))


def test_the_right_token_gets_prometheus_text(client):
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}")

    assert response.status_code == 200
    assert response["Content-Type"] == CONTENT_TYPE_LATEST
    assert "no-cache" in response["Cache-Control"]
    assert 'tidings_metrics_source_up{source="database"} 1.0' in response.content.decode()


def test_allowed_networks_admit_their_addresses_only(client, settings):
    settings.TIDINGS_METRICS_TOKEN = ""
    settings.TIDINGS_METRICS_ALLOWED_IPS = ["10.1.0.0/16", "127.0.0.1"]

    local = client.get("/metrics")  # the test client's REMOTE_ADDR is 127.0.0.1
    inside = client.get("/metrics", REMOTE_ADDR="10.1.200.7")
    outside = client.get("/metrics", REMOTE_ADDR="10.2.0.1")

    assert (local.status_code, inside.status_code, outside.status_code) == (200, 200, 403)


def test_with_both_set_the_address_and_the_token_must_pass(client, settings):
    settings.TIDINGS_METRICS_ALLOWED_IPS = ["127.0.0.1"]
    good = f"Bearer {METRICS_TOKEN}"

    assert client.get("/metrics", HTTP_AUTHORIZATION=good).status_code == 200
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.9", HTTP_AUTHORIZATION=good).status_code == (
        403
    )


def test_only_get_is_served(client):
    response = client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}")

    assert response.status_code == 405


# --- Values -----------------------------------------------------------------------------------


def test_messages_by_status_and_error_code_come_from_the_campaign_counters(scrape):
    spring, summer = CampaignFactory(), CampaignFactory()
    now = timezone.now()
    for campaign in (spring, summer):
        MessageFactory(campaign=campaign, status=MessageStatus.QUEUED)
        MessageFactory(
            campaign=campaign, status=MessageStatus.DELIVERED, sent_at=now, delivered_at=now
        )
    MessageFactory(campaign=spring, status=MessageStatus.READ, sent_at=now, read_at=now)
    MessageFactory(campaign=spring, status=MessageStatus.FAILED, error_code=131026, failed_at=now)
    MessageFactory(campaign=summer, status=MessageStatus.FAILED, error_code=131026, failed_at=now)
    MessageFactory(campaign=summer, status=MessageStatus.FAILED, failed_at=now)
    # API sends are reported apart, over the last 24 hours only.
    direct_message(spring, status=MessageStatus.SENT)
    direct_message(spring, status=MessageStatus.FAILED, error_code=131047, failed_at=now)
    old = direct_message(spring, status=MessageStatus.SENT)
    Message.objects.filter(pk=old.pk).update(created_at=now - dt.timedelta(hours=25))

    samples = scrape()

    assert by_label(samples, "tidings_campaign_messages") == {
        "queued": 2,
        "delivered": 2,
        "read": 1,
        "failed": 3,
    }
    assert by_label(samples, "tidings_campaign_messages_failed") == {"131026": 2, "none": 1}
    assert by_label(samples, "tidings_campaign_messages_reached") == {
        "sent": 3,
        "delivered": 3,
        "read": 1,
    }
    assert by_label(samples, "tidings_direct_messages_24h") == {"sent": 1, "failed": 1}
    assert by_label(samples, "tidings_direct_messages_failed_24h") == {"131047": 1}


def test_send_latency_is_a_histogram_of_the_last_five_minutes(scrape):
    campaign = CampaignFactory()
    now = timezone.now()
    for seconds, sent_ago in ((0.2, 10), (1.5, 20), (40, 30), (3, 400)):  # the last is too old
        sent_at = now - dt.timedelta(seconds=sent_ago)
        MessageFactory(
            campaign=campaign,
            status=MessageStatus.SENT,
            sending_at=sent_at - dt.timedelta(seconds=seconds),
            sent_at=sent_at,
        )
    # Sent without a claim (a status webhook filled `sent_at`): no latency to measure.
    MessageFactory(campaign=campaign, status=MessageStatus.SENT, sent_at=now)

    samples = scrape()

    buckets = by_label(samples, "tidings_send_latency_seconds_bucket")
    assert buckets == {
        "0.1": 0,
        "0.25": 1,
        "0.5": 1,
        "1.0": 1,
        "2.5": 2,
        "5.0": 2,
        "10.0": 2,
        "30.0": 2,
        "60.0": 3,
        "120.0": 3,
        "300.0": 3,
        "+Inf": 3,
    }
    assert samples["tidings_send_latency_seconds_gcount"] == {(): 3}
    assert samples["tidings_send_latency_seconds_gsum"][()] == pytest.approx(41.7)


def test_queue_depth_counts_due_messages_of_running_campaigns_and_api_sends(scrape):
    now = timezone.now()
    running = CampaignFactory(status=CampaignStatus.RUNNING)
    paused = CampaignFactory(status=CampaignStatus.PAUSED)
    MessageFactory(campaign=running, status=MessageStatus.QUEUED)
    MessageFactory(campaign=running, status=MessageStatus.QUEUED, not_before=now)
    MessageFactory(
        campaign=running, status=MessageStatus.QUEUED, not_before=now + dt.timedelta(hours=2)
    )
    MessageFactory(campaign=running, status=MessageStatus.SENDING)
    MessageFactory(campaign=paused, status=MessageStatus.QUEUED)
    direct_message(running, status=MessageStatus.QUEUED)

    samples = scrape()

    assert samples["tidings_queue_due_messages"] == {(): 3}


def test_webhook_lag_is_the_age_of_the_oldest_delivery_not_processed():
    now = timezone.now()
    for n, (status, age) in enumerate(
        [
            (DeliveryStatus.PROCESSED, 3600),
            (DeliveryStatus.PENDING, 300),
            (DeliveryStatus.PROCESSING, 420),
            (DeliveryStatus.PENDING, 5),
            (DeliveryStatus.FAILED, 900),
        ]
    ):
        WebhookDelivery.objects.create(
            body=b"{}",
            sha256=f"{n:064d}",
            status=status,
            received_at=now - dt.timedelta(seconds=age),
        )
    UnmatchedStatus.objects.create(
        wamid="wamid.A", status="sent", state=UnmatchedStatusState.RETRYING
    )
    UnmatchedStatus.objects.create(
        wamid="wamid.B", status="sent", state=UnmatchedStatusState.UNMATCHED
    )
    UnmatchedStatus.objects.create(
        wamid="wamid.C", status="read", state=UnmatchedStatusState.UNMATCHED
    )

    families = {family.name: family for family in collect_families(now=now)}

    assert [s.value for s in families["tidings_webhook_oldest_pending_age_seconds"].samples] == [
        420.0
    ]
    deliveries = {
        s.labels["status"]: s.value for s in families["tidings_webhook_deliveries"].samples
    }
    assert deliveries == {"pending": 2, "processing": 1, "failed": 1, "quarantined": 0}
    unmatched = {
        s.labels["state"]: s.value for s in families["tidings_webhook_unmatched_statuses"].samples
    }
    assert unmatched == {"retrying": 1, "unmatched": 2}


def test_campaigns_and_templates_are_counted_per_state(scrape):
    CampaignFactory(status=CampaignStatus.RUNNING)
    CampaignFactory(status=CampaignStatus.RUNNING)
    CampaignFactory(status=CampaignStatus.STOPPED)

    samples = scrape()

    assert by_label(samples, "tidings_campaigns") == {"running": 2, "stopped": 1}
    assert by_label(samples, "tidings_templates") == {"APPROVED": 3}


def test_a_scrape_is_reused_for_the_cache_period(client, settings, scrape):
    settings.TIDINGS_METRICS_CACHE_SECONDS = 60
    CampaignFactory(status=CampaignStatus.RUNNING)
    first = scrape()

    CampaignFactory(status=CampaignStatus.RUNNING)
    second = scrape()

    assert by_label(first, "tidings_campaigns") == by_label(second, "tidings_campaigns")
    assert by_label(second, "tidings_campaigns") == {"running": 1}


# --- Redis: the data-source cache counters and the broker -------------------------------------


@pytest.mark.redis
def test_cache_hits_and_misses_of_every_worker_are_counted_in_redis(scrape):
    with CRMStandIn() as crm:
        crm.records.update({f"C-{n}": {"tier": "gold"} for n in range(1, 5)})
        loyalty = DataSourceFactory(name="loyalty", url_template=crm.url_template("external_id"))
        contacts = [ContactFactory(external_id=f"C-{n}") for n in range(1, 5)]

        fetch_for_contacts(sources=[loyalty], contacts=contacts[:3])  # 3 misses
        fetch_for_contacts(sources=[loyalty], contacts=contacts)  # 3 hits, 1 miss

    samples = scrape()

    assert by_label(samples, "tidings_datasource_cache_hits_total") == {"loyalty": 3}
    assert by_label(samples, "tidings_datasource_cache_misses_total") == {"loyalty": 4}
    assert by_label(samples, "tidings_datasource_cache_hit_ratio") == {"loyalty": 3 / 7}
    assert by_label(samples, "tidings_metrics_source_up")["redis"] == 1


def test_without_redis_nothing_is_counted_and_the_scrape_says_nothing_of_it(scrape):
    with CRMStandIn() as crm:
        crm.records["C-1"] = {"tier": "gold"}
        loyalty = DataSourceFactory(name="loyalty", url_template=crm.url_template("external_id"))
        fetch_for_contacts(sources=[loyalty], contacts=[ContactFactory(external_id="C-1")])

    samples = scrape()

    assert "tidings_datasource_cache_hits_total" not in samples
    assert by_label(samples, "tidings_metrics_source_up") == {"database": 1}


def test_redis_down_leaves_its_metrics_out_and_flags_it(client, settings, scrape):
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }

    samples = scrape()

    assert by_label(samples, "tidings_metrics_source_up") == {"database": 1, "redis": 0}
    assert "tidings_datasource_cache_hits_total" not in samples
    assert samples["tidings_queue_due_messages"] == {(): 0}


def test_queue_lengths_are_read_from_a_redis_broker(redis_server, settings, scrape):
    settings.CELERY_BROKER_URL = f"{redis_server.url}/3"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        broker.lpush("dispatch", "task-1", "task-2", "task-3")
        broker.lpush("dispatch\x06\x166", "urgent-task")  # kombu's key for priority 6
        broker.lpush("webhooks", "task-4")

        samples = scrape()
    finally:
        broker.flushdb()

    assert by_label(samples, "tidings_broker_queue_messages") == {
        "celery": 0,
        "dispatch": 4,
        "housekeeping": 0,
        "webhooks": 1,
    }
    assert by_label(samples, "tidings_metrics_source_up")["broker"] == 1


def test_a_broker_that_is_down_is_flagged_not_a_500(settings, scrape):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}

    samples = scrape()

    assert by_label(samples, "tidings_metrics_source_up") == {"database": 1, "broker": 0}
    assert "tidings_broker_queue_messages" not in samples


def test_the_text_parses_as_prometheus_exposition(client):
    MessageFactory(status=MessageStatus.QUEUED)

    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}")

    names = set(parse(response.content.decode()))
    assert {
        "tidings_campaign_messages",
        "tidings_send_latency_seconds_bucket",
        "tidings_queue_due_messages",
        "tidings_webhook_oldest_pending_age_seconds",
        "tidings_metrics_source_up",
    } <= names
