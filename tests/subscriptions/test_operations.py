"""Operations around the events: Meta's webhooks end to end, erasure, retention, the beat,
the roles and the production settings."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Group
from django.utils import timezone

from campaigns.models import Message, MessageStatus
from contacts.services import contact_erase
from subscriptions.models import Delivery, DeliveryAttempt, Event
from subscriptions.services import events_purge
from tests.campaigns.factories import ContactFactory
from tests.config.test_configuration import PRODUCTION, assert_stopped_with, run_manage
from tests.webhooks.helpers import payload, post

from .conftest import inbound, opt_out

pytestmark = pytest.mark.django_db


def test_a_status_webhook_from_meta_reaches_the_subscriber(
    client, subscribe, feed, receiver, django_capture_on_commit_callbacks
):
    # given: a message Meta accepted, and a subscriber to deliveries
    from .conftest import sent_message

    subscribe("message.delivered")
    message = sent_message()

    # when: Meta's webhook arrives at the real endpoint, is processed, and the feed runs
    with django_capture_on_commit_callbacks(execute=True):
        response = post(
            client, payload("status_delivered", wamid=message.wamid, recipient="447911123456")
        )
    assert response.status_code == 200
    assert Message.objects.get(pk=message.pk).status == MessageStatus.DELIVERED
    feed()

    # then
    [request] = receiver.requests
    assert request.json["type"] == "message.delivered"
    assert request.json["data"]["message"]["wamid"] == message.wamid


def test_erasing_a_contact_redacts_what_its_events_would_still_send(
    subscribe, feed, receiver, settings
):
    # given: a reply and an opt-out of the contact, not delivered yet (the receiver is down)
    settings.TIDINGS_SUBSCRIPTION_DISABLE_AFTER_FAILURES = 100
    subscribe("message.received", "contact.opted_out")
    contact = ContactFactory(external_id="CRM-9")
    phone = contact.phone
    receiver.always(503)
    inbound(contact, "My address is 1 High Street")
    opt_out(contact)
    feed()

    # when
    contact_erase(contact=contact, erased_by=None)

    # then: the stored events no longer hold the number, the CRM id or what was written
    for event in Event.objects.all():
        assert event.data["contact"] == {
            "id": contact.pk,
            "phone": None,
            "external_id": None,
            "whatsapp_user_id": None,
            "erased": True,
        }
    reply = Event.objects.get(type="message.received").data["inbound_message"]
    assert reply["text"] == "[erased]"
    assert Event.objects.count() == 2
    assert phone not in str([event.data for event in Event.objects.all()])


def test_events_and_their_logs_go_after_the_retention_period(subscribe, feed, receiver):
    subscribe("contact.opted_out")
    opt_out(ContactFactory())
    feed()
    old = timezone.now() - dt.timedelta(days=31)
    Event.objects.update(created_at=old)
    opt_out(ContactFactory())
    feed()

    purged = events_purge()

    assert purged == 1
    assert Event.objects.count() == 1
    assert Delivery.objects.count() == 1
    assert DeliveryAttempt.objects.count() == 1


def test_the_beat_runs_the_feed_and_the_retries_on_their_own_queue():
    schedule = django_settings.CELERY_BEAT_SCHEDULE

    assert schedule["subscriptions-feed"]["task"] == "subscriptions.tasks.run_feed"
    assert schedule["subscriptions-feed"]["schedule"] == 2.0
    assert schedule["subscriptions-due"]["task"] == "subscriptions.tasks.enqueue_due_deliveries"
    assert schedule["subscriptions-purge"]["task"] == "subscriptions.tasks.purge_events"
    assert {
        schedule[name]["options"]["queue"] for name in ("subscriptions-feed", "subscriptions-due")
    } == {"subscriptions"}


@pytest.mark.parametrize(
    ("group", "granted"),
    [
        (
            "Integrator",
            {
                "view_subscription",
                "add_subscription",
                "change_subscription",
                "delete_subscription",
                "view_delivery",
                "view_deliveryattempt",
                "view_event",
            },
        ),
        (
            "Marketing",
            {
                "view_subscription",
                "add_subscription",
                "change_subscription",
                "delete_subscription",
                "view_delivery",
                "view_deliveryattempt",
                "view_event",
            },
        ),
        (
            "Compliance",
            {"view_subscription", "view_delivery", "view_deliveryattempt", "view_event"},
        ),
    ],
)
def test_the_roles_get_their_subscription_permissions(group, granted):
    permissions = Group.objects.get(name=group).permissions.filter(
        content_type__app_label="subscriptions"
    )

    assert set(permissions.values_list("codename", flat=True)) == granted


@pytest.mark.parametrize(
    ("value", "line"),
    [
        (
            None,
            "Set the TIDINGS_SUBSCRIPTION_SIGNING_KEY environment variable (a long random value: "
            "every event subscription's signing secret is derived from it)",
        ),
        (
            "local-development-only-subscription-signing-key",
            "Set the TIDINGS_SUBSCRIPTION_SIGNING_KEY environment variable (a long random value: "
            "every event subscription's signing secret is derived from it)",
        ),
        ("", "TIDINGS_SUBSCRIPTION_SIGNING_KEY is set but empty"),
    ],
)
def test_production_needs_a_real_signing_key(value, line):
    environment = dict(PRODUCTION)
    if value is None:
        del environment["TIDINGS_SUBSCRIPTION_SIGNING_KEY"]
    else:
        environment["TIDINGS_SUBSCRIPTION_SIGNING_KEY"] = value

    result = run_manage("check", settings_module="config.settings.production", **environment)

    assert_stopped_with(result, line)
