"""Target URLs: http(s) only, no credentials, and no private addresses unless allowed."""

from __future__ import annotations

import pytest

from subscriptions.errors import SubscriptionError
from subscriptions.models import Subscription
from subscriptions.services import subscription_create

pytestmark = pytest.mark.django_db


def create(url: str, types: object = ("message.read",)) -> Subscription:
    return subscription_create(target_url=url, event_types=list(types))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://127.0.0.1:8080/hooks", "127.0.0.1 resolves to 127.0.0.1, a loopback, private"),
        ("http://10.0.0.5/hooks", "10.0.0.5 resolves to 10.0.0.5, a loopback, private"),
        ("http://192.168.1.20/hooks", "192.168.1.20 resolves to 192.168.1.20"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 resolves to"),
        ("http://[::1]/hooks", "::1 resolves to ::1"),
        ("http://localhost:9000/hooks", "localhost resolves to"),
    ],
)
def test_private_targets_are_refused_in_production(settings, url, problem):
    settings.TIDINGS_SUBSCRIPTION_ALLOW_PRIVATE_URLS = False

    with pytest.raises(SubscriptionError) as refused:
        create(url)

    [message] = refused.value.field_errors["target_url"]
    assert message.startswith(problem)
    assert Subscription.objects.count() == 0


def test_a_public_address_is_accepted_in_production(settings):
    settings.TIDINGS_SUBSCRIPTION_ALLOW_PRIVATE_URLS = False

    subscription = create("https://93.184.215.14/hooks/tidings")

    assert subscription.target_url == "https://93.184.215.14/hooks/tidings"


def test_private_targets_are_accepted_when_allowed(settings):
    settings.TIDINGS_SUBSCRIPTION_ALLOW_PRIVATE_URLS = True

    assert create("http://127.0.0.1:8080/hooks").pk


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/hooks", "The URL must start with http:// or https://."),
        ("example.com/hooks", "The URL must start with http:// or https://."),
        ("https:///hooks", "The URL must name a host."),
        ("http://127.0.0.1:99999/", "This is not a valid URL."),
        (
            "https://user:password@example.com/hooks",
            "Credentials in the URL would be stored in the database; remove them and verify "
            "the X-Tidings-Signature header instead.",
        ),
    ],
)
def test_a_url_that_cannot_be_a_target_is_refused_with_the_reason(url, message):
    with pytest.raises(SubscriptionError) as refused:
        create(url)

    assert refused.value.field_errors == {"target_url": [message]}


def test_event_types_must_be_known_and_not_empty():
    with pytest.raises(SubscriptionError) as unknown:
        create("http://127.0.0.1/hooks", ["message.read", "message.opened"])
    with pytest.raises(SubscriptionError) as empty:
        create("http://127.0.0.1/hooks", [])

    assert unknown.value.field_errors["event_types"][0].startswith(
        "Unknown event type(s): message.opened. Known: campaign.status_changed, "
    )
    assert empty.value.field_errors == {"event_types": ["Choose at least one event type."]}
