"""The subscriptions admin: warnings about disabled subscriptions, the actions, the secret page,
the delivery log, and what each role sees."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages

from subscriptions.models import Delivery, DeliveryState, Subscription
from subscriptions.signing import subscription_secret
from tests.campaigns.factories import ContactFactory
from tests.contacts.factories import UserFactory

from .conftest import opt_out

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/subscriptions/subscription/"
DELIVERIES = "/admin/subscriptions/delivery/"


def logged_in(client, group: str):
    client.force_login(UserFactory(is_staff=True, groups=[group]))
    return client


@pytest.fixture
def marketing(client):
    return logged_in(client, "Marketing")


def texts(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def disabled(subscribe, receiver, feed, settings):
    """A subscription the failure limit switched off."""
    settings.TIDINGS_SUBSCRIPTION_DISABLE_AFTER_FAILURES = 1
    subscription = subscribe("contact.opted_out", description="Shop CRM")
    receiver.always(500)
    opt_out(ContactFactory())
    feed()
    receiver.always(None)
    subscription.refresh_from_db()
    assert subscription.active is False
    return subscription


def test_pages_render(marketing, subscribe, feed):
    subscription = subscribe("contact.opted_out")
    opt_out(ContactFactory())
    feed()
    delivery = Delivery.objects.get()

    assert marketing.get(CHANGELIST).status_code == 200
    assert marketing.get(f"{CHANGELIST}add/").status_code == 200
    change = marketing.get(f"{CHANGELIST}{subscription.pk}/change/")
    assert change.status_code == 200
    assert b"Show the signing secret" in change.content
    assert f"{DELIVERIES}{delivery.pk}/change/".encode() in change.content
    assert marketing.get(DELIVERIES).status_code == 200
    detail = marketing.get(f"{DELIVERIES}{delivery.pk}/change/")
    assert detail.status_code == 200
    assert b"contact.opted_out" in detail.content


def test_the_list_warns_about_a_subscription_disabled_after_failures(marketing, disabled):
    response = marketing.get(CHANGELIST)

    [warning] = texts(response)
    assert warning.startswith("Subscription “Shop CRM” was disabled on ")
    assert "Disabled automatically after 1 failed delivery attempts in a row" in warning
    assert "HTTP 500" in warning
    assert b"Disabled after failures" in response.content


def test_the_subscription_page_shows_why_it_was_disabled(marketing, disabled):
    response = marketing.get(f"{CHANGELIST}{disabled.pk}/change/")

    assert any("Disabled automatically after 1 failed" in text for text in texts(response))
    assert disabled.disabled_reason.encode() in response.content


def test_no_warning_while_every_subscription_is_healthy(marketing, subscribe):
    subscribe("message.read")

    assert texts(marketing.get(CHANGELIST)) == []


def test_enable_again_action(marketing, disabled, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = marketing.post(
            CHANGELIST, {"action": "enable_again", "_selected_action": [disabled.pk]}, follow=True
        )

    disabled.refresh_from_db()
    assert (disabled.active, disabled.disabled_reason) == (True, "")
    assert Delivery.objects.get().state == DeliveryState.SUCCEEDED
    assert "Shop CRM is enabled again; its pending deliveries are being attempted." in texts(
        response
    )


def test_send_a_test_event_action(marketing, subscribe, receiver):
    subscription = subscribe("message.read", description="Shop CRM")

    response = marketing.post(
        CHANGELIST,
        {"action": "send_test_event", "_selected_action": [subscription.pk]},
        follow=True,
    )

    [message] = texts(response)
    assert message.startswith("Shop CRM: Test event delivered: HTTP 200 in ")
    assert [request.json["type"] for request in receiver.requests] == ["ping"]


def test_rotate_secret_action_and_the_secret_page(marketing, subscribe):
    subscription = subscribe("message.read")
    old_public_id = subscription.public_id

    marketing.post(CHANGELIST, {"action": "rotate_secret", "_selected_action": [subscription.pk]})
    subscription.refresh_from_db()
    page = marketing.get(f"{CHANGELIST}{subscription.pk}/secret/")

    assert subscription.public_id != old_public_id
    assert subscription.previous_public_id == old_public_id
    assert page.status_code == 200
    assert subscription_secret(subscription.public_id).encode() in page.content
    assert b"also signs until" in page.content


def test_adding_through_the_form_records_who_and_refuses_a_private_target(
    client, receiver, settings
):
    user = UserFactory(is_staff=True, groups=["Integrator"])
    client.force_login(user)
    form = {"target_url": receiver.url, "event_types": ["message.read"], "description": "Mine"}

    added = client.post(f"{CHANGELIST}add/", {**form, "active": "on"})
    settings.TIDINGS_SUBSCRIPTION_ALLOW_PRIVATE_URLS = False
    refused = client.post(f"{CHANGELIST}add/", {**form, "description": "Other"})

    assert added.status_code == 302
    created = Subscription.objects.get()
    assert (created.created_by, created.event_types, created.active) == (
        user,
        ["message.read"],
        True,
    )
    assert refused.status_code == 200
    assert b"127.0.0.1 resolves to 127.0.0.1, a loopback, private" in refused.content
    assert Subscription.objects.count() == 1


def test_deliver_again_action(
    marketing, subscribe, receiver, feed, settings, django_capture_on_commit_callbacks
):
    settings.TIDINGS_SUBSCRIPTION_MAX_ATTEMPTS = 1
    subscribe("contact.opted_out")
    receiver.always(500)
    opt_out(ContactFactory())
    feed()
    delivery = Delivery.objects.get()
    receiver.always(None)

    with django_capture_on_commit_callbacks(execute=True):
        response = marketing.post(
            DELIVERIES, {"action": "deliver_again", "_selected_action": [delivery.pk]}, follow=True
        )

    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.SUCCEEDED
    assert "1 delivery will be attempted again." in texts(response)


def test_compliance_sees_everything_and_can_do_nothing(client, disabled, receiver):
    compliance = logged_in(client, "Compliance")
    requests_before = len(receiver.requests)

    listing = compliance.get(CHANGELIST)
    page = compliance.get(f"{CHANGELIST}{disabled.pk}/change/")
    secret = compliance.get(f"{CHANGELIST}{disabled.pk}/secret/")
    add = compliance.get(f"{CHANGELIST}add/")
    for action in ("enable_again", "send_test_event", "rotate_secret"):
        compliance.post(CHANGELIST, {"action": action, "_selected_action": [disabled.pk]})
    compliance.post(
        DELIVERIES, {"action": "deliver_again", "_selected_action": [Delivery.objects.get().pk]}
    )

    assert (listing.status_code, page.status_code) == (200, 200)
    assert b'name="action"' not in listing.content
    assert (secret.status_code, add.status_code) == (403, 403)
    assert subscription_secret(disabled.public_id).encode() not in page.content
    assert b"Show the signing secret" not in page.content
    refreshed = Subscription.objects.get(pk=disabled.pk)
    assert (refreshed.active, refreshed.public_id) == (False, disabled.public_id)
    assert len(receiver.requests) == requests_before


@pytest.mark.parametrize(
    "url",
    [
        "/admin/subscriptions/event/?q=not-a-uuid",
        "/admin/subscriptions/event/?type=message.read",
        "/admin/subscriptions/delivery/?q=abc&state=failed",
        "/admin/subscriptions/subscription/?q=abc&disabled=yes&active__exact=0",
    ],
)
def test_searching_and_filtering_answer_a_page(marketing, url):
    assert marketing.get(url).status_code == 200
