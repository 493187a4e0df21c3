"""Delivering an event: retries with backoff, the attempt log, timeouts, automatic disabling."""

from __future__ import annotations

import datetime as dt
import socket
import time

import pytest
from django.utils import timezone

from subscriptions.models import Delivery, DeliveryAttempt, DeliveryState, Subscription
from subscriptions.services import (
    deliveries_enqueue_due,
    delivery_redeliver,
    retry_delay,
    subscription_enable,
)
from tests.campaigns.factories import ContactFactory

from .conftest import opt_out

pytestmark = pytest.mark.django_db


@pytest.fixture
def due(django_capture_on_commit_callbacks):
    """The beat's retry sweep, with the attempts it enqueues."""

    def run() -> dict:
        with django_capture_on_commit_callbacks(execute=True):
            return deliveries_enqueue_due()

    return run


def wait_until_due(delivery: Delivery) -> None:
    delivery.refresh_from_db()
    pause = (delivery.next_attempt_at - timezone.now()).total_seconds()
    if pause > 0:
        time.sleep(pause + 0.02)


def test_a_failing_receiver_is_retried_with_backoff_until_it_answers(
    subscribe, feed, receiver, due
):
    # given: the receiver fails twice, then recovers
    subscription = subscribe("contact.opted_out")
    receiver.script(500, 503)
    opt_out(ContactFactory())

    # when: the feed makes the first attempt
    feed()

    # then: it failed and the next one waits for the backoff (0.1-0.2 s after 0.2 s base)
    delivery = Delivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    first_wait = (delivery.next_attempt_at - delivery.last_attempt_at).total_seconds()
    assert 0.1 <= first_wait <= 0.25

    # when: the beat looks before it is due
    due()
    # then: nothing was attempted
    assert len(receiver.requests) == 1

    # when: it is due, the second attempt fails too, and waits twice as long
    wait_until_due(delivery)
    due()
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("pending", 2, 503)
    second_wait = (delivery.next_attempt_at - delivery.last_attempt_at).total_seconds()
    assert 0.2 <= second_wait <= 0.45

    # when: the third attempt
    wait_until_due(delivery)
    due()

    # then: delivered, the same event each time, every attempt logged
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == (
        "succeeded",
        3,
        200,
    )
    assert len(set(receiver.event_ids())) == 1
    assert [r.headers["X-Tidings-Delivery-Attempt"] for r in receiver.requests] == ["1", "2", "3"]
    log = list(DeliveryAttempt.objects.filter(delivery=delivery).order_by("number"))
    assert [(a.number, a.status_code, a.succeeded, a.error) for a in log] == [
        (1, 500, False, "HTTP 500"),
        (2, 503, False, "HTTP 503"),
        (3, 200, True, ""),
    ]
    assert log[0].response_excerpt == '{"received": false}'
    assert all(attempt.duration_ms < 1000 for attempt in log)
    subscription.refresh_from_db()
    assert subscription.consecutive_failures == 0
    assert subscription.last_delivered_at is not None


def test_the_backoff_doubles_is_jittered_and_bounded(settings):
    settings.TIDINGS_SUBSCRIPTION_RETRY_BASE_SECONDS = 10
    settings.TIDINGS_SUBSCRIPTION_RETRY_MAX_SECONDS = 3600

    delays = {attempts: [retry_delay(attempts) for _ in range(200)] for attempts in (1, 2, 3, 20)}

    assert all(5 <= delay <= 10 for delay in delays[1])
    assert all(10 <= delay <= 20 for delay in delays[2])
    assert all(20 <= delay <= 40 for delay in delays[3])
    assert all(1800 <= delay <= 3600 for delay in delays[20])
    assert len(set(delays[3])) > 100  # jittered, not one fixed value


def test_a_delivery_gives_up_after_the_maximum_attempts(subscribe, feed, receiver, due, settings):
    settings.TIDINGS_SUBSCRIPTION_MAX_ATTEMPTS = 2
    settings.TIDINGS_SUBSCRIPTION_RETRY_BASE_SECONDS = 0
    subscribe("contact.opted_out")
    receiver.always(500)
    opt_out(ContactFactory())

    feed()
    due()
    due()

    delivery = Delivery.objects.get()
    assert (delivery.state, delivery.attempts) == (DeliveryState.FAILED, 2)
    assert delivery.next_attempt_at is None
    assert len(receiver.requests) == 2


def test_repeated_failures_disable_the_subscription_with_the_reason(
    subscribe, feed, receiver, due, settings
):
    # given: a receiver that always fails, and a limit of 3 failures in a row
    settings.TIDINGS_SUBSCRIPTION_DISABLE_AFTER_FAILURES = 3
    settings.TIDINGS_SUBSCRIPTION_RETRY_BASE_SECONDS = 0
    subscription = subscribe("contact.opted_out")
    receiver.always(500)
    for _ in range(2):
        opt_out(ContactFactory())

    # when: two deliveries fail, and one of them is retried
    feed()
    due()

    # then: disabled at the third failure in a row, with why
    subscription.refresh_from_db()
    assert subscription.active is False
    assert subscription.consecutive_failures == 3
    assert subscription.disabled_at is not None
    assert subscription.disabled_reason.startswith(
        "Disabled automatically after 3 failed delivery attempts in a row; the last one: HTTP 500."
    )
    attempts_when_disabled = len(receiver.requests)
    assert attempts_when_disabled == 3

    # when: more is due and more happens
    opt_out(ContactFactory())
    feed()
    due()

    # then: nothing more is attempted or created for it
    assert len(receiver.requests) == attempts_when_disabled
    assert Delivery.objects.count() == 2


