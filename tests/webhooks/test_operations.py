"""Operating the webhook store: isolation of failures, replay, sweep, purge and the admin."""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from campaigns.models import MessageStatus
from contacts.models import ConsentRecord
from tests.campaigns.factories import ContactFactory, MessageFactory
from tests.webhooks.helpers import payload
from webhooks import services
from webhooks.models import (
    DeliveryStatus,
    InboundMessage,
    UnmatchedStatus,
    UnmatchedStatusState,
    WebhookDelivery,
    WebhookEvent,
)

pytestmark = pytest.mark.django_db

NOW = int(time.time())


def batch(*, inbound_body: str = "STOP") -> bytes:
    """Two statuses, one inbound message and a template update in one POST."""
    return payload(
        "batch_multi_entry",
        wamid_1="wamid.S1",
        wamid_2="wamid.S2",
        recipient_1="447912000101",
        recipient_2="447912000102",
        callback_1="",
        callback_2="",
        inbound_wamid="wamid.IN1",
    ).replace(b'"Thanks!"', f'"{inbound_body}"'.encode())


def store(body: bytes, django_capture_on_commit_callbacks) -> WebhookDelivery:
    with django_capture_on_commit_callbacks(execute=False):
        delivery_id = services.webhook_delivery_store(body=body)
    return WebhookDelivery.objects.get(pk=delivery_id)


def test_one_failing_event_is_recorded_and_never_blocks_the_others(deliver, monkeypatch):
    first = MessageFactory(status=MessageStatus.SENT, wamid="wamid.S1")
    second = MessageFactory(status=MessageStatus.SENT, wamid="wamid.S2")
    ContactFactory(phone="+447912000101")

    def broken(*args, **kwargs):
        raise RuntimeError("contacts service unavailable")

    with monkeypatch.context() as patched:
        patched.setattr("webhooks.services.inbound.contact_find_or_create_from_whatsapp", broken)
        delivery = deliver(batch())

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (MessageStatus.DELIVERED, MessageStatus.READ)
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.error == (
        "inbound_message wamid.IN1: RuntimeError: contacts service unavailable"
    )
    assert delivery.summary == {"status": 2, "template_status": 1}
    assert InboundMessage.objects.count() == 0

    out = StringIO()
    call_command("replay_webhooks", "--status", "failed", stdout=out)

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PROCESSED
    assert (delivery.attempts, delivery.error) == (2, "")
    assert delivery.summary == {"status": 2, "inbound_opt_out": 1, "duplicate": 1}
    assert InboundMessage.objects.get().consent_action == "opt_out"
    assert ConsentRecord.objects.count() == 1
    assert out.getvalue().splitlines() == [
        f"delivery {delivery.pk}: processed (duplicate 1, inbound_opt_out 1, status 2)",
        "Replayed 1 deliveries: 1 processed.",
    ]


def test_one_bad_status_is_isolated_from_the_rest_of_its_batch(deliver, monkeypatch):
    from campaigns import ledger

    good = MessageFactory(status=MessageStatus.SENT, wamid="wamid.S1")
    MessageFactory(status=MessageStatus.SENT, wamid="wamid.S2")
    real_apply = ledger.message_statuses_apply

    def apply_unless_s2(*, statuses):
        if any(status.wamid == "wamid.S2" for status in statuses):
            raise ValueError("bad report")
        return real_apply(statuses=statuses)

    monkeypatch.setattr("webhooks.services.statuses.message_statuses_apply", apply_unless_s2)

    delivery = deliver(batch(inbound_body="hello"))

    good.refresh_from_db()
    assert good.status == MessageStatus.DELIVERED
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.error == "status read of wamid.S2: ValueError: bad report"
    assert delivery.summary["status"] == 1


def test_a_transient_database_error_leaves_the_delivery_failed_and_replayable(
    django_capture_on_commit_callbacks, monkeypatch
):
    delivery = store(batch(inbound_body="hello"), django_capture_on_commit_callbacks)

    def deadlock(*args, **kwargs):
        raise OperationalError("deadlock detected")

    monkeypatch.setattr("webhooks.services.statuses.message_statuses_apply", deadlock)
    outcome = services.webhook_delivery_process(delivery_id=delivery.pk)

    assert (outcome.status, outcome.transient) == (DeliveryStatus.FAILED, True)
    assert services.webhook_delivery_process(delivery_id=delivery.pk) is None
    monkeypatch.undo()
    retried = services.webhook_delivery_process(delivery_id=delivery.pk, retry_failed=True)
    assert retried.status == DeliveryStatus.PROCESSED


