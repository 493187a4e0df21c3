"""The campaigns and messages API, as an integrator uses it."""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus
from contacts.models import ConsentScope
from tests.campaigns.factories import (
    ORDER_UPDATE_MAPPING,
    CampaignFactory,
    ContactFactory,
    MessageTemplateFactory,
    SegmentFactory,
    SenderNumberFactory,
    consented_contacts,
)
from tests.templates_app.factories import UserFactory

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def admin_api():
    return client_for(UserFactory(is_superuser=True, is_staff=True))


def user_with(*codenames: str):
    user = UserFactory()
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


def error_attrs(response) -> dict[str, list[str]]:
    assert response.json()["type"] == "validation_error"
    found: dict[str, list[str]] = {}
    for error in response.json()["errors"]:
        found.setdefault(error["attr"], []).append(error["detail"])
    return found


def campaign_body(**overrides) -> dict:
    template = overrides.pop("template", None) or MessageTemplateFactory()
    return {
        "name": "Spring orders",
        "template": template.pk,
        "sender": SenderNumberFactory(account=template.account).pk,
        "segment": SegmentFactory().pk,
        "variable_mapping": dict(ORDER_UPDATE_MAPPING),
    } | overrides


# --- Campaigns --------------------------------------------------------------------------------


def test_an_integrator_creates_a_draft_campaign(admin_api):
    response = admin_api.post("/api/v1/campaigns/", campaign_body(), format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "draft"
    assert Campaign.objects.get().created_by is not None


def test_a_mapping_that_does_not_fit_the_template_is_a_400_naming_the_variable(admin_api):
    body = campaign_body()
    del body["variable_mapping"]["body.3"]

    response = admin_api.post("/api/v1/campaigns/", body, format="json")

    assert response.status_code == 400
    assert error_attrs(response) == {
        "variable_mapping": ["Variable body.3 of template 'order_update' (en_US) has no mapping."]
    }
    assert not Campaign.objects.exists()


@pytest.mark.parametrize(
    ("body", "attr"),
    [
        ({"template": 999999}, "template"),
        ({"variable_mapping": ["not", "an", "object"]}, "variable_mapping"),
        ({"schedule_type": "whenever"}, "schedule_type"),
        ({"throughput_per_second": 0}, "throughput_per_second"),
    ],
)
def test_bad_fields_are_400s_with_field_errors(admin_api, body, attr):
    response = admin_api.post("/api/v1/campaigns/", campaign_body() | body, format="json")

    assert response.status_code == 400
    assert attr in error_attrs(response)


def test_launching_needs_the_launch_permission_four_eyes():
    campaign = CampaignFactory()
    author = client_for(user_with("view_campaign", "add_campaign", "change_campaign"))
    approver = client_for(user_with("view_campaign", "launch_campaign"))

    refused = author.post(f"/api/v1/campaigns/{campaign.pk}/schedule/")
    accepted = approver.post(f"/api/v1/campaigns/{campaign.pk}/schedule/")

    assert refused.status_code == 403
    assert accepted.status_code == 200
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.SCHEDULED


def test_an_illegal_transition_is_a_400_with_the_reason(admin_api):
    campaign = CampaignFactory(status=CampaignStatus.COMPLETED)

    response = admin_api.post(f"/api/v1/campaigns/{campaign.pk}/pause/")

    assert response.status_code == 400
    assert response.json()["errors"][0]["detail"] == "Cannot pause a completed campaign."


def test_a_read_only_user_can_look_but_not_touch():
    campaign = CampaignFactory()
    auditor = client_for(user_with("view_campaign", "view_message"))

    assert auditor.get(f"/api/v1/campaigns/{campaign.pk}/").status_code == 200
    for action in ("start", "schedule", "pause", "resume", "cancel", "retry-failed", "dry-run"):
        assert auditor.post(f"/api/v1/campaigns/{campaign.pk}/{action}/").status_code == 403
    assert auditor.post("/api/v1/campaigns/", campaign_body(), format="json").status_code == 403
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.DRAFT


def test_dry_run_renders_messages_and_counts_exclusions_without_sending(admin_api, meta):
    campaign = CampaignFactory()
    alice, bob = consented_contacts(2)
    ContactFactory()  # never opted in

    response = admin_api.post(f"/api/v1/campaigns/{campaign.pk}/dry-run/", {"sample_size": 5})

    assert response.status_code == 200
    result = response.json()
    assert (result["audience"], result["would_send"]) == (3, 2)
    assert result["excluded"] == {"no_consent": 1}
    assert [s["contact_id"] for s in result["samples"]] == [alice.pk, bob.pk]
    first = result["samples"][0]
    assert first["text"].startswith(f"Order {alice.external_id}")
    assert f"Hi {alice.name}, your order {alice.external_id}" in first["text"]
    assert first["payload"]["template"]["name"] == "order_update"
    assert not Message.objects.exists()
    assert meta.send_count == 0


def test_stats_show_counts_and_the_funnel(admin_api, meta, running_campaign):
    from campaigns.dispatch import dispatch_chunk

    campaign = running_campaign(3)
    dispatch_chunk(campaign_id=campaign.pk)

    response = admin_api.get(f"/api/v1/campaigns/{campaign.pk}/stats/")

    assert response.status_code == 200
    stats = response.json()
    assert stats["by_status"] == {"sent": 3}
    assert stats["funnel"]["sent"] == 3
    assert stats["pending"] == 0


# --- Transactional messages -------------------------------------------------------------------


@pytest.fixture
def order_update(meta):
    template = MessageTemplateFactory()
    SenderNumberFactory(account=template.account)
    return template


def message_body(contact, template, **extra) -> dict:
    return {
        "phone": contact.phone,
        "template": template.pk,
        "parameters": {
            "header.1": "A-1",
            "body.1": "Ana",
            "body.2": "A-1",
            "body.3": "Friday",
            "button.0": "A-1",
        },
    } | extra


def test_a_transactional_send_is_recorded_then_sent(admin_api, order_update, meta):
    contact = consented_contacts(1, ConsentScope.UTILITY)[0]

    response = admin_api.post(
        "/api/v1/messages/", message_body(contact, order_update), format="json"
    )

    assert response.status_code == 201, response.json()
    message = Message.objects.get(pk=response.json()["id"])
    assert message.contact == contact and message.campaign is None
    from campaigns.transactional import message_send_now

    assert message_send_now(message_id=message.pk) == MessageStatus.SENT
    assert meta.send_count == 1


def test_the_same_idempotency_key_and_body_returns_the_original(admin_api, order_update):
    contact = consented_contacts(1)[0]
    body = message_body(contact, order_update)

    first = admin_api.post("/api/v1/messages/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = admin_api.post("/api/v1/messages/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json()["id"] == again.json()["id"]
    assert Message.objects.count() == 1


def test_the_same_idempotency_key_with_another_body_is_a_409(admin_api, order_update):
    contact = consented_contacts(1)[0]
    body = message_body(contact, order_update)
    admin_api.post("/api/v1/messages/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    changed = body | {"parameters": body["parameters"] | {"body.1": "Someone else"}}
    response = admin_api.post(
        "/api/v1/messages/", changed, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )

    assert response.status_code == 409
    assert Message.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_with_one_key_make_one_message(order_update):
    contact = consented_contacts(1)[0]
    user = UserFactory(is_superuser=True)
    token = Token.objects.create(user=user).key
    body = message_body(contact, order_update)
    codes: list[int] = []
    barrier = threading.Barrier(4)

    def post() -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        barrier.wait()
        codes.append(
            client.post(
                "/api/v1/messages/", body, format="json", HTTP_IDEMPOTENCY_KEY="same"
            ).status_code
        )
        connection.close()

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert codes == [201, 201, 201, 201]
    assert Message.objects.count() == 1


def test_marketing_needs_marketing_consent(admin_api, meta):
    template = MessageTemplateFactory(named=True)
    SenderNumberFactory(account=template.account)
    contact = consented_contacts(1, ConsentScope.UTILITY)[0]

    response = admin_api.post(
        "/api/v1/messages/",
        {
            "contact_id": contact.pk,
            "template": template.pk,
            "parameters": {
                "header.first_name": "Ana",
                "body.first_name": "Ana",
                "body.points": "10",
            },
        },
        format="json",
    )

    assert response.status_code == 400
    assert error_attrs(response) == {"contact": ["No marketing consent."]}
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    ("change", "attr"),
    [
        ({"phone": "not a phone"}, "phone"),
        ({"parameters": {"body.1": "Ana"}}, "parameters"),
        ({"contact_id": 1}, "contact_id"),
        ({"phone": "+447911999999"}, "phone"),
    ],
)
def test_bad_transactional_requests_are_400s(admin_api, order_update, change, attr):
    contact = consented_contacts(1)[0]

    response = admin_api.post(
        "/api/v1/messages/", message_body(contact, order_update) | change, format="json"
    )

    assert response.status_code == 400
    assert attr in error_attrs(response)
    assert not Message.objects.exists()


def test_the_message_ledger_is_listed_and_filtered(admin_api, meta, running_campaign):
    campaign = running_campaign(2)

    response = admin_api.get("/api/v1/messages/", {"campaign": campaign.pk, "status": "queued"})

    assert response.status_code == 200
    assert response.json()["count"] == 2


def test_anonymous_calls_are_refused(client):
    assert APIClient().get("/api/v1/campaigns/").status_code == 401
    assert APIClient().post("/api/v1/messages/", {}).status_code == 401


# --- Deleting, consent scope, dry-run send times ----------------------------------------------


def test_a_draft_is_deleted():
    campaign = CampaignFactory()
    author = client_for(user_with("view_campaign", "delete_campaign"))

    response = author.delete(f"/api/v1/campaigns/{campaign.pk}/")

    assert response.status_code == 204
    assert not Campaign.objects.exists()


@pytest.mark.parametrize("status", [CampaignStatus.SCHEDULED, CampaignStatus.RUNNING])
def test_deleting_anything_but_a_draft_is_a_400_and_keeps_it(admin_api, status):
    campaign = CampaignFactory(status=status)

    response = admin_api.delete(f"/api/v1/campaigns/{campaign.pk}/")

    assert response.status_code == 400
    assert response.json()["errors"][0]["detail"] == (
        f"Only drafts can be deleted; cancel a {status} campaign instead."
    )
    assert Campaign.objects.filter(pk=campaign.pk).exists()


def test_a_draft_with_test_sends_is_kept_for_the_audit(admin_api, meta):
    from campaigns.services import campaign_test_send

    campaign = CampaignFactory()
    contact = consented_contacts(1)[0]
    campaign_test_send(campaign_id=campaign.pk, contact=contact)

    response = admin_api.delete(f"/api/v1/campaigns/{campaign.pk}/")

    assert response.status_code == 400
    assert "test sends" in response.json()["errors"][0]["detail"]
    assert Campaign.objects.filter(pk=campaign.pk).exists()


def test_deleting_needs_the_delete_permission():
    campaign = CampaignFactory()
    author = client_for(user_with("view_campaign", "change_campaign"))

    assert author.delete(f"/api/v1/campaigns/{campaign.pk}/").status_code == 403
    assert Campaign.objects.filter(pk=campaign.pk).exists()


def test_a_campaign_shows_the_consent_its_recipients_need(admin_api):
    utility = CampaignFactory()
    marketing = CampaignFactory(template=MessageTemplateFactory(named=True))

    scopes = {
        campaign.pk: admin_api.get(f"/api/v1/campaigns/{campaign.pk}/").json()[
            "required_consent_scope"
        ]
        for campaign in (utility, marketing)
    }

    assert scopes == {utility.pk: "utility", marketing.pk: "marketing"}


def test_required_consent_scope_is_read_only(admin_api):
    campaign = CampaignFactory()

    response = admin_api.patch(
        f"/api/v1/campaigns/{campaign.pk}/", {"required_consent_scope": "marketing"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["required_consent_scope"] == "utility"


def test_dry_run_samples_carry_their_planned_send_time(admin_api):
    import datetime as dt

    campaign = CampaignFactory(
        schedule_type="at", scheduled_at=dt.datetime(2030, 6, 10, 9, tzinfo=dt.UTC)
    )
    consented_contacts(1)

    response = admin_api.post(f"/api/v1/campaigns/{campaign.pk}/dry-run/", {})

    assert response.json()["samples"][0]["not_before"] == "2030-06-10T09:00:00Z"


def test_a_segment_a_campaign_targets_is_not_deleted_and_the_refusal_is_a_400(admin_api):
    campaign = CampaignFactory()

    response = admin_api.delete(f"/api/v1/segments/{campaign.segment_id}/")

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "code": "in_use",
            "detail": "This segment is the audience of a campaign, so it cannot be deleted.",
            "attr": None,
        }
    ]
    assert Campaign.objects.get(pk=campaign.pk).segment_id == campaign.segment_id
