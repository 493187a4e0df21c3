"""The WSGI fast path the web server serves: Meta's POSTs are answered exactly as the Django view
answers them, without Django's request cycle; everything else reaches Django untouched."""

from __future__ import annotations

import io
import json
from wsgiref.util import setup_testing_defaults

import pytest
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.db import OperationalError, connection

from tests.webhooks.helpers import payload
from webhooks.acknowledgement import MAX_BODY_BYTES
from webhooks.models import DeliveryStatus, WebhookDelivery
from webhooks.wsgi import WebhookFastPath, wrap
from whatsapp import signatures

# The fast path manages the connection itself, as the web server runs it: outside any test
# transaction.
pytestmark = pytest.mark.django_db(transaction=True)


def call(application, *, method="POST", path="/webhooks/whatsapp/", body=b"", headers=None):
    environ: dict = {}
    setup_testing_defaults(environ)
    environ.update(
        {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "CONTENT_LENGTH": str(len(body)),
            "CONTENT_TYPE": "application/json",
            "wsgi.input": io.BytesIO(body),
            "SERVER_NAME": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1",
        }
    )
    environ.update(headers or {})
    answer: dict = {}

    def start_response(status, response_headers, exc_info=None):
        answer["status"] = int(status.split()[0])
        answer["headers"] = dict(response_headers)

    answer["body"] = b"".join(application(environ, start_response))
    return answer


def signed(body: bytes) -> dict:
    return {"HTTP_X_HUB_SIGNATURE_256": signatures.sign(body, settings.WHATSAPP_APP_SECRET)}


@pytest.fixture
def application():
    return WebhookFastPath(WSGIHandler())


def status_body() -> bytes:
    return payload("status_delivered", wamid="wamid.FAST1", recipient="447911123456")


def test_a_signed_post_is_stored_answered_200_and_processed_after_commit(application):
    body = status_body()

    answer = call(application, body=body, headers=signed(body))

    assert (answer["status"], answer["body"]) == (200, b"")
    delivery = WebhookDelivery.objects.get()
    assert bytes(delivery.body) == body
    # Celery runs eagerly in the tests: processing was enqueued once the INSERT committed.
    assert delivery.status == DeliveryStatus.PROCESSED


def test_a_redelivery_of_the_same_bytes_is_answered_200_and_stored_once(application):
    body = status_body()

    first = call(application, body=body, headers=signed(body))
    second = call(application, body=body, headers=signed(body))

    assert (first["status"], second["status"]) == (200, 200)
    assert WebhookDelivery.objects.count() == 1


@pytest.mark.parametrize(
    ("headers", "status", "detail"),
    [
        ({}, 401, "missing signature"),
        ({"HTTP_X_HUB_SIGNATURE_256": "sha256=" + "0" * 64}, 403, "invalid signature"),
    ],
)
def test_unsigned_or_wrongly_signed_posts_are_refused_and_nothing_is_stored(
    application, headers, status, detail
):
    answer = call(application, body=status_body(), headers=headers)

    assert answer["status"] == status
    assert json.loads(answer["body"]) == {"detail": detail}
    assert answer["headers"]["Content-Type"] == "application/json"
    assert not WebhookDelivery.objects.exists()


def test_a_body_over_metas_maximum_is_refused_with_413(application):
    body = b"x" * (MAX_BODY_BYTES + 1)

    answer = call(application, body=body, headers=signed(body))

    assert answer["status"] == 413
    assert not WebhookDelivery.objects.exists()


def test_when_the_store_fails_meta_is_told_to_retry_and_the_connection_is_dropped(
    application, monkeypatch
):
    def broken(**kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr("webhooks.acknowledgement.webhook_delivery_store", broken)
    connection.ensure_connection()
    body = status_body()

    answer = call(application, body=body, headers=signed(body))

    assert answer["status"] == 503
    assert connection.connection is None


def test_a_connection_that_saw_an_error_is_replaced_before_the_next_request(application):
    connection.ensure_connection()
    stale = connection.connection
    connection.errors_occurred = True
    body = status_body()

    answer = call(application, body=body, headers=signed(body))

    assert answer["status"] == 200
    assert connection.connection is not stale
    assert WebhookDelivery.objects.count() == 1


def test_the_verification_handshake_and_every_other_path_reach_django(application):
    handshake = call(
        application,
        method="GET",
        body=b"",
        headers={
            "QUERY_STRING": (
                f"hub.mode=subscribe&hub.verify_token={settings.WHATSAPP_VERIFY_TOKEN}"
                "&hub.challenge=1158201444"
            )
        },
    )
    health = call(application, method="GET", path="/healthz")

    assert (handshake["status"], handshake["body"]) == (200, b"1158201444")
    assert health["status"] == 200


def test_the_fast_path_can_be_switched_off(settings):
    django_application = WSGIHandler()
    settings.TIDINGS_WEBHOOK_FAST_PATH = False

    assert wrap(django_application) is django_application