def test_a_delivery_is_processed_by_one_worker_at_a_time(django_capture_on_commit_callbacks):
    delivery = store(batch(inbound_body="hello"), django_capture_on_commit_callbacks)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.PROCESSING)

    assert services.webhook_delivery_process(delivery_id=delivery.pk) is None
    assert services.webhook_delivery_process(delivery_id=delivery.pk, replay=True) is None


def test_replay_selects_by_id_status_and_date_range(django_capture_on_commit_callbacks):
    old = store(payload("value_errors"), django_capture_on_commit_callbacks)
    WebhookDelivery.objects.filter(pk=old.pk).update(
        received_at=dt.datetime(2026, 5, 1, 12, tzinfo=dt.UTC), status=DeliveryStatus.PROCESSED
    )
    new = store(payload("unknown_field"), django_capture_on_commit_callbacks)

    assert services.webhook_deliveries_select(ids=[new.pk]) == [new.pk]
    assert services.webhook_deliveries_select(statuses_in=["processed"]) == [old.pk]
    assert services.webhook_deliveries_select(
        received_from=dt.datetime(2026, 5, 1, tzinfo=dt.UTC),
        received_until=dt.datetime(2026, 5, 2, tzinfo=dt.UTC),
    ) == [old.pk]

    out = StringIO()
    call_command("replay_webhooks", "--since", "2026-05-01", "--until", "2026-05-02", stdout=out)
    assert out.getvalue().splitlines() == [
        f"delivery {old.pk}: processed (error 1)",
        "Replayed 1 deliveries: 1 processed.",
    ]


def test_replay_can_hand_the_work_to_celery(django_capture_on_commit_callbacks):
    delivery = store(payload("value_errors"), django_capture_on_commit_callbacks)
    out = StringIO()

    with django_capture_on_commit_callbacks(execute=True):
        call_command("replay_webhooks", "--id", str(delivery.pk), "--enqueue", stdout=out)

    delivery.refresh_from_db()
    assert out.getvalue() == "1 deliveries queued for processing.\n"
    assert delivery.status == DeliveryStatus.PROCESSED


def test_replay_needs_to_be_told_what(db):
    with pytest.raises(CommandError, match="Name what to replay"):
        call_command("replay_webhooks")


def test_the_sweep_requeues_what_a_dead_worker_abandoned_and_leaves_a_fresh_claim(
    django_capture_on_commit_callbacks, settings
):
    settings.TIDINGS_WEBHOOK_PROCESSING_TIMEOUT_SECONDS = 120
    delivery = store(payload("value_errors"), django_capture_on_commit_callbacks)
    fresh = store(payload("unknown_field"), django_capture_on_commit_callbacks)
    long_ago = timezone.now() - dt.timedelta(hours=1)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.PROCESSING,
        claimed_at=timezone.now() - dt.timedelta(seconds=121),
        received_at=long_ago,
    )
    WebhookDelivery.objects.filter(pk=fresh.pk).update(
        status=DeliveryStatus.PROCESSING,
        claimed_at=timezone.now() - dt.timedelta(seconds=30),
        received_at=long_ago,
    )

    with django_capture_on_commit_callbacks(execute=True):
        swept = services.webhook_deliveries_sweep()

    delivery.refresh_from_db()
    fresh.refresh_from_db()
    assert (swept["abandoned"], swept["requeued"]) == (1, 1)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PROCESSED, 1)
    assert fresh.status == DeliveryStatus.PROCESSING


