"""The acknowledgement path: a signed body is stored with one INSERT and answered 200 at once;
processing happens after commit. Never a 500, whatever the body."""

from __future__ import annotations

import hashlib
import json
import time

import pytest
from django.db import OperationalError, connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.waiting import wait_until
from tests.webhooks.helpers import payload, post
from webhooks import services
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEvent
from webhooks.services.deliveries import DRAIN_SIGNAL_INTERVAL_SECONDS

pytestmark = pytest.mark.django_db


def status_body(wamid: str = "wamid.ACK1") -> bytes:
    return payload("status_delivered", wamid=wamid, recipient="447911123456")


def test_a_signed_delivery_is_stored_byte_for_byte_with_one_insert_and_answered_200(client):
    body = status_body()

    with CaptureQueriesContext(connection) as queries:
        response = post(client, body)

    assert response.status_code == 200
    assert [query["sql"].split()[0] for query in queries.captured_queries] == ["INSERT"]
    delivery = WebhookDelivery.objects.get()
    assert bytes(delivery.body) == body
    assert delivery.sha256 == hashlib.sha256(body).hexdigest()
    assert (delivery.size, delivery.status, delivery.attempts) == (
        len(body),
        DeliveryStatus.PENDING,
        0,
    )


def test_processing_is_enqueued_only_after_commit(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post(client, status_body())

    assert response.status_code == 200
    assert len(callbacks) == 1
    assert WebhookDelivery.objects.get().status == DeliveryStatus.PENDING


def test_metas_identical_redelivery_is_stored_once_and_processed_once(
    client, django_capture_on_commit_callbacks
):
    body = status_body()
    with django_capture_on_commit_callbacks(execute=True):
        post(client, body)
    processed = WebhookDelivery.objects.get()

    with django_capture_on_commit_callbacks(execute=True) as second:
        response = post(client, body)

    assert response.status_code == 200
    assert second == []
    assert list(WebhookDelivery.objects.values_list("pk", "attempts")) == [(processed.pk, 1)]


@pytest.mark.parametrize("body", [b"{not json", b"\x00\xff garbage", b"", b"[]", b'"text"'])
def test_a_signed_body_that_does_not_parse_is_acknowledged_and_quarantined(deliver, body):
    delivery = deliver(body)

    assert delivery.status == DeliveryStatus.QUARANTINED
    assert delivery.error.startswith("Not a webhook body: ")
    assert bytes(delivery.body) == body


def test_a_body_of_only_unknown_fields_is_quarantined_and_its_event_kept(deliver):
    delivery = deliver(payload("unknown_field"))

    assert delivery.status == DeliveryStatus.QUARANTINED
    event = WebhookEvent.objects.get()
    assert (event.kind, event.field, event.delivery_id) == (
        "unknown",
        "message_template_components_update",
        delivery.pk,
    )
    assert event.payload["message_template_title"] == "Order update"


@pytest.mark.parametrize(
    ("signature", "status"), [(None, 401), ("sha256=" + "0" * 64, 403), ("garbage", 403)]
)
def test_an_unsigned_or_wrongly_signed_body_is_refused_and_nothing_is_stored(
    client, signature, status
):
    response = post(client, status_body(), signature=signature)

    assert response.status_code == status
    assert WebhookDelivery.objects.count() == 0


def test_when_the_body_cannot_be_stored_meta_is_told_to_retry_with_503(client, monkeypatch, caplog):
    def broken(*, body: bytes) -> int:
        raise OperationalError("the database is down")

    monkeypatch.setattr("webhooks.acknowledgement.webhook_delivery_store", broken)

    response = post(client, status_body())

    assert response.status_code == 503
    assert "could not store a webhook delivery" in caplog.text
    assert b"wamid" not in caplog.text.encode()


def test_a_broker_failure_still_acknowledges_and_the_sweep_processes_it_later(
    client, django_capture_on_commit_callbacks, monkeypatch, caplog
):
    from webhooks import tasks

    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    with monkeypatch.context() as patched:
        patched.setattr(tasks.process_webhook_deliveries, "apply_async", broker_down)
        with django_capture_on_commit_callbacks(execute=True):
            response = post(client, status_body())

    assert response.status_code == 200
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING
    assert "the sweep will pick it up" in caplog.text

    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        received_at=delivery.received_at - services.deliveries.PENDING_GRACE
    )
    with django_capture_on_commit_callbacks(execute=True):
        swept = services.webhook_deliveries_sweep()

    delivery.refresh_from_db()
    assert swept["requeued"] == 1
    assert delivery.status == DeliveryStatus.PROCESSED


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["object", "entry", "id", "changes", "field", "value", "statuses"])
            | st.text(max_size=6),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)
