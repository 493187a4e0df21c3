"""The change feed: every source row becomes one event, delivered once per subscription that
wants its type, however often and however concurrently the feed runs."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from contacts.models import ConsentRecord
from subscriptions.event_types import EVENT_TYPES
from subscriptions.feed import feed_run
from subscriptions.models import Delivery, DeliveryState, Event, FeedCursor
from subscriptions.services import subscription_disable
from tests.campaigns.factories import ContactFactory

from .conftest import one_of_each_event, opt_in, opt_out, report, sent_message


def _types(receiver) -> Counter:
    return Counter(request.json["type"] for request in receiver.requests)


@pytest.mark.django_db
def test_each_event_type_reaches_the_subscriber_once_with_its_payload(subscribe, feed, receiver):
    # given
    subscribe()
    contacts = one_of_each_event()

    # when
    feed()

    # then
    assert _types(receiver) == dict.fromkeys(EVENT_TYPES, 1)
    by_type = {request.json["type"]: request.json for request in receiver.requests}
    for event_type, envelope in by_type.items():
        if event_type == "campaign.status_changed":
            assert envelope["data"]["campaign"]["id"] == contacts[event_type]
        else:
            assert envelope["data"]["contact"]["id"] == contacts[event_type]
    failed = by_type["message.failed"]["data"]
    assert failed["status"] == "failed"
    assert [(error["code"], error["title"], error["details"]) for error in failed["errors"]] == [
        (
            131026,
            "Message undeliverable",
            "The recipient's phone number is not a WhatsApp phone number.",
        )
    ]
    reply = by_type["message.received"]["data"]
    assert reply["inbound_message"]["text"] == "Is my order on its way?"
    assert reply["in_reply_to"]["wamid"] == by_type["message.read"]["data"]["message"]["wamid"]
    change = by_type["campaign.status_changed"]["data"]
    assert (change["from_status"], change["to_status"], change["reason"]) == (
        "running",
        "paused",
        "waiting for stock",
    )
    assert by_type["contact.opted_out"]["data"]["consent"]["scope"] == "marketing"
    assert Delivery.objects.filter(state=DeliveryState.SUCCEEDED).count() == len(EVENT_TYPES)


@pytest.mark.django_db
def test_a_reply_nobody_sent_a_campaign_for_has_no_reply_target(subscribe, feed, receiver):
    from .conftest import inbound

    subscribe("message.received")
    inbound(ContactFactory(), "Hello?")

    feed()

    [request] = receiver.requests
    assert request.json["data"]["in_reply_to"] is None
    assert request.json["data"]["inbound_message"]["text"] == "Hello?"


@pytest.mark.django_db(transaction=True)
def test_two_feeds_running_at_once_deliver_each_event_once(subscribe, receiver):
    # given: one event of every type waiting
    subscribe()
    one_of_each_event()
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def run() -> None:
        try:
            start.wait()
            feed_run()
        except BaseException as error:  # reported below, in the test's thread
            failures.append(error)
        finally:
            connection.close()

    # when: two beats' runs start at the same moment
    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    # then
    assert failures == []
    assert _types(receiver) == dict.fromkeys(EVENT_TYPES, 1)
    assert len(set(receiver.event_ids())) == len(EVENT_TYPES)
    assert Event.objects.count() == len(EVENT_TYPES)


@pytest.mark.django_db(transaction=True)
def test_reading_the_same_rows_again_creates_no_second_event_or_delivery(subscribe, receiver):
    # given: everything was delivered once
    subscribe()
    one_of_each_event()
    feed_run()
    assert len(receiver.requests) == len(EVENT_TYPES)

    # when: the cursors are rewound (a restored backup, an operator's mistake) and it runs again
    FeedCursor.objects.update(position=0, holes=[])
    feed_run()

    # then
    assert len(receiver.requests) == len(EVENT_TYPES)
    assert Event.objects.count() == len(EVENT_TYPES)
    assert Delivery.objects.count() == len(EVENT_TYPES)


@pytest.mark.django_db(transaction=True)
def test_a_row_committed_after_a_later_one_was_read_is_delivered_on_a_later_run(
    subscribe, receiver
):
    # given: a consent record inserted (lower id) in a transaction that stays open...
    subscribe("contact.opted_out")
    early, late = ContactFactory(), ContactFactory()
    inserted, release = threading.Event(), threading.Event()

    def slow_writer() -> None:
        try:
            with transaction.atomic():
                opt_out(early)
                inserted.set()
                release.wait(10)
        finally:
            connections["default"].close()

    writer = threading.Thread(target=slow_writer)
    writer.start()
    assert inserted.wait(10)
    # ...while a later one (higher id) commits at once
    opt_out(late)

    # when: the feed runs before and after the slow transaction commits
    feed_run()
    seen_before_commit = [r.json["data"]["contact"]["id"] for r in receiver.requests]
    release.set()
    writer.join(10)
    feed_run()
    feed_run()

    # then: the early row was waited for, and delivered once
    assert seen_before_commit == [late.pk]
    assert [r.json["data"]["contact"]["id"] for r in receiver.requests] == [late.pk, early.pk]
    early_id = ConsentRecord.objects.get(contact=early).pk
    holes = FeedCursor.objects.get(source="consent").holes
    assert not [hole for hole in holes if hole[0] <= early_id <= hole[1]]


@pytest.mark.django_db(transaction=True)
def test_a_hole_left_by_a_rolled_back_insert_is_forgotten_after_the_hole_time(
    subscribe, receiver, settings
):
    # given: an id taken by an insert that rolled back, below one that committed
    subscribe("contact.opted_out")
    contact = ContactFactory()

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        opt_out(contact)
        raise Abort
    opt_out(contact)
    feed_run()
    cursor = FeedCursor.objects.get(source="consent")
    rolled_back = ConsentRecord.objects.get().pk - 1
    assert [hole for hole in cursor.holes if hole[0] <= rolled_back <= hole[1]]

    # when: the hole is older than the hole time
    settings.TIDINGS_SUBSCRIPTION_FEED_HOLE_SECONDS = 0
    FeedCursor.objects.filter(pk=cursor.pk).update(
        holes=[[low, high, seen - 1] for low, high, seen in cursor.holes]
    )
    feed_run()

    # then
    assert FeedCursor.objects.get(source="consent").holes == []
    assert len(receiver.requests) == 1


@pytest.mark.django_db
def test_nothing_goes_to_an_inactive_subscription(subscribe, feed, receiver):
    subscription = subscribe()
    subscription_disable(subscription_id=subscription.pk)
    one_of_each_event()

    feed()

    assert receiver.requests == []
    assert Delivery.objects.count() == 0


@pytest.mark.django_db
def test_only_the_subscribed_event_types_are_delivered(subscribe, feed, receiver):
    subscribe("message.read", "contact.opted_out")
    one_of_each_event()

    feed()

    assert _types(receiver) == {"message.read": 1, "contact.opted_out": 1}
    # Types nobody subscribed to are not even stored.
    assert set(Event.objects.values_list("type", flat=True)) == {
        "message.read",
        "contact.opted_out",
    }


@pytest.mark.django_db
def test_each_subscription_gets_its_own_delivery_of_a_shared_event(subscribe, feed, receiver):
    first = subscribe("message.delivered")
    second = subscribe("message.delivered", "message.read")
    message = sent_message()
    report(message, "delivered")

    feed()

    assert len(receiver.requests) == 2
    assert len(set(receiver.event_ids())) == 1
    assert {r.json["subscription"] for r in receiver.requests} == {
        first.public_id,
        second.public_id,
    }


@pytest.mark.django_db
def test_without_listeners_the_cursor_moves_on_and_nothing_is_stored(feed, subscribe, receiver):
    # given: a subscription that wants no consent events, and consent records written
    subscribe("message.read")
    for _ in range(3):
        opt_in(ContactFactory())
    top = ConsentRecord.objects.order_by("-pk").values_list("pk", flat=True).first()

    feed()

    assert FeedCursor.objects.get(source="consent").position == top
    assert Event.objects.count() == 0
    assert receiver.requests == []


@pytest.mark.django_db
def test_a_new_subscription_gets_what_happens_next_not_the_history(subscribe, feed, receiver):
    # given: events before anyone subscribed
    opt_out(ContactFactory())
    feed()

    # when
    subscribe("contact.opted_out")
    later = ContactFactory()
    opt_out(later)
    feed()

    # then
    assert [r.json["data"]["contact"]["id"] for r in receiver.requests] == [later.pk]


@pytest.mark.django_db
def test_statuses_meta_added_later_are_not_events(subscribe, feed, receiver):
    subscribe()
    message = sent_message()
    report(message, "played")

    feed()

    assert receiver.requests == []
    assert Event.objects.count() == 0


@pytest.mark.django_db
def test_events_carry_their_time_and_a_stable_id(subscribe, feed, receiver):
    subscribe("message.delivered")
    message = sent_message()
    before = timezone.now()
    report(message, "delivered")

    feed()

    [request] = receiver.requests
    event = Event.objects.get()
    assert request.json["id"] == str(event.event_id)
    assert request.headers["X-Tidings-Event-Id"] == str(event.event_id)
    assert request.headers["X-Tidings-Event-Type"] == "message.delivered"
    assert request.json["occurred_at"] == event.occurred_at.isoformat().replace("+00:00", "Z")
    assert event.occurred_at < before
