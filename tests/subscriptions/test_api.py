"""The subscriptions API: CRUD, the delivery log, test pings, the secret, and who may do what."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from subscriptions.models import Delivery, Subscription
from subscriptions.signing import subscription_secret, verify_signature
from tests.campaigns.factories import ContactFactory
from tests.contacts.factories import UserFactory

from .conftest import opt_out

pytestmark = pytest.mark.django_db

URL = "/api/v1/subscriptions/"


def client_in(group: str) -> APIClient:
    user = UserFactory(groups=[group])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    client.user = user
    return client


@pytest.fixture
def integrator() -> APIClient:
    return client_in("Integrator")


def error_attrs(response) -> dict[str, list[str]]:
    assert response.json()["type"] == "validation_error"
    found: dict[str, list[str]] = {}
    for error in response.json()["errors"]:
        found.setdefault(error["attr"], []).append(error["detail"])
    return found


def body(receiver, **overrides) -> dict:
    return {
        "target_url": receiver.url,
        "event_types": ["message.read", "contact.opted_out"],
        "description": "CRM timeline",
        **overrides,
    }


def test_an_integrator_creates_a_subscription(integrator, receiver):
    response = integrator.post(URL, body(receiver), format="json")

    assert response.status_code == 201, response.json()
    created = response.json()
    subscription = Subscription.objects.get()
    assert created["id"] == subscription.pk
    assert created["public_id"] == subscription.public_id
    assert created["public_id"].startswith("sub_")
    assert created["event_types"] == ["contact.opted_out", "message.read"]
    assert created["active"] is True
    assert created["created_by"] == integrator.user.pk
    assert "secret" not in created


@pytest.mark.parametrize(
    ("overrides", "attr", "detail"),
    [
        ({"target_url": "ftp://example.com/x"}, "target_url", "must start with http"),
        ({"event_types": ["message.opened"]}, "event_types.0", "is not a valid choice"),
        ({"event_types": []}, "event_types", "This list may not be empty."),
        ({"target_url": "https://u:p@example.com/"}, "target_url", "Credentials in the URL"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(integrator, receiver, overrides, attr, detail):
    response = integrator.post(URL, body(receiver, **overrides), format="json")

    assert response.status_code == 400
    errors = error_attrs(response)
    assert list(errors) == [attr]
    assert detail in errors[attr][0]
    assert Subscription.objects.count() == 0


def test_a_private_target_is_a_400_in_production(integrator, settings):
    settings.TIDINGS_SUBSCRIPTION_ALLOW_PRIVATE_URLS = False

    response = integrator.post(
        URL, {"target_url": "http://10.1.2.3/x", "event_types": ["message.read"]}, format="json"
    )

    assert response.status_code == 400
    assert error_attrs(response)["target_url"][0].startswith("10.1.2.3 resolves to 10.1.2.3")


def test_update_and_delete(integrator, receiver):
    created = integrator.post(URL, body(receiver), format="json").json()

    patched = integrator.patch(
        f"{URL}{created['id']}/", {"event_types": ["message.failed"]}, format="json"
    )
    deleted = integrator.delete(f"{URL}{created['id']}/")

    assert patched.status_code == 200
    assert patched.json()["event_types"] == ["message.failed"]
    assert patched.json()["target_url"] == receiver.url
    assert deleted.status_code == 204
    assert Subscription.objects.count() == 0


def test_the_delivery_log_lists_each_delivery_with_its_attempts(integrator, receiver, feed):
    created = integrator.post(URL, body(receiver), format="json").json()
    receiver.script(500)
    contact = ContactFactory()
    opt_out(contact)
    feed()

    response = integrator.get(f"{URL}{created['id']}/deliveries/")

    assert response.status_code == 200
    [delivery] = response.json()["results"]
    assert delivery["state"] == "pending"
    assert delivery["event"]["type"] == "contact.opted_out"
    assert delivery["event"]["data"]["contact"]["id"] == contact.pk
    assert delivery["id"] == Delivery.objects.get().pk
    [attempt] = delivery["attempt_log"]
    assert (attempt["number"], attempt["status_code"], attempt["succeeded"]) == (1, 500, False)
    assert attempt["error"] == "HTTP 500"
    filtered = integrator.get(f"{URL}{created['id']}/deliveries/?state=succeeded")
    assert filtered.json()["results"] == []


def test_a_test_ping_is_sent_signed_and_reported(integrator, receiver):
    created = integrator.post(URL, body(receiver), format="json").json()

    response = integrator.post(f"{URL}{created['id']}/test/")

    assert response.status_code == 200
    result = response.json()
    assert (result["succeeded"], result["status_code"]) == (True, 200)
    assert result["summary"].startswith("Test event delivered: HTTP 200 in ")
    [request] = receiver.requests
    assert request.json["type"] == "ping"
    assert verify_signature(
        request.body,
        request.headers["X-Tidings-Signature"],
        subscription_secret(created["public_id"]),
    )


def test_a_failing_test_ping_says_why_and_does_not_count_towards_disabling(integrator, receiver):
    created = integrator.post(URL, body(receiver), format="json").json()
    receiver.always(502)

    result = integrator.post(f"{URL}{created['id']}/test/").json()

    assert (result["succeeded"], result["error"]) == (False, "HTTP 502")
    assert result["summary"] == "Test event not delivered: HTTP 502."
    assert Subscription.objects.get().consecutive_failures == 0


def test_the_secret_is_shown_on_demand_and_rotates(integrator, receiver):
    created = integrator.post(URL, body(receiver), format="json").json()

    shown = integrator.get(f"{URL}{created['id']}/secret/").json()
    rotated = integrator.post(f"{URL}{created['id']}/rotate-secret/").json()

    assert shown == {
        "public_id": created["public_id"],
        "secret": subscription_secret(created["public_id"]),
        "previous_secret_valid_until": None,
    }
    assert rotated["public_id"] != created["public_id"]
    assert rotated["secret"] == subscription_secret(rotated["public_id"])
    assert rotated["previous_secret_valid_until"] is not None


def test_enable_brings_back_a_disabled_subscription(integrator, receiver, feed, settings):
    settings.TIDINGS_SUBSCRIPTION_DISABLE_AFTER_FAILURES = 1
    created = integrator.post(URL, body(receiver), format="json").json()
    receiver.always(500)
    opt_out(ContactFactory())
    feed()
    disabled = integrator.get(f"{URL}{created['id']}/").json()
    assert disabled["active"] is False
    assert disabled["disabled_reason"].startswith("Disabled automatically after 1 failed")

    receiver.always(None)
    # A full update that does not mention `active` leaves it disabled.
    put = integrator.put(f"{URL}{created['id']}/", body(receiver), format="json").json()
    assert put["active"] is False
    enabled = integrator.post(f"{URL}{created['id']}/enable/").json()

    assert (enabled["active"], enabled["consecutive_failures"], enabled["disabled_reason"]) == (
        True,
        0,
        "",
    )


# --- Roles ------------------------------------------------------------------------------------


@pytest.mark.parametrize("group", ["Integrator", "Marketing"])
def test_integrators_and_marketing_manage_subscriptions(group, receiver):
    client = client_in(group)

    created = client.post(URL, body(receiver), format="json")
    subscription_id = created.json()["id"]

    assert created.status_code == 201
    assert client.patch(f"{URL}{subscription_id}/", {"description": "x"}).status_code == 200
    assert client.get(f"{URL}{subscription_id}/deliveries/").status_code == 200
    assert client.post(f"{URL}{subscription_id}/test/").status_code == 200
    assert client.get(f"{URL}{subscription_id}/secret/").status_code == 200
    assert client.post(f"{URL}{subscription_id}/rotate-secret/").status_code == 200
    assert client.post(f"{URL}{subscription_id}/enable/").status_code == 200
    assert client.delete(f"{URL}{subscription_id}/").status_code == 204


def test_compliance_reads_but_changes_nothing_and_never_sees_the_secret(integrator, receiver):
    created = integrator.post(URL, body(receiver), format="json").json()
    item = f"{URL}{created['id']}/"
    compliance = client_in("Compliance")
    before = Subscription.objects.values().get()

    reads = [
        compliance.get(URL),
        compliance.get(item),
        compliance.get(f"{item}deliveries/"),
    ]
    writes = [
        compliance.post(URL, body(receiver), format="json"),
        compliance.patch(item, {"description": "changed"}, format="json"),
        compliance.delete(item),
        compliance.post(f"{item}test/"),
        compliance.get(f"{item}secret/"),
        compliance.post(f"{item}rotate-secret/"),
        compliance.post(f"{item}enable/"),
    ]

    assert [response.status_code for response in reads] == [200, 200, 200]
    assert [response.status_code for response in writes] == [403] * len(writes)
    assert Subscription.objects.values().get() == before
    assert receiver.requests == []


def test_anonymous_callers_are_refused(receiver):
    response = APIClient().post(URL, body(receiver), format="json")

    assert response.status_code == 401
