"""Status changes Meta reports (webhooks call this service): recorded once, matched whatever the
language code's form, and described well enough for campaigns to pause what uses the template."""

from __future__ import annotations

import pytest

from templates_app.models import TemplateQualityScore, TemplateStatus, TemplateStatusChange
from templates_app.services import (
    template_record_quality_update,
    template_record_status_change,
)
from tests.templates_app.factories import MessageTemplateFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def template():
    return MessageTemplateFactory(language="en_US", meta_template_id="5550001")


def report(template, new_status, **extra):
    arguments = {
        "waba_id": template.account.waba_id,
        "name": template.name,
        "language": "en-US",
        "new_status": new_status,
    }
    return template_record_status_change(**{**arguments, **extra})


@pytest.mark.parametrize("language", ["en-US", "en_US"])
def test_a_pause_is_recorded_whatever_the_language_codes_form(template, language):
    update = report(template, "PAUSED", language=language, reason="FIRST_PAUSE")

    assert update.template == template
    assert (update.old_status, update.new_status, update.changed) == ("APPROVED", "PAUSED", True)
    assert update.became_unsendable is True
    assert update.pauses_campaigns is True
    template.refresh_from_db()
    assert template.status == TemplateStatus.PAUSED
    change = template.status_changes.get()
    assert (change.from_status, change.to_status, change.source, change.reason) == (
        "APPROVED",
        "PAUSED",
        TemplateStatusChange.Source.WEBHOOK,
        "FIRST_PAUSE",
    )


def test_a_duplicate_report_changes_nothing_but_still_says_campaigns_must_pause(template):
    report(template, "DISABLED")

    again = report(template, "DISABLED")

    assert (again.old_status, again.new_status, again.changed) == ("DISABLED", "DISABLED", False)
    assert again.became_unsendable is False
    assert again.pauses_campaigns is True
    assert template.status_changes.count() == 1


def test_re_approval_makes_the_template_sendable_again(template):
    report(template, "PAUSED")

    update = report(template, "APPROVED", reason="NONE")

    assert update.became_sendable is True
    assert update.pauses_campaigns is False
    assert template.status_changes.latest().reason == ""


def test_meta_template_id_wins_over_name_and_language(template):
    update = report(template, "PAUSED", name="renamed", language="xx", meta_template_id=5550001)

    assert update.template == template


def test_a_rejection_keeps_metas_reason_and_a_later_approval_clears_it(template):
    report(template, "REJECTED", reason="INCORRECT_CATEGORY")
    template.refresh_from_db()
    assert template.rejection_reason == "INCORRECT_CATEGORY"

    report(template, "APPROVED")

    template.refresh_from_db()
    assert template.rejection_reason == ""


def test_a_quality_score_given_with_the_status_is_stored(template):
    report(template, "PAUSED", quality_score="RED")

    template.refresh_from_db()
    assert template.quality_score == TemplateQualityScore.RED


def test_an_unknown_event_is_stored_as_unknown_with_metas_word_in_the_history(template):
    update = report(template, "SHINY_NEW_STATE", reason="NONE")

    assert update.new_status == TemplateStatus.UNKNOWN
    assert template.status_changes.get().reason == "Meta status 'SHINY_NEW_STATE'"


def test_a_template_not_known_here_is_reported_as_none_and_nothing_is_stored(template):
    other_account = MessageTemplateFactory(language="en_US")

    unknown_name = report(template, "PAUSED", name="not_synced_yet")
    wrong_account = template_record_status_change(
        waba_id="000", name=template.name, language="en_US", new_status="PAUSED"
    )

    assert unknown_name is None
    assert wrong_account is None
    assert not TemplateStatusChange.objects.exists()
    other_account.refresh_from_db()
    assert other_account.status == TemplateStatus.APPROVED


def test_quality_updates_are_stored(template):
    updated = template_record_quality_update(
        waba_id=template.account.waba_id,
        name=template.name,
        language="en-US",
        quality_score="YELLOW",
    )

    assert updated == template
    template.refresh_from_db()
    assert template.quality_score == TemplateQualityScore.YELLOW
    assert template.status_changes.count() == 0


def test_a_report_for_a_local_draft_links_it_when_metas_id_is_given():
    draft = MessageTemplateFactory(draft=True)

    without_id = report(draft, "APPROVED")
    draft.refresh_from_db()
    assert without_id is None
    assert (draft.status, draft.meta_template_id) == (TemplateStatus.DRAFT, "")

    with_id = report(draft, "APPROVED", meta_template_id=9990001)

    draft.refresh_from_db()
    assert with_id.changed is True
    assert (draft.status, draft.meta_template_id) == (TemplateStatus.APPROVED, "9990001")