def test_enabling_again_clears_the_failures_and_attempts_what_was_pending(
    subscribe, feed, receiver, settings, django_capture_on_commit_callbacks
):
    settings.TIDINGS_SUBSCRIPTION_DISABLE_AFTER_FAILURES = 1
    subscription = subscribe("contact.opted_out")
    receiver.always(500)
    opt_out(ContactFactory())
    feed()
    assert Subscription.objects.get(pk=subscription.pk).active is False

    # when: the receiver is fixed and the subscription enabled again
    receiver.always(None)
    with django_capture_on_commit_callbacks(execute=True):
        subscription_enable(subscription_id=subscription.pk)

    # then
    subscription.refresh_from_db()
    assert (subscription.active, subscription.consecutive_failures) == (True, 0)
    assert (subscription.disabled_at, subscription.disabled_reason) == (None, "")
    assert Delivery.objects.get().state == DeliveryState.SUCCEEDED
    assert len(receiver.requests) == 2


def test_a_slow_receiver_times_out_and_the_attempt_says_so(subscribe, feed, receiver, settings):
    settings.TIDINGS_SUBSCRIPTION_READ_TIMEOUT = 0.2
    subscribe("contact.opted_out")
    receiver.latency = 1.0
    opt_out(ContactFactory())

    feed()

    attempt = DeliveryAttempt.objects.get()
    assert (attempt.succeeded, attempt.status_code, attempt.error) == (False, None, "Timed out")
    assert 200 <= attempt.duration_ms < 1000
    assert Delivery.objects.get().state == DeliveryState.PENDING


def test_a_redirect_is_not_followed(subscribe, feed, receiver):
    subscribe("contact.opted_out")
    receiver.redirect_to("http://127.0.0.1:9/elsewhere")
    opt_out(ContactFactory())

    feed()

    attempt = DeliveryAttempt.objects.get()
    assert attempt.status_code == 302
    assert attempt.error == "HTTP 302 (redirects are not followed; use the final URL)"
    assert len(receiver.requests) == 1


def test_a_receiver_that_is_not_listening_is_a_failed_attempt(subscribe, feed):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    subscribe("contact.opted_out", target_url=f"http://127.0.0.1:{port}/hooks")
    opt_out(ContactFactory())

    feed()

    attempt = DeliveryAttempt.objects.get()
    assert attempt.succeeded is False
    assert attempt.error.startswith("Connection failed: ")
    assert "Connection refused" in attempt.error


def test_a_lost_worker_leaves_the_delivery_to_be_attempted_again(subscribe, feed, receiver, due):
    # given: a delivery claimed by a worker that died (its lease ran out)
    subscribe("contact.opted_out")
    receiver.always(500)
    opt_out(ContactFactory())
    feed()
    Delivery.objects.update(
        state=DeliveryState.SENDING, lease_expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    receiver.always(None)

    # when
    due()

    # then: taken back and attempted again
    delivery = Delivery.objects.get()
    assert (delivery.state, delivery.attempts) == (DeliveryState.SUCCEEDED, 2)


def test_an_attempt_enqueued_twice_sends_once(subscribe, feed, receiver):
    from subscriptions.services import delivery_attempt

    subscribe("contact.opted_out")
    opt_out(ContactFactory())
    feed()
    delivery = Delivery.objects.get()

    again = delivery_attempt(delivery_id=delivery.pk)

    assert again.state == "not_due"
    assert len(receiver.requests) == 1


def test_a_delivery_that_gave_up_can_be_sent_again_by_hand(
    subscribe, feed, receiver, settings, django_capture_on_commit_callbacks
):
    settings.TIDINGS_SUBSCRIPTION_MAX_ATTEMPTS = 1
    subscribe("contact.opted_out")
    receiver.always(500)
    opt_out(ContactFactory())
    feed()
    delivery = Delivery.objects.get()
    assert delivery.state == DeliveryState.FAILED
    receiver.always(None)

    with django_capture_on_commit_callbacks(execute=True):
        delivery_redeliver(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == (DeliveryState.SUCCEEDED, 2)
    assert [a.number for a in DeliveryAttempt.objects.order_by("number")] == [1, 2]


def test_a_target_that_became_private_is_refused_before_sending(
    subscribe, feed, receiver, settings
):
    # given: a subscription accepted while private targets were allowed
    subscribe("contact.opted_out")
    settings.TIDINGS_SUBSCRIPTION_ALLOW_PRIVATE_URLS = False
    opt_out(ContactFactory())

    feed()

    attempt = DeliveryAttempt.objects.get()
    assert attempt.error.startswith("Refused: 127.0.0.1 resolves to 127.0.0.1, a loopback")
    assert receiver.requests == []