def test_records_past_their_retention_are_purged_and_recent_ones_kept(deliver, settings):
    settings.TIDINGS_WEBHOOK_RETENTION_DAYS = 30
    settings.TIDINGS_INBOUND_MESSAGE_RETENTION_DAYS = 7
    old = deliver(payload("value_errors"))
    deliver(payload("inbound_text", wa_id="447911000001", user_id="", wamid="wamid.I", body="x"))
    deliver(payload("status_read", wamid="wamid.NOBODY", recipient="447911000002"))
    recent = deliver(payload("unknown_field"))
    now = timezone.now()
    WebhookDelivery.objects.filter(pk=old.pk).update(received_at=now - dt.timedelta(days=31))
    WebhookEvent.objects.filter(delivery=old).update(recorded_at=now - dt.timedelta(days=31))
    InboundMessage.objects.update(recorded_at=now - dt.timedelta(days=8))
    UnmatchedStatus.objects.update(
        first_seen_at=now - dt.timedelta(days=31), state=UnmatchedStatusState.UNMATCHED
    )

    purged = services.webhook_records_purge()

    assert purged == {"inbound_messages": 1, "events": 1, "unmatched_statuses": 1, "deliveries": 1}
    assert set(WebhookDelivery.objects.values_list("pk", flat=True)) >= {recent.pk}
    assert not WebhookDelivery.objects.filter(pk=old.pk).exists()
    assert WebhookEvent.objects.get().kind == "unknown"


# --- Admin ------------------------------------------------------------------------------------


def test_the_admin_lists_deliveries_by_status_and_shows_the_raw_body(admin_client, deliver):
    delivery = deliver(payload("unknown_field"))

    listing = admin_client.get(
        reverse("admin:webhooks_webhookdelivery_changelist"), {"status__exact": "quarantined"}
    )
    page = admin_client.get(reverse("admin:webhooks_webhookdelivery_change", args=[delivery.pk]))

    assert listing.status_code == 200
    assert listing.context["cl"].result_count == 1
    assert page.status_code == 200
    assert "message_template_components_update" in page.content.decode()
    assert hashlib.sha256(bytes(delivery.body)).hexdigest() in page.content.decode()


def test_the_admin_replays_selected_deliveries(
    admin_client, django_capture_on_commit_callbacks, deliver
):
    delivery = deliver(payload("unknown_field"))

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:webhooks_webhookdelivery_changelist"),
            {"action": "replay", "_selected_action": [delivery.pk]},
            follow=True,
        )

    delivery.refresh_from_db()
    assert "1 deliveries queued for processing." in response.content.decode()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.QUARANTINED, 2)


def test_the_admin_retries_kept_statuses(admin_client, deliver):
    deliver(payload("status_read", wamid="wamid.LATE", recipient="447911000002"))
    kept = UnmatchedStatus.objects.get()
    message = MessageFactory(status=MessageStatus.SENT, wamid="wamid.LATE")

    response = admin_client.post(
        reverse("admin:webhooks_unmatchedstatus_changelist"),
        {"action": "retry_matching", "_selected_action": [kept.pk]},
        follow=True,
    )

    message.refresh_from_db()
    assert "1 applied, 0 still unmatched." in response.content.decode()
    assert message.status == MessageStatus.READ


@pytest.mark.parametrize("model", ["unmatchedstatus", "inboundmessage", "webhookevent"])
def test_the_other_ledgers_are_listed_read_only(admin_client, deliver, model):
    deliver(batch(inbound_body="hello"))

    listing = admin_client.get(reverse(f"admin:webhooks_{model}_changelist"))
    add = admin_client.get(reverse(f"admin:webhooks_{model}_add"))

    assert listing.status_code == 200
    assert listing.context["cl"].result_count >= 1
    assert add.status_code == 403


def test_one_worker_applies_many_pending_deliveries_in_one_batch(
    django_capture_on_commit_callbacks,
):
    def deliveries(count: int, offset: int) -> list[int]:
        ids = []
        for number in range(offset, offset + count):
            MessageFactory(status=MessageStatus.SENT, wamid=f"wamid.D{number}")
            body = payload("status_delivered", wamid=f"wamid.D{number}", recipient="447911000000")
            ids.append(store(body, django_capture_on_commit_callbacks).pk)
        return ids

    one = deliveries(1, 0)
    with CaptureQueriesContext(connection) as single:
        services.webhook_deliveries_process(delivery_ids=one)
    many = deliveries(8, 1)
    with CaptureQueriesContext(connection) as batch:
        outcomes = services.webhook_deliveries_process(delivery_ids=many[:1])

    assert sorted(outcomes) == many
    assert {outcome.status for outcome in outcomes.values()} == {DeliveryStatus.PROCESSED}
    assert [delivery.summary for delivery in WebhookDelivery.objects.all()] == [{"status": 1}] * 9
    assert len(batch.captured_queries) == len(single.captured_queries)
