"""The templates admin: status at a glance, preview with examples, read-only history, drafts
checked before saving, and sync / submit with their results reported."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse

from templates_app.models import MessageTemplate, TemplateStatus, TemplateStatusChange
from tests.templates_app.factories import (
    MessageTemplateFactory,
    UserFactory,
    WhatsAppAccountFactory,
    order_update_components,
)

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:templates_app_messagetemplate_changelist")
SYNC = reverse("admin:templates_app_messagetemplate_sync")


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def compliance_client(client):
    user = UserFactory(is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="templates_app", codename__startswith="view_"
        )
    )
    client.force_login(user)
    return client


def test_the_list_shows_status_rejection_reason_and_filters(admin_client):
    MessageTemplateFactory(status=TemplateStatus.REJECTED, rejection_reason="INCORRECT_CATEGORY")
    MessageTemplateFactory(language="pt_BR")  # a second account and language: their filters show

    response = admin_client.get(CHANGELIST, {"status__exact": "REJECTED"})

    assert response.status_code == 200
    page = response.content.decode()
    assert ">Rejected</strong>" in page
    assert "INCORRECT_CATEGORY" in page
    assert "Sync from Meta" in page
    filters = [spec.title for spec in response.context["cl"].filter_specs]
    assert filters == ["status", "category", "language", "account", "quality score"]


def test_the_change_page_shows_a_preview_with_examples_and_the_history(admin_client):
    template = MessageTemplateFactory()
    TemplateStatusChange.objects.create(
        template=template, from_status="PENDING", to_status="APPROVED", source="webhook"
    )

    response = admin_client.get(
        reverse("admin:templates_app_messagetemplate_change", args=[template.pk])
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert "Hi Maria, your order A-1042 is on its way and arrives on Friday." in page
    assert "https://shop.example.com/track/A-1042" in page
    assert "header.1, body.1, body.2, body.3, button.0" in page
    inline = response.context["inline_admin_formsets"][0]
    assert inline.formset.model is TemplateStatusChange
    assert inline.has_add_permission is False
    assert inline.has_change_permission is False
    assert inline.has_delete_permission is False


def test_a_draft_is_added_through_the_rules(admin_client):
    account = WhatsAppAccountFactory()

    response = admin_client.post(
        reverse("admin:templates_app_messagetemplate_add"),
        {
            "account": account.pk,
            "name": "order_update",
            "language": "en-US",
            "category": "UTILITY",
            "parameter_format": "POSITIONAL",
            "components": json.dumps(order_update_components()),
            "status_changes-TOTAL_FORMS": "0",
            "status_changes-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302
    template = MessageTemplate.objects.get()
    assert (template.language, template.status) == ("en_US", TemplateStatus.DRAFT)
    assert template.status_changes.get().changed_by.is_superuser


SHORT_BODY_WARNING = (
    "body: 1 variable in 2 words of text: Meta may refuse the template on submission for having "
    "too many variables for its length (error 2388293). If it does, add text or remove a "
    "variable."
)


def test_a_short_draft_is_saved_with_its_warning_shown(admin_client):
    account = WhatsAppAccountFactory()

    response = admin_client.post(
        reverse("admin:templates_app_messagetemplate_add"),
        {
            "account": account.pk,
            "name": "welcome",
            "language": "en_US",
            "category": "MARKETING",
            "parameter_format": "POSITIONAL",
            "components": json.dumps([{"type": "BODY", "text": "Hi {{1}}, welcome!"}]),
            "status_changes-TOTAL_FORMS": "0",
            "status_changes-INITIAL_FORMS": "0",
        },
        follow=True,
    )

    template = MessageTemplate.objects.get()
    assert template.status == TemplateStatus.DRAFT
    assert f"Warning: {SHORT_BODY_WARNING}" in messages_of(response)
    change_page = admin_client.get(
        reverse("admin:templates_app_messagetemplate_change", args=[template.pk])
    ).content.decode()
    assert "Warnings (these do not stop a submission):" in change_page
    assert "1 variable in 2 words of text" in change_page


def test_an_invalid_draft_is_shown_with_its_problems_and_not_saved(admin_client):
    account = WhatsAppAccountFactory()

    response = admin_client.post(
        reverse("admin:templates_app_messagetemplate_add"),
        {
            "account": account.pk,
            "name": "order_update",
            "language": "en_US",
            "category": "UTILITY",
            "parameter_format": "POSITIONAL",
            "components": json.dumps([{"type": "BODY", "text": "{{1}} is ready for you now."}]),
            "status_changes-TOTAL_FORMS": "0",
            "status_changes-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "components": ["body: The body cannot start with a variable; add text before it."]
    }
    assert not MessageTemplate.objects.exists()


def test_submit_action_reports_successes_and_metas_errors(admin_client, cloud_settings):
    good = MessageTemplateFactory(draft=True)
    duplicate = MessageTemplateFactory(draft=True, name="welcome")
    cloud_settings.add_template("welcome", "en_US")

    response = admin_client.post(
        CHANGELIST,
        {"action": "submit_to_meta", "_selected_action": [good.pk, duplicate.pk]},
        follow=True,
    )

    assert messages_of(response) == [
        "welcome (en_US): Meta refused the template: Content in This Language Already "
        "Exists: There is already en_US content for this template. You can create a new "
        "template and try again.",
        "1 template(s) submitted to Meta for review.",
    ]
    good.refresh_from_db()
    duplicate.refresh_from_db()
    assert (good.status, duplicate.status) == (TemplateStatus.PENDING, TemplateStatus.DRAFT)


def test_the_sync_button_reports_each_account(admin_client, cloud_settings):
    WhatsAppAccountFactory(name="Acme")
    cloud_settings.add_template("welcome", "en_US", body_text="Welcome aboard, {{1}}, see you.")

    response = admin_client.post(SYNC, follow=True)

    assert messages_of(response) == ["Acme: 1 new, 0 updated, 0 deleted on Meta, 0 unchanged"]
    assert MessageTemplate.objects.get().name == "welcome"


def test_the_account_action_syncs_the_selected_accounts(admin_client, cloud_settings):
    account = WhatsAppAccountFactory(name="Acme")
    cloud_settings.fail_next(80007, message="(#80007) Rate limit issues")

    response = admin_client.post(
        reverse("admin:templates_app_whatsappaccount_changelist"),
        {"action": "sync_templates", "_selected_action": [account.pk]},
        follow=True,
    )

    [message] = messages_of(response)
    assert message.startswith("Acme: sync failed: ")
    assert not MessageTemplate.objects.exists()


def test_read_only_users_see_templates_but_cannot_sync_or_edit(compliance_client, cloud_settings):
    template = MessageTemplateFactory(draft=True)

    listing = compliance_client.get(CHANGELIST)
    change = compliance_client.get(
        reverse("admin:templates_app_messagetemplate_change", args=[template.pk])
    )
    sync = compliance_client.post(SYNC)

    assert listing.status_code == 200
    assert "Sync from Meta" not in listing.content.decode()
    assert change.status_code == 200
    assert change.context["has_change_permission"] is False
    assert sync.status_code == 403
    assert cloud_settings.requests == []


def test_submitted_templates_cannot_be_deleted_here(admin_client):
    template = MessageTemplateFactory()

    response = admin_client.post(
        reverse("admin:templates_app_messagetemplate_delete", args=[template.pk]), {"post": "yes"}
    )

    assert response.status_code == 403
    assert MessageTemplate.objects.filter(pk=template.pk).exists()


def test_the_change_page_links_the_other_languages_and_shows_the_example_values(admin_client):
    english = MessageTemplateFactory()
    portuguese = MessageTemplateFactory(account=english.account, language="pt_BR")
    MessageTemplateFactory(language="es_ES")  # same name in another account: not a variant

    page = admin_client.get(
        reverse("admin:templates_app_messagetemplate_change", args=[english.pk])
    ).content.decode()

    variant = reverse("admin:templates_app_messagetemplate_change", args=[portuguese.pk])
    assert f'<a href="{variant}">pt_BR</a> (Approved)' in page
    assert "es_ES" not in page
    assert "Example values: body.1 = Maria; body.2 = A-1042; body.3 = Friday;" in page


def test_a_draft_submitted_meanwhile_is_a_message_not_a_server_error(admin_client, monkeypatch):
    from templates_app import services

    template = MessageTemplateFactory(draft=True)

    def submitted_meanwhile(**values):
        raise services.TemplateError(
            f"Only drafts can be edited; {template} has been submitted to Meta."
        )

    monkeypatch.setattr(services, "template_update_draft", submitted_meanwhile)
    change = reverse("admin:templates_app_messagetemplate_change", args=[template.pk])

    response = admin_client.post(
        change,
        {
            "category": "UTILITY",
            "parameter_format": "POSITIONAL",
            "components": json.dumps(
                [
                    {
                        "type": "BODY",
                        "text": "Hello {{1}}, your parcel is ready for collection today.",
                        "example": {"body_text": [["Maria"]]},
                    }
                ]
            ),
            "status_changes-TOTAL_FORMS": "0",
            "status_changes-INITIAL_FORMS": "0",
        },
        follow=True,
    )

    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == change
    assert messages_of(response) == [
        f"Only drafts can be edited; {template} has been submitted to Meta."
    ]
    template.refresh_from_db()
    assert template.components == order_update_components()
