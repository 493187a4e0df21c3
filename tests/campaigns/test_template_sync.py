"""A templates sync that finds a template paused, disabled or deleted on Meta stops the campaigns
using it, whichever entry point ran the sync, as Meta's status webhooks do."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from campaigns import services
from campaigns.errors import CampaignError
from campaigns.models import Campaign, CampaignStatus
from templates_app.models import TemplateStatus
from templates_app.tasks import sync_account_templates, sync_templates
from tests.campaigns.factories import CampaignFactory, MessageTemplateFactory

pytestmark = pytest.mark.django_db

PAUSED_REASON = (
    "Template order_update (en_US) was paused by Meta; resume the campaign once Meta approves "
    "the template again."
)


@pytest.fixture
def template():
    return MessageTemplateFactory()


def list_on_meta(meta, template, status: str) -> None:
    meta.add_template(
        template.name,
        template.language,
        components=template.components,
        status=status,
        template_id=template.meta_template_id,
    )


def campaign(template, status: str, **fields) -> Campaign:
    return CampaignFactory(template=template, status=status, **fields)


def state(campaign: Campaign) -> tuple[str, str]:
    campaign.refresh_from_db()
    return campaign.status, campaign.status_reason


def run_task(client, account) -> None:
    sync_templates.delay()


def run_account_task(client, account) -> None:
    sync_account_templates.delay(account.pk)


def run_command(client, account) -> None:
    call_command("sync_templates", stdout=io.StringIO())


def run_api(client, account) -> None:
    assert client.post("/api/v1/templates/sync/").status_code == 200


def run_admin_button(client, account) -> None:
    assert client.post(reverse("admin:templates_app_messagetemplate_sync")).status_code == 302


def run_admin_account_action(client, account) -> None:
    response = client.post(
        reverse("admin:templates_app_whatsappaccount_changelist"),
        {"action": "sync_templates", "_selected_action": [account.pk]},
    )
    assert response.status_code == 302


@pytest.mark.parametrize(
    "run_sync",
    [
        run_task,
        run_account_task,
        run_command,
        run_api,
        run_admin_button,
        run_admin_account_action,
    ],
    ids=["beat-task", "account-task", "command", "api", "admin-button", "admin-account-action"],
)
def test_every_sync_entry_point_stops_a_running_campaign_whose_template_meta_paused(
    run_sync, admin_client, meta, template
):
    running = campaign(template, CampaignStatus.RUNNING)
    list_on_meta(meta, template, "PAUSED")

    run_sync(admin_client, template.account)

    template.refresh_from_db()
    assert template.status == TemplateStatus.PAUSED
    assert state(running) == (CampaignStatus.STOPPED, PAUSED_REASON)


def test_the_sync_stops_running_scheduled_and_paused_campaigns_of_the_family_only(meta, template):
    running = campaign(template, CampaignStatus.RUNNING)
    scheduled = campaign(template, CampaignStatus.SCHEDULED)
    paused = campaign(template, CampaignStatus.PAUSED, status_reason="Paused by Maria")
    other_language = MessageTemplateFactory(account=template.account, language="pt_BR")
    of_the_pt_variant = campaign(other_language, CampaignStatus.RUNNING, default_language="pt_BR")
    draft = campaign(template, CampaignStatus.DRAFT)
    unrelated = campaign(
        MessageTemplateFactory(account=template.account, name="welcome"), CampaignStatus.RUNNING
    )
    list_on_meta(meta, template, "PAUSED")
    list_on_meta(meta, other_language, "APPROVED")
    list_on_meta(meta, unrelated.template, "APPROVED")

    [result] = services.campaigns_sync_templates()

    stopped = sorted([running.pk, scheduled.pk, paused.pk, of_the_pt_variant.pk])
    assert result.notes == [
        f"order_update (en_US) is PAUSED: stopped campaign(s) {', '.join(map(str, stopped))}"
    ]
    assert result.summary().endswith(result.notes[0])
    for stopped_campaign in (running, scheduled, paused, of_the_pt_variant):
        assert state(stopped_campaign) == (CampaignStatus.STOPPED, PAUSED_REASON)
    assert state(draft) == (CampaignStatus.DRAFT, "")
    assert state(unrelated) == (CampaignStatus.RUNNING, "")


@pytest.mark.parametrize(
    ("meta_status", "wording"),
    [("DISABLED", "disabled by Meta"), ("PENDING_DELETION", "being deleted on Meta")],
)
def test_a_template_disabled_or_being_deleted_stops_its_campaigns(
    meta, template, meta_status, wording
):
    running = campaign(template, CampaignStatus.RUNNING)
    list_on_meta(meta, template, meta_status)

    services.campaigns_sync_templates()

    assert state(running) == (
        CampaignStatus.STOPPED,
        f"Template order_update (en_US) was {wording}; resume the campaign once Meta approves "
        "the template again.",
    )


def test_a_template_meta_no_longer_lists_is_deleted_and_stops_its_campaigns(meta, template):
    running = campaign(template, CampaignStatus.RUNNING)
    meta.add_template("welcome", "en_US")  # Meta lists something, but not this template

    services.campaigns_sync_templates()

    assert state(running) == (
        CampaignStatus.STOPPED,
        "Template order_update (en_US) was deleted on Meta; resume the campaign once Meta "
        "approves the template again.",
    )


def test_a_sync_that_changes_nothing_stops_nothing(meta, template):
    running = campaign(template, CampaignStatus.RUNNING)
    list_on_meta(meta, template, "APPROVED")

    [result] = services.campaigns_sync_templates()

    assert (result.unchanged, result.notes) == (1, [])
    assert state(running) == (CampaignStatus.RUNNING, "")


def test_a_new_variant_listed_paused_does_not_stop_the_familys_campaigns(meta, template):
    running = campaign(template, CampaignStatus.RUNNING)
    list_on_meta(meta, template, "APPROVED")
    meta.add_template(template.name, "de", components=template.components, status="PAUSED")

    [result] = services.campaigns_sync_templates()

    assert (result.created, result.notes) == (1, [])
    assert state(running) == (CampaignStatus.RUNNING, "")


def test_a_campaign_stopped_for_its_template_cannot_resume_until_meta_approves_it(meta, template):
    paused = campaign(template, CampaignStatus.PAUSED, status_reason="Paused by Maria")
    list_on_meta(meta, template, "PAUSED")
    services.campaigns_sync_templates()

    with pytest.raises(CampaignError) as refused:
        services.campaign_resume(campaign_id=paused.pk)

    assert refused.value.field_errors == {
        "default_language": ["Template 'order_update' has no approved variant in en_US."]
    }
    assert state(paused) == (CampaignStatus.STOPPED, PAUSED_REASON)


def test_a_given_reason_is_recorded_as_given(template):
    running = campaign(template, CampaignStatus.RUNNING)

    stopped = services.campaigns_stop_using_template(
        template=template, reason="Meta reported template order_update (en_US) PAUSED"
    )

    assert stopped == [running.pk]
    assert state(running) == (
        CampaignStatus.STOPPED,
        "Meta reported template order_update (en_US) PAUSED",
    )
