"""Test sends: one real message now, to a staff number or a contact, recorded as a test."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from campaigns import services
from campaigns.errors import CampaignError
from campaigns.models import Message, MessageStatus, TrackedLink
from campaigns.selectors import campaign_progress
from contacts.models import ConsentScope, Contact
from tests.campaigns.factories import (
    CampaignFactory,
    ContactFactory,
    MessageTemplateFactory,
    consented_contacts,
)
from tests.templates_app.factories import UserFactory, order_update_components

pytestmark = pytest.mark.django_db

STAFF_NUMBER = "+447911123456"


def user_with(*codenames: str):
    user = UserFactory()
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


def api_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def launcher():
    return user_with("view_campaign", "change_campaign", "launch_campaign")


@pytest.fixture
def author():
    return user_with("view_campaign", "change_campaign")


def body_text(sent: dict) -> list[str]:
    body = next(c for c in sent["template"]["components"] if c["type"] == "body")
    return [parameter["text"] for parameter in body["parameters"]]


# --- To a staff number ------------------------------------------------------------------------


def test_a_staff_number_gets_the_first_recipients_message_recorded_as_a_test(meta, launcher):
    campaign = CampaignFactory()
    ContactFactory()  # no consent: not a recipient
    first, _second = consented_contacts(2)

    response = api_for(launcher).post(
        f"/api/v1/campaigns/{campaign.pk}/test-send/", {"phone": "07911 123456"}, format="json"
    )

    assert response.status_code == 201, response.json()
    (sent,) = meta.accepted_messages
    assert sent["to"] == STAFF_NUMBER
    assert body_text(sent) == [first.name, first.external_id, "Friday"]
    message = Message.objects.get(pk=response.json()["id"])
    assert (message.status, message.wamid) == (MessageStatus.SENT, sent["_wamid"])
    assert (message.campaign, message.test_of_campaign) == (None, campaign)
    assert message.contact.phone == STAFF_NUMBER
    assert message.consent_record is None
    assert message.triggered_by == launcher
    assert response.json()["test_of_campaign"] == campaign.pk
    assert campaign_progress(campaign.pk).total == 0


def test_a_staff_number_needs_the_launch_permission(meta, author):
    campaign = CampaignFactory()
    consented_contacts(1)

    response = api_for(author).post(
        f"/api/v1/campaigns/{campaign.pk}/test-send/", {"phone": STAFF_NUMBER}, format="json"
    )

    assert response.status_code == 403
    assert meta.send_count == 0
    assert not Message.objects.exists()


def test_the_service_refuses_a_staff_number_without_the_launch_permission_too(meta, author):
    campaign = CampaignFactory()
    consented_contacts(1)

    with pytest.raises(CampaignError) as refused:
        services.campaign_test_send(
            campaign_id=campaign.pk, phone=STAFF_NUMBER, triggered_by=author
        )

    assert list(refused.value.field_errors) == ["phone"]
    assert meta.send_count == 0
    assert not Contact.objects.filter(phone=STAFF_NUMBER).exists()


@pytest.mark.parametrize(
    ("body", "attr"),
    [
        ({"phone": "not a number"}, "phone"),
        ({}, "phone"),
        ({"phone": STAFF_NUMBER, "contact": "first recipient"}, "phone"),
        ({"contact": 999999}, "contact"),
    ],
)
def test_bad_test_send_requests_are_400s(meta, launcher, body, attr):
    campaign = CampaignFactory()
    recipient = consented_contacts(1)[0]
    if body.get("contact") == "first recipient":
        body = body | {"contact": recipient.pk}

    response = api_for(launcher).post(
        f"/api/v1/campaigns/{campaign.pk}/test-send/", body, format="json"
    )

    assert response.status_code == 400
    assert attr in {error["attr"] for error in response.json()["errors"]}
    assert meta.send_count == 0
    assert not Message.objects.exists()


def test_a_staff_test_of_an_audience_nobody_would_get_is_refused(meta, launcher):
    campaign = CampaignFactory()
    ContactFactory()  # never opted in

    with pytest.raises(CampaignError, match="Nobody in the audience would get this campaign"):
        services.campaign_test_send(
            campaign_id=campaign.pk, phone=STAFF_NUMBER, triggered_by=launcher
        )

    assert meta.send_count == 0


# --- To a contact -----------------------------------------------------------------------------


def test_a_contact_gets_its_own_message_on_its_own_consent(meta, author):
    campaign = CampaignFactory()
    consented_contacts(1)
    colleague = consented_contacts(1, name="Ana Staff")[0]

    response = api_for(author).post(
        f"/api/v1/campaigns/{campaign.pk}/test-send/", {"contact": colleague.pk}, format="json"
    )

    assert response.status_code == 201, response.json()
    (sent,) = meta.accepted_messages
    assert sent["to"] == colleague.phone
    assert body_text(sent) == ["Ana Staff", colleague.external_id, "Friday"]
    message = Message.objects.get()
    assert message.consent_record == colleague.consent_records.get()
    assert message.test_of_campaign == campaign


def test_a_contact_without_the_consent_the_campaign_needs_gets_nothing(meta, author):
    campaign = CampaignFactory(
        template=MessageTemplateFactory(named=True),
        variable_mapping={
            "header.first_name": {"source": "contact", "path": "name"},
            "body.first_name": {"source": "contact", "path": "name"},
            "body.points": {"source": "constant", "path": "100"},
        },
    )
    utility_only = consented_contacts(1, ConsentScope.UTILITY)[0]

    response = api_for(author).post(
        f"/api/v1/campaigns/{campaign.pk}/test-send/", {"contact": utility_only.pk}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"attr": "contact", "code": "invalid", "detail": "No marketing consent."}
    ]
    assert meta.send_count == 0
    assert not Message.objects.exists()


# --- What goes out ----------------------------------------------------------------------------


def test_a_test_send_carries_a_tracked_link_token(meta, launcher):
    components = order_update_components()
    components[-1]["buttons"][0]["url"] = "https://tidings.example.com/r/{{1}}"
    campaign = CampaignFactory(
        template=MessageTemplateFactory(components=components),
        tracked_links={"button.0": "https://shop.example.com/orders/{value}"},
    )
    first = consented_contacts(1)[0]

    message = services.campaign_test_send(
        campaign_id=campaign.pk, phone=STAFF_NUMBER, triggered_by=launcher
    )

    link = TrackedLink.objects.get(message=message)
    (sent,) = meta.accepted_messages
    button = next(c for c in sent["template"]["components"] if c["type"] == "button")
    assert button["parameters"] == [{"type": "text", "text": link.token}]
    assert link.target_url == f"https://shop.example.com/orders/{first.external_id}"
    assert message.parameters["button.0"] == link.token


def test_a_test_refused_by_meta_is_failed_with_the_error_and_never_retried(meta, launcher):
    campaign = CampaignFactory()
    consented_contacts(1)
    meta.fail_next(131000, endpoint="messages")  # retryable in a campaign

    message = services.campaign_test_send(
        campaign_id=campaign.pk, phone=STAFF_NUMBER, triggered_by=launcher
    )

    assert (message.status, message.error_code) == (MessageStatus.FAILED, 131000)
    assert message.lease_expires_at is None
    assert meta.send_count == 1
