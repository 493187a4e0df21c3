"""Drafts are checked against Meta's rules; submitting one creates it on Meta and stores Meta's id
and status; Meta's refusals come back as readable messages with nothing stored."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from templates_app.models import MessageTemplate, TemplateStatus, TemplateStatusChange
from templates_app.placeholders import Problem
from templates_app.services import TemplateError, template_create_draft, template_submit
from tests.templates_app.factories import (
    MessageTemplateFactory,
    UserFactory,
    WhatsAppAccountFactory,
    order_update_components,
)

pytestmark = pytest.mark.django_db


def create_draft(account, **overrides):
    arguments = {
        "account": account,
        "name": "order_update",
        "language": "en-US",
        "category": "utility",
        "parameter_format": "positional",
        "components": order_update_components(),
    }
    return template_create_draft(**{**arguments, **overrides})


# --- Drafts -----------------------------------------------------------------------------------


def test_a_valid_draft_is_stored_in_metas_shape_with_its_creation_in_the_history():
    account = WhatsAppAccountFactory()
    marketer = UserFactory()
    components = order_update_components()
    components[1]["type"] = "body"

    draft = create_draft(account, components=components, created_by=marketer)

    assert draft.status == TemplateStatus.DRAFT
    assert (draft.language, draft.category, draft.parameter_format) == (
        "en_US",
        "UTILITY",
        "POSITIONAL",
    )
    assert draft.components == order_update_components()
    assert draft.meta_template_id == ""
    [change] = draft.status_changes.all()
    assert (change.from_status, change.to_status, change.source, change.changed_by) == (
        "",
        TemplateStatus.DRAFT,
        TemplateStatusChange.Source.DRAFT,
        marketer,
    )


def test_an_invalid_draft_lists_every_problem_and_stores_nothing():
    account = WhatsAppAccountFactory()

    with pytest.raises(TemplateError) as raised:
        create_draft(
            account,
            name="Order Update",
            language="english",
            category="PROMOTION",
            components=[{"type": "BODY", "text": "{{1}}, your order is ready for pick-up today."}],
        )

    assert raised.value.problems == [
        Problem(
            "name", "Use 1 to 512 lowercase letters, digits and underscores, like order_update."
        ),
        Problem("language", "Use one of Meta's language codes, like en_US, pt_BR or es."),
        Problem("category", "Choose MARKETING, UTILITY or AUTHENTICATION."),
        Problem("body", "The body cannot start with a variable; add text before it."),
    ]
    assert not MessageTemplate.objects.exists()
    assert not TemplateStatusChange.objects.exists()


def test_a_second_draft_with_the_same_name_and_language_is_refused():
    account = WhatsAppAccountFactory(name="Acme")
    create_draft(account)

    with pytest.raises(TemplateError) as raised:
        create_draft(account, language="en_US")

    assert raised.value.problems == [
        Problem("name", "Acme already has a template order_update in en_US.")
    ]
    assert MessageTemplate.objects.count() == 1


@pytest.mark.parametrize(
    ("typed", "stored"), [("EN-us", "en_US"), ("pt_br", "pt_BR"), ("ES", "es")]
)
def test_language_codes_are_stored_in_metas_form(typed, stored):
    draft = create_draft(WhatsAppAccountFactory(), language=typed)

    assert draft.language == stored


def test_the_same_name_in_another_language_is_another_variant():
    account = WhatsAppAccountFactory()
    create_draft(account)

    create_draft(account, language="pt_BR")

    assert sorted(MessageTemplate.objects.values_list("language", flat=True)) == ["en_US", "pt_BR"]


# --- Submit -----------------------------------------------------------------------------------


def test_submitting_a_draft_creates_it_on_meta_and_stores_its_id_and_status(
    meta_api, paged_provider
):
    draft = MessageTemplateFactory(draft=True)
    marketer = UserFactory()

    submitted = template_submit(template=draft, submitted_by=marketer, provider=paged_provider)

    [created] = meta_api.templates
    assert (created["name"], created["language"], created["status"]) == (
        "order_update",
        "en_US",
        "PENDING",
    )
    submitted.refresh_from_db()
    assert submitted.status == TemplateStatus.PENDING
    assert submitted.meta_template_id == created["id"]
    [request] = [r for r in meta_api.requests if r.method == "POST"]
    assert request.body == {
        "name": "order_update",
        "language": "en_US",
        "category": "UTILITY",
        "components": order_update_components(),
        "parameter_format": "POSITIONAL",
    }
    latest = submitted.status_changes.latest()
    assert (latest.from_status, latest.to_status, latest.source, latest.changed_by) == (
        TemplateStatus.DRAFT,
        TemplateStatus.PENDING,
        TemplateStatusChange.Source.SUBMIT,
        marketer,
    )


def test_metas_refusal_comes_back_readable_and_nothing_changes(meta_api, paged_provider):
    draft = MessageTemplateFactory(draft=True)
    meta_api.add_template("order_update", "en_US")  # already exists on Meta

    with pytest.raises(TemplateError) as raised:
        template_submit(template=draft, provider=paged_provider)

    assert str(raised.value) == (
        "Meta refused the template: Content in This Language Already Exists: There is already "
        "en_US content for this template. You can create a new template and try again."
    )
    assert raised.value.provider_error.subcode == 2388024
    draft.refresh_from_db()
    assert (draft.status, draft.meta_template_id) == (TemplateStatus.DRAFT, "")
    assert draft.status_changes.count() == 0


def test_a_scripted_meta_error_is_shown_with_metas_user_message(meta_api, paged_provider):
    draft = MessageTemplateFactory(draft=True)
    meta_api.fail_next(
        100,
        subcode=2388299,
        user_title="Variables can't be at the start or end of the template",
        user_message="Add text before the first variable and after the last one.",
        endpoint="message_templates",
    )

    with pytest.raises(TemplateError) as raised:
        template_submit(template=draft, provider=paged_provider)

    assert raised.value.message == (
        "Meta refused the template: Variables can't be at the start or end of the template: "
        "Add text before the first variable and after the last one."
    )
    assert meta_api.templates == []


def test_a_draft_without_examples_is_not_sent_to_meta(meta_api, paged_provider):
    components = order_update_components()
    del components[1]["example"]
    draft = MessageTemplateFactory(draft=True, components=components)

    with pytest.raises(TemplateError) as raised:
        template_submit(template=draft, provider=paged_provider)

    assert raised.value.problems == [
        Problem(
            "body",
            "Every variable needs an example value: 3 expected in example.body_text, 0 given.",
        )
    ]
    assert meta_api.requests == []


def test_only_drafts_can_be_submitted(meta_api, paged_provider):
    template = MessageTemplateFactory(status=TemplateStatus.PENDING)

    with pytest.raises(TemplateError) as raised:
        template_submit(template=template, provider=paged_provider)

    assert raised.value.message == (
        "Only drafts can be submitted; order_update (en_US) is Pending review."
    )
    assert meta_api.requests == []


@pytest.mark.django_db(transaction=True)
def test_two_people_submitting_one_draft_at_once_create_it_on_meta_once(meta_api, paged_provider):
    draft = MessageTemplateFactory(draft=True)
    # Meta answers the first creation slowly, so the second submission arrives meanwhile.
    meta_api.delay_next(0.5, endpoint="message_templates")

    def submit() -> str:
        try:
            template_submit(template=draft, provider=paged_provider)
        except TemplateError as error:
            return error.message
        finally:
            connection.close()
        return "submitted"

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = sorted(pool.map(lambda _: submit(), range(2)))

    assert outcomes == [
        "Only drafts can be submitted; order_update (en_US) is Pending review.",
        "submitted",
    ]
    assert len([r for r in meta_api.requests if r.method == "POST"]) == 1
    assert TemplateStatusChange.objects.filter(source="submit").count() == 1


def test_a_template_meta_rejects_on_creation_gets_metas_reason_from_a_sync_right_after(
    cloud_settings, django_capture_on_commit_callbacks
):
    draft = MessageTemplateFactory(draft=True)
    # Meta's create answer has no reason; its template listing has one.
    cloud_settings.respond_next(
        200,
        {"id": "5150", "status": "REJECTED", "category": "UTILITY"},
        endpoint="message_templates",
    )
    cloud_settings.respond_next(
        200,
        {
            "data": [
                {
                    "id": "5150",
                    "name": "order_update",
                    "language": "en_US",
                    "status": "REJECTED",
                    "category": "UTILITY",
                    "components": order_update_components(),
                    "rejected_reason": "INCORRECT_CATEGORY",
                }
            ]
        },
        endpoint="message_templates",
    )

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        template_submit(template=draft)

    assert len(callbacks) == 1
    assert [request.method for request in cloud_settings.requests] == ["POST", "GET"]
    draft.refresh_from_db()
    assert (draft.status, draft.meta_template_id, draft.rejection_reason) == (
        TemplateStatus.REJECTED,
        "5150",
        "INCORRECT_CATEGORY",
    )
    [change] = draft.status_changes.filter(source=TemplateStatusChange.Source.SUBMIT)
    assert (change.to_status, change.reason) == (
        TemplateStatus.REJECTED,
        "Rejected by Meta on submission; Meta's reason follows with the next sync.",
    )


def test_a_template_pending_review_enqueues_no_sync(
    cloud_settings, django_capture_on_commit_callbacks
):
    draft = MessageTemplateFactory(draft=True)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        template_submit(template=draft)

    assert callbacks == []
    assert [request.method for request in cloud_settings.requests] == ["POST"]
    draft.refresh_from_db()
    assert draft.status == TemplateStatus.PENDING