ITEM_KEYS = (
    "id", "status", "timestamp", "recipient_id", "biz_opaque_callback_data", "errors", "from",
    "type", "text", "button", "context", "wa_id", "value", "category", "user_id", "event",
    "message_template_name", "display_phone_number", "current_limit", "pricing", "conversation",
)  # fmt: skip
FIELDS = (
    "messages", "user_preferences", "message_template_status_update",
    "phone_number_quality_update", "account_update", "message_template_quality_update",
)  # fmt: skip
ITEM = st.dictionaries(st.sampled_from(ITEM_KEYS), JSON, max_size=6)
ENVELOPES = st.builds(
    lambda field, key, items, waba: {
        "object": "whatsapp_business_account",
        "entry": [{"id": waba, "changes": [{"field": field, "value": {key: items}}]}],
    },
    st.sampled_from(FIELDS),
    st.sampled_from(["statuses", "messages", "user_preferences", "errors", "contacts", "event"]),
    st.lists(ITEM, max_size=3),
    st.sampled_from(["102290129340398", "", "1"]),
)
REAL_BODIES = [
    payload("status_sent", wamid="wamid.H1", recipient="447911123456", callback="tidings:1"),
    payload("inbound_text", wa_id="447911123456", user_id="US.1", wamid="wamid.H2", body="STOP"),
    payload(
        "template_status_update",
        waba_id="1",
        event="PAUSED",
        template_name="x",
        language="en",
        reason="NONE",
        title="FIRST_PAUSE",
    ),
]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=st.one_of(
        JSON.map(lambda value: json.dumps(value).encode()),
        ENVELOPES.map(lambda value: json.dumps(value).encode()),
        st.tuples(st.sampled_from(REAL_BODIES), st.integers(min_value=0, max_value=600)).map(
            lambda cut: cut[0][: cut[1]]
        ),
        st.binary(max_size=64),
    )
)
def test_any_signed_body_is_acknowledged_with_200_and_processed_without_error(
    body, django_capture_on_commit_callbacks
):
    client = Client(raise_request_exception=True)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, body)

    assert response.status_code == 200
    delivery = WebhookDelivery.objects.get(sha256=hashlib.sha256(body).hexdigest())
    # Odd content is quarantined or kept as unknown events, never a processing error.
    assert delivery.status in {DeliveryStatus.PROCESSED, DeliveryStatus.QUARANTINED}, delivery.error


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.binary(max_size=64), signature=st.text(max_size=80))
def test_any_unsigned_body_is_refused_without_a_500(body, signature):
    response = Client().post(
        "/webhooks/whatsapp/",
        data=body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=signature,
    )

    assert response.status_code == (401 if not signature else 403)
    assert not WebhookDelivery.objects.filter(sha256=hashlib.sha256(body).hexdigest()).exists()


@pytest.mark.redis
def test_with_a_shared_cache_one_queued_drain_serves_every_delivery_until_it_starts(
    client, django_capture_on_commit_callbacks, monkeypatch
):
    from webhooks import tasks

    published: list[tuple] = []
    monkeypatch.setattr(
        tasks.process_webhook_deliveries,
        "apply_async",
        lambda args, **options: published.append(args),
    )
    with django_capture_on_commit_callbacks(execute=True):
        post(client, status_body("wamid.C1"))
        post(client, status_body("wamid.C2"))
    wait_until(lambda: published, timeout=2.0)
    time.sleep(DRAIN_SIGNAL_INTERVAL_SECONDS * 3)
    assert len(published) == 1

    outcomes = services.webhook_deliveries_drain(delivery_ids=published[0][0])
    with django_capture_on_commit_callbacks(execute=True):
        post(client, status_body("wamid.C3"))
    # The drain has started, so the next delivery publishes another (at once or at the end of
    # this process's signal interval).
    wait_until(lambda: len(published) == 2, timeout=2.0)

    assert len(outcomes) == 2
    assert WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).count() == 1

    # The drain published for it (it names no ids) claims the delivery waiting.
    services.webhook_deliveries_drain(delivery_ids=published[1][0])
    assert not WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).exists()
