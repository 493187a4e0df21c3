"""Replays of POST /api/v1/messages/ answer as the original did, before any other work."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from campaigns.models import Message
from contacts.models import Contact
from tests.campaigns.factories import (
    MessageTemplateFactory,
    SenderNumberFactory,
    consented_contacts,
)
from tests.templates_app.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    client = APIClient()
    user = UserFactory(is_superuser=True, is_staff=True)
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def body(meta):
    template = MessageTemplateFactory()
    SenderNumberFactory(account=template.account)
    contact = consented_contacts(1)[0]
    return {
        "external_id": contact.external_id,
        "template": template.pk,
        "parameters": {
            "header.1": "A-1",
            "body.1": "Ana",
            "body.2": "A-1",
            "body.3": "Friday",
            "button.0": "A-1",
        },
    }


def post(api, body, key="order-1001"):
    return api.post("/api/v1/messages/", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_a_replay_returns_the_original_201_and_message(api, body):
    first = post(api, body)

    again = post(api, body)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert Message.objects.count() == 1


def test_a_replay_is_answered_before_the_contact_is_looked_up(api, body):
    first = post(api, body)
    # The contact can no longer be found by its external id: a fresh request would be a 400.
    Contact.objects.filter(messages__id=first.json()["id"]).update(external_id="")

    with CaptureQueriesContext(connection) as queries:
        again = post(api, body)

    assert again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert not any("contacts_contact" in query["sql"] for query in queries.captured_queries)
    assert post(api, body, key="order-1002").status_code == 400


def test_the_same_key_with_another_body_is_still_a_409(api, body):
    post(api, body)

    changed = body | {"parameters": body["parameters"] | {"body.1": "Someone else"}}

    assert post(api, changed).status_code == 409
    assert Message.objects.count() == 1
