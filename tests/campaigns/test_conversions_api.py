"""POST /api/v1/conversions/ as an integrator reports orders, and the conversions list."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from campaigns.models import Conversion, MessageStatus
from contacts.models import Contact
from contacts.services import contact_erase
from tests.campaigns.factories import CampaignFactory, ContactFactory, MessageFactory
from tests.templates_app.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/conversions/"
NOW = timezone.now().replace(microsecond=0)


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def member_of(group_name: str) -> APIClient:
    user = UserFactory()
    user.groups.add(Group.objects.get(name=group_name))
    return client_for(user)


@pytest.fixture
def integrator() -> APIClient:
    return member_of("Integrator")


def order(contact: Contact, **overrides) -> dict:
    return {
        "external_id": contact.external_id,
        "order_id": "ORD-1001",
        "value": "49.90",
        "currency": "EUR",
        "occurred_at": NOW.isoformat(),
    } | overrides


def errors_of(response) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for error in response.json()["errors"]:
        found.setdefault(error["attr"], []).append(error["detail"])
    return found


# --- Reporting -------------------------------------------------------------------------------


def test_an_order_is_recorded_and_attributed_to_the_last_campaign_message(integrator):
    contact = ContactFactory()
    message = MessageFactory(
        contact=contact, status=MessageStatus.READ, sent_at=NOW - dt.timedelta(hours=3)
    )

    response = integrator.post(URL, order(contact), format="json")

    assert response.status_code == 201
    body = response.json()
    assert body == {
        "id": Conversion.objects.get().pk,
        "order_id": "ORD-1001",
        "contact": contact.pk,
        "value": "49.9000",
        "currency": "EUR",
        "occurred_at": body["occurred_at"],
        "attributed": True,
        "campaign": message.campaign_id,
        "message": message.pk,
        "attribution_window_hours": 168,
        "created_at": body["created_at"],
    }
    assert dt.datetime.fromisoformat(body["occurred_at"]) == NOW
    assert "Idempotent-Replayed" not in response.headers


def test_an_order_without_a_campaign_message_is_recorded_unattributed(integrator):
    contact = ContactFactory()

    response = integrator.post(URL, order(contact), format="json")

    assert response.status_code == 201
    assert (response.json()["attributed"], response.json()["campaign"]) == (False, None)


@pytest.mark.parametrize(
    "reference",
    [
        lambda contact: {"contact_id": contact.pk},
        lambda contact: {"phone": "07911 000123"},
        lambda contact: {"phone": "+44 7911 000123"},
        lambda contact: {"external_id": "CRM-77"},
    ],
)
def test_the_contact_is_found_by_id_phone_in_any_format_or_external_id(integrator, reference):
    contact = ContactFactory(phone="+447911000123", external_id="CRM-77")
    body = {key: value for key, value in order(contact).items() if key != "external_id"}
    body |= reference(contact)

    response = integrator.post(URL, body, format="json")

    assert response.status_code == 201
    assert response.json()["contact"] == contact.pk


# --- Idempotency -----------------------------------------------------------------------------


def test_the_same_order_and_body_again_returns_the_original(integrator):
    contact = ContactFactory()
    first = integrator.post(URL, order(contact), format="json")

    again = integrator.post(URL, order(contact), format="json")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert Conversion.objects.count() == 1


def test_a_replay_is_answered_before_the_contact_is_looked_up(integrator):
    contact = ContactFactory()
    first = integrator.post(URL, order(contact), format="json")
    # The contact can no longer be found by its external id: a fresh report would be a 400.
    Contact.objects.filter(pk=contact.pk).update(external_id=None)

    with CaptureQueriesContext(connection) as queries:
        again = integrator.post(URL, order(contact), format="json")

    assert again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert not any("contacts_contact" in query["sql"] for query in queries.captured_queries)
    assert (
        integrator.post(URL, order(contact, order_id="ORD-1002"), format="json").status_code == 400
    )


@pytest.mark.parametrize(
    "change",
    [
        {"value": "50.00"},
        {"currency": "USD"},
        {"occurred_at": (NOW - dt.timedelta(hours=1)).isoformat()},
    ],
)
def test_the_same_order_with_another_body_is_a_409_and_changes_nothing(integrator, change):
    contact = ContactFactory()
    integrator.post(URL, order(contact), format="json")

    response = integrator.post(URL, order(contact) | change, format="json")

    assert response.status_code == 409
    assert response.json() == {
        "type": "client_error",
        "errors": [
            {
                "code": "conflict",
                "detail": "This order was already reported with a different body.",
                "attr": "order_id",
            }
        ],
    }
    conversion = Conversion.objects.get()
    assert (str(conversion.value), conversion.currency, conversion.occurred_at) == (
        "49.9000",
        "EUR",
        NOW,
    )


@pytest.mark.django_db(transaction=True)
def test_concurrent_reports_of_one_order_make_one_conversion():
    contact = ContactFactory()
    # Not the group: a transactional test may run after another one flushed the groups away.
    user = UserFactory()
    user.user_permissions.set(
        Permission.objects.filter(codename__in=["add_conversion", "view_conversion"])
    )
    token = Token.objects.create(user=user).key
    body = order(contact)
    codes: list[int] = []
    ids: set[int] = set()
    barrier = threading.Barrier(6)

    def post() -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        barrier.wait()
        response = client.post(URL, body, format="json")
        codes.append(response.status_code)
        ids.add(response.json()["id"])
        connection.close()

    threads = [threading.Thread(target=post) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert codes == [201] * 6
    assert ids == {Conversion.objects.get().pk}


# --- Bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "attr", "detail"),
    [
        (
            {"currency": "ABC"},
            "currency",
            "'ABC' is not an ISO 4217 currency code such as \"EUR\".",
        ),
        ({"currency": "EURO"}, "currency", "Ensure this field has no more than 3 characters."),
        ({"value": "-5"}, "value", "Ensure this value is greater than or equal to 0."),
        ({"value": "ten"}, "value", "A valid number is required."),
        ({"value": "1.23456"}, "value", "Ensure that there are no more than 4 decimal places."),
        ({"occurred_at": "yesterday"}, "occurred_at", None),
        (
            {"occurred_at": (NOW + dt.timedelta(days=1)).isoformat()},
            "occurred_at",
            "A conversion cannot be in the future.",
        ),
        ({"order_id": ""}, "order_id", "This field may not be blank."),
        ({"order_id": "ORD\x00-1"}, "order_id", "Null characters are not allowed."),
        ({"order_id": "O" * 256}, "order_id", "Ensure this field has no more than 255 characters."),
        ({"external_id": "nobody"}, "external_id", "No contact matches."),
        ({"phone": "not a phone"}, "phone", None),
        ({"contact_id": 10**9}, "contact_id", "No contact matches."),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_records_nothing(integrator, change, attr, detail):
    contact = ContactFactory()
    body = order(contact) | change
    if {"phone", "contact_id"} & change.keys():
        del body["external_id"]

    response = integrator.post(URL, body, format="json")

    assert response.status_code == 400
    assert response.json()["type"] == "validation_error"
    errors = errors_of(response)
    assert list(errors) == [attr]
    if detail is not None:
        assert errors[attr] == [detail]
    assert not Conversion.objects.exists()


@pytest.mark.parametrize("missing", ["order_id", "value", "currency", "occurred_at"])
def test_every_order_field_is_required(integrator, missing):
    body = order(ContactFactory())
    del body[missing]

    response = integrator.post(URL, body, format="json")

    assert response.status_code == 400
    assert errors_of(response) == {missing: ["This field is required."]}


@pytest.mark.parametrize(
    "references",
    [{}, {"contact_id": 1, "external_id": "C-1"}],
)
def test_exactly_one_contact_reference_is_needed(integrator, references):
    body = order(ContactFactory())
    del body["external_id"]

    response = integrator.post(URL, body | references, format="json")

    assert response.status_code == 400
    assert errors_of(response) == {
        "contact_id": ["Give exactly one of contact_id, phone or external_id."]
    }


def test_an_erased_contact_is_not_found_even_by_its_id(integrator):
    contact = ContactFactory()
    contact_erase(contact=contact, erased_by=UserFactory())
    body = order(contact) | {"contact_id": contact.pk}
    del body["external_id"]

    response = integrator.post(URL, body, format="json")

    assert response.status_code == 400
    assert errors_of(response) == {"contact_id": ["No contact matches."]}
    assert not Conversion.objects.exists()


# --- Listing, filters, detail ----------------------------------------------------------------


@pytest.fixture
def reported(integrator):
    """Three conversions: two attributed to one campaign (days 1 and 3), one unattributed."""
    campaign = CampaignFactory()
    ana, ben = ContactFactory(), ContactFactory()
    for contact in (ana, ben):
        MessageFactory(
            campaign=campaign,
            contact=contact,
            status=MessageStatus.DELIVERED,
            sent_at=NOW - dt.timedelta(days=4),
        )
    bodies = [
        order(ana, order_id="A", occurred_at=(NOW - dt.timedelta(days=3)).isoformat()),
        order(ben, order_id="B", occurred_at=(NOW - dt.timedelta(days=1)).isoformat()),
        order(ContactFactory(), order_id="C"),
    ]
    for body in bodies:
        assert integrator.post(URL, body, format="json").status_code == 201
    return {"campaign": campaign, "ana": ana, "ben": ben}


def order_ids(response) -> list[str]:
    assert response.status_code == 200
    return [row["order_id"] for row in response.json()["results"]]


def test_the_list_is_newest_first_and_filters_by_campaign_contact_and_dates(integrator, reported):
    campaign, ana = reported["campaign"], reported["ana"]
    two_days_ago = (NOW - dt.timedelta(days=2)).isoformat()

    assert order_ids(integrator.get(URL)) == ["C", "B", "A"]
    assert order_ids(integrator.get(URL, {"campaign": campaign.pk})) == ["B", "A"]
    assert order_ids(integrator.get(URL, {"campaign__isnull": "true"})) == ["C"]
    assert order_ids(integrator.get(URL, {"contact": ana.pk})) == ["A"]
    assert order_ids(integrator.get(URL, {"occurred_at__gte": two_days_ago})) == ["C", "B"]
    assert order_ids(integrator.get(URL, {"occurred_at__lte": two_days_ago})) == ["A"]
    assert order_ids(integrator.get(URL, {"order_id": "B"})) == ["B"]


def test_a_bad_filter_value_is_a_400_not_a_500(integrator, reported):
    response = integrator.get(URL, {"occurred_at__gte": "last week"})

    assert response.status_code == 400
    assert "occurred_at__gte" in errors_of(response)


def test_the_detail_shows_one_conversion(integrator, reported):
    conversion = Conversion.objects.get(order_id="A")

    response = integrator.get(f"{URL}{conversion.pk}/")

    assert response.status_code == 200
    assert response.json()["order_id"] == "A"
    assert response.json()["campaign"] == reported["campaign"].pk
    assert integrator.get(f"{URL}{10**9}/").status_code == 404


# --- Roles -----------------------------------------------------------------------------------


def test_compliance_and_marketing_read_conversions_but_cannot_report_them():
    contact = ContactFactory()
    for group_name in ("Compliance", "Marketing"):
        client = member_of(group_name)

        assert client.get(URL).status_code == 200
        assert client.post(URL, order(contact), format="json").status_code == 403
    assert not Conversion.objects.exists()


def test_nobody_changes_or_deletes_a_conversion(integrator):
    integrator.post(URL, order(ContactFactory()), format="json")
    conversion = Conversion.objects.get()
    superuser = client_for(UserFactory(is_superuser=True))

    # No role has change or delete permissions on conversions, and there is no such operation.
    for client, refusal in ((integrator, 405), (superuser, 405)):
        assert client.put(f"{URL}{conversion.pk}/", {}, format="json").status_code == refusal
        assert client.patch(f"{URL}{conversion.pk}/", {}, format="json").status_code == refusal
        assert client.delete(f"{URL}{conversion.pk}/").status_code == refusal
    assert Conversion.objects.count() == 1


def test_a_user_without_a_role_and_anonymous_callers_are_refused():
    contact = ContactFactory()

    assert client_for(UserFactory()).get(URL).status_code == 403
    assert client_for(UserFactory()).post(URL, order(contact), format="json").status_code == 403
    assert APIClient().post(URL, order(contact), format="json").status_code == 401
    assert not Conversion.objects.exists()


def test_the_groups_hold_exactly_their_conversion_permissions():
    def codenames(group_name: str) -> set[str]:
        return set(
            Group.objects.get(name=group_name)
            .permissions.filter(codename__endswith="_conversion")
            .values_list("codename", flat=True)
        )

    assert codenames("Compliance") == {"view_conversion"}
    assert codenames("Marketing") == {"view_conversion"}
    assert codenames("Integrator") == {"view_conversion", "add_conversion"}
