"""The templates API: list, retrieve, create draft, submit, sync and preview; errors in the one
standard format, and roles enforced by model permissions."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from templates_app.models import MessageTemplate, TemplateStatus
from tests.templates_app.factories import (
    MessageTemplateFactory,
    UserFactory,
    WhatsAppAccountFactory,
    order_update_components,
)

pytestmark = pytest.mark.django_db

URL = "/api/v1/templates/"


def client_with(*codenames: str) -> APIClient:
    user = UserFactory()
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="templates_app", codename__in=codenames)
    )
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def marketing() -> APIClient:
    return client_with("view_messagetemplate", "add_messagetemplate", "change_messagetemplate")


@pytest.fixture
def compliance() -> APIClient:
    return client_with("view_messagetemplate")


def draft_payload(account, **overrides) -> dict:
    return {
        "account": account.pk,
        "name": "order_update",
        "language": "en_US",
        "category": "UTILITY",
        "components": order_update_components(),
        **overrides,
    }


# --- Reading ----------------------------------------------------------------------------------


def test_list_filters_by_status_category_language_and_name(compliance):
    approved = MessageTemplateFactory(language="pt_BR")
    MessageTemplateFactory(language="en_US", status=TemplateStatus.PAUSED)
    marketing_template = MessageTemplateFactory(named=True)

    def names(**query):
        response = compliance.get(URL, query)
        assert response.status_code == 200
        return [(item["name"], item["language"]) for item in response.json()["results"]]

    assert names(status="APPROVED", category="UTILITY") == [("order_update", "pt_BR")]
    assert names(language="pt-BR") == [(approved.name, "pt_BR")]
    assert names(name="loyalty_offer") == [(marketing_template.name, "en_US")]
    assert names(category="MARKETING", status="PAUSED") == []


def test_name_icontains_finds_templates_by_part_of_the_name_ignoring_case(compliance):
    MessageTemplateFactory(name="order_update")
    MessageTemplateFactory(name="reorder_reminder")
    MessageTemplateFactory(name="welcome")

    response = compliance.get(URL, {"name__icontains": "ORDER"})

    assert response.status_code == 200
    assert [item["name"] for item in response.json()["results"]] == [
        "order_update",
        "reorder_reminder",
    ]
    # The exact filter stays exact.
    assert compliance.get(URL, {"name": "order"}).json()["results"] == []


def test_the_name_search_is_documented_in_the_openapi_schema(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    parameters = {
        parameter["name"]: parameter
        for parameter in response.json()["paths"]["/api/v1/templates/"]["get"]["parameters"]
    }
    assert parameters["name__icontains"]["in"] == "query"
    assert parameters["name__icontains"]["schema"] == {"type": "string"}
    assert parameters["name__icontains"]["description"].startswith(
        "Templates whose name contains this text, ignoring case"
    )


def test_retrieve_shows_status_and_the_variable_keys(compliance):
    template = MessageTemplateFactory(status=TemplateStatus.REJECTED, rejection_reason="SCAM")

    response = compliance.get(f"{URL}{template.pk}/")

    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["status_display"], body["rejection_reason"]) == (
        "REJECTED",
        "Rejected",
        "SCAM",
    )
    assert body["is_sendable"] is False
    assert [variable["key"] for variable in body["variables"]] == [
        "header.1",
        "body.1",
        "body.2",
        "body.3",
        "button.0",
    ]


def test_an_unknown_filter_value_is_a_field_error(compliance):
    response = compliance.get(URL, {"status": "SHOUTING"})

    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "validation_error"
    assert [error["attr"] for error in body["errors"]] == ["status"]


# --- Drafts -----------------------------------------------------------------------------------


def test_create_draft(marketing):
    account = WhatsAppAccountFactory()

    response = marketing.post(URL, draft_payload(account), format="json")

    assert response.status_code == 201
    assert response.json()["status"] == "DRAFT"
    template = MessageTemplate.objects.get()
    assert (template.name, template.status) == ("order_update", TemplateStatus.DRAFT)


def test_a_short_draft_is_created_with_a_warning_that_blocks_nothing(marketing):
    account = WhatsAppAccountFactory()
    components = [{"type": "BODY", "text": "Hi {{1}}, welcome!"}]

    response = marketing.post(URL, draft_payload(account, components=components), format="json")

    assert response.status_code == 201
    assert response.json()["warnings"] == [
        "body: 1 variable in 2 words of text: Meta may refuse the template on submission for "
        "having too many variables for its length (error 2388293). If it does, add text or "
        "remove a variable."
    ]
    assert MessageTemplate.objects.get().status == TemplateStatus.DRAFT


def test_an_invalid_draft_gets_per_component_errors_and_is_not_stored(marketing):
    account = WhatsAppAccountFactory()
    components = [
        {"type": "HEADER", "format": "TEXT", "text": "Hello {{1}} and {{2}}"},
        {"type": "BODY", "text": "Your order is ready, {{1}}"},
        {"type": "FOOTER", "text": "Reply {{1}}"},
    ]

    response = marketing.post(
        URL, draft_payload(account, name="Bad Name", components=components), format="json"
    )

    assert response.status_code == 400
    assert response.json() == {
        "type": "validation_error",
        "errors": [
            {
                "code": "invalid",
                "detail": "Use 1 to 512 lowercase letters, digits and underscores, like "
                "order_update.",
                "attr": "name",
            },
            {
                "code": "invalid",
                "detail": "A header can have at most 1 variable.",
                "attr": "components.header",
            },
            {
                "code": "invalid",
                "detail": "The body cannot end with a variable; add text after it.",
                "attr": "components.body",
            },
            {
                "code": "invalid",
                "detail": "A footer cannot contain variables.",
                "attr": "components.footer",
            },
        ],
    }
    assert not MessageTemplate.objects.exists()


def test_a_draft_without_required_fields_is_refused_by_field(marketing):
    response = marketing.post(URL, {"name": "x"}, format="json")

    assert response.status_code == 400
    attrs = sorted(error["attr"] for error in response.json()["errors"])
    assert attrs == ["account", "category", "components", "language"]
    assert not MessageTemplate.objects.exists()


def test_a_duplicate_draft_is_a_name_error(marketing):
    template = MessageTemplateFactory()

    response = marketing.post(URL, draft_payload(template.account), format="json")

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["attr"] == "name"
    assert (
        error["detail"] == f"{template.account.name} already has a template order_update in en_US."
    )


# --- Submit, sync, preview --------------------------------------------------------------------


def test_submit_a_draft(marketing, cloud_settings):
    draft = MessageTemplateFactory(draft=True)

    response = marketing.post(f"{URL}{draft.pk}/submit/")

    assert response.status_code == 200
    assert response.json()["status"] == "PENDING"
    assert response.json()["meta_template_id"] == cloud_settings.templates[0]["id"]


def test_metas_refusal_is_a_readable_400_and_nothing_changes(marketing, cloud_settings):
    draft = MessageTemplateFactory(draft=True)
    cloud_settings.fail_next(
        100,
        subcode=2388047,
        user_title="Invalid header format",
        user_message="The header format is not valid.",
    )

    response = marketing.post(f"{URL}{draft.pk}/submit/")

    assert response.status_code == 400
    assert response.json() == {
        "type": "validation_error",
        "errors": [
            {
                "code": "meta_rejected",
                "detail": "Meta refused the template: Invalid header format: The header format "
                "is not valid.",
                "attr": None,
            }
        ],
    }
    draft.refresh_from_db()
    assert draft.status == TemplateStatus.DRAFT


def test_submitting_a_template_that_is_not_a_draft_is_refused(marketing, cloud_settings):
    template = MessageTemplateFactory()

    response = marketing.post(f"{URL}{template.pk}/submit/")

    assert response.status_code == 400
    assert response.json()["errors"][0]["detail"] == (
        "Only drafts can be submitted; order_update (en_US) is Approved."
    )
    assert cloud_settings.requests == []


def test_sync_reports_counts_per_account(marketing, cloud_settings):
    account = WhatsAppAccountFactory()
    cloud_settings.add_template("welcome", "en_US", body_text="Welcome aboard, {{1}}, see you.")

    response = marketing.post(f"{URL}sync/")

    assert response.status_code == 200
    assert response.json() == {
        "accounts": [
            {
                "account": account.pk,
                "waba_id": account.waba_id,
                "created": 1,
                "updated": 0,
                "deleted": 0,
                "unchanged": 0,
                "error": None,
                "notes": [],
            }
        ]
    }


def test_preview_renders_with_values_and_examples_and_lists_problems(compliance):
    template = MessageTemplateFactory()

    response = compliance.post(
        f"{URL}{template.pk}/preview/",
        {"values": {"body.1": "Ana", "body.9": "x"}},
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert body["rendered"]["body"] == (
        "Hi Ana, your order A-1042 is on its way and arrives on Friday."
    )
    assert body["rendered"]["buttons"][0]["url"] == "https://shop.example.com/track/A-1042"
    assert body["errors"] == [
        "body.9: not a variable of this template (its variables: body.1, body.2, body.3, "
        "button.0, header.1)."
    ]
    assert body["is_sendable"] is True


def test_preview_lists_a_drafts_warnings_apart_from_its_errors(compliance):
    draft = MessageTemplateFactory(
        draft=True,
        components=[
            {
                "type": "BODY",
                "text": "Order {{1}} shipped to {{2}} today.",
                "example": {"body_text": [["A-1", "Leeds"]]},
            }
        ],
    )

    body = compliance.post(f"{URL}{draft.pk}/preview/", {}, format="json").json()

    assert body["rendered"]["body"] == "Order A-1 shipped to Leeds today."
    assert body["errors"] == []
    assert body["warnings"] == [
        "body: 2 variables in 4 words of text: Meta may refuse the template on submission for "
        "having too many variables for its length (error 2388293). If it does, add text or "
        "remove a variable."
    ]


def test_a_reviewed_template_has_no_warnings(compliance):
    approved = MessageTemplateFactory(
        components=[{"type": "BODY", "text": "Order {{1}} shipped to {{2}} today."}]
    )

    assert compliance.get(f"{URL}{approved.pk}/").json()["warnings"] == []
    preview = compliance.post(f"{URL}{approved.pk}/preview/", {}, format="json").json()
    assert preview["warnings"] == []


def test_preview_without_examples_shows_what_is_missing(compliance):
    template = MessageTemplateFactory()

    response = compliance.post(
        f"{URL}{template.pk}/preview/",
        {"values": {"body.1": "Ana"}, "use_examples": False},
        format="json",
    )

    body = response.json()
    assert (
        body["rendered"]["body"] == "Hi Ana, your order {{2}} is on its way and arrives on {{3}}."
    )
    assert len(body["errors"]) == 4


def test_history_lists_status_changes(compliance):
    template = MessageTemplateFactory()
    template.status_changes.create(from_status="PENDING", to_status="APPROVED", source="webhook")

    response = compliance.get(f"{URL}{template.pk}/history/")

    assert response.status_code == 200
    assert response.json()["count"] == 1
    [change] = response.json()["results"]
    assert (change["from_status"], change["to_status"], change["source"]) == (
        "PENDING",
        "APPROVED",
        "webhook",
    )


# --- Authentication and roles -----------------------------------------------------------------


def test_anonymous_requests_get_401_in_the_standard_format():
    template = MessageTemplateFactory()
    client = APIClient()

    for response in (
        client.get(URL),
        client.post(f"{URL}sync/"),
        client.post(f"{URL}{template.pk}/submit/"),
        client.post(f"{URL}{template.pk}/preview/", {}, format="json"),
    ):
        assert response.status_code == 401
        body = response.json()
        assert body["type"] == "client_error"
        assert body["errors"][0]["code"] == "not_authenticated"


def test_read_only_compliance_cannot_create_submit_or_sync(compliance, cloud_settings):
    draft = MessageTemplateFactory(draft=True)

    responses = [
        compliance.post(URL, draft_payload(draft.account, name="other"), format="json"),
        compliance.post(f"{URL}{draft.pk}/submit/"),
        compliance.post(f"{URL}sync/"),
    ]

    assert [response.status_code for response in responses] == [403, 403, 403]
    assert responses[0].json()["errors"][0]["code"] == "permission_denied"
    assert MessageTemplate.objects.count() == 1
    assert cloud_settings.requests == []


def test_a_user_without_template_permissions_cannot_read_or_preview():
    template = MessageTemplateFactory()
    client = client_with()

    assert client.get(URL).status_code == 403
    assert client.get(f"{URL}{template.pk}/").status_code == 403
    assert client.post(f"{URL}{template.pk}/preview/", {}, format="json").status_code == 403
