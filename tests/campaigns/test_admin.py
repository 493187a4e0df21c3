"""The campaigns admin, as marketing staff use it."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Permission

from campaigns.models import Campaign, CampaignStatus
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

CHANGELIST = "/admin/campaigns/campaign/"


@pytest.fixture
def staff(client):
    user = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


def staff_with(client, *codenames: str):
    user = UserFactory(is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    return client


def test_the_changelist_and_a_change_page_render(staff):
    campaign = CampaignFactory()

    assert staff.get(CHANGELIST).status_code == 200
    assert staff.get(f"{CHANGELIST}{campaign.pk}/change/").status_code == 200


def test_a_mapping_that_does_not_fit_is_shown_as_a_form_error_not_saved(staff):
    template = MessageTemplateFactory()
    mapping = dict(ORDER_UPDATE_MAPPING)
    del mapping["body.1"]

    response = staff.post(
        f"{CHANGELIST}add/",
        {
            "name": "Broken",
            "sender": SenderNumberFactory(account=template.account).pk,
            "template": template.pk,
            "default_language": "en_US",
            "segment": SegmentFactory().pk,
            "variable_mapping": json.dumps(mapping),
            "fallback_variable_mapping": "{}",
            "schedule_type": "now",
            "unknown_outcome_policy": "at_most_once",
            "lawful_basis": "consent",
        },
    )

    assert response.status_code == 200
    assert "Variable body.1 of template" in response.content.decode()
    assert not Campaign.objects.exists()


def test_starting_from_the_admin_reports_refusals_as_messages(staff):
    campaign = CampaignFactory(status=CampaignStatus.COMPLETED)

    response = staff.post(
        CHANGELIST, {"action": "start", "_selected_action": [campaign.pk]}, follow=True
    )

    assert response.status_code == 200
    assert "Cannot start a completed campaign." in response.content.decode()
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.COMPLETED


def test_the_dry_run_page_shows_rendered_messages_and_exclusions(staff, meta):
    campaign = CampaignFactory()
    contact = consented_contacts(1)[0]
    ContactFactory()

    response = staff.get(f"{CHANGELIST}{campaign.pk}/dry-run/")

    page = response.content.decode()
    assert response.status_code == 200
    assert f"Hi {contact.name}, your order {contact.external_id}" in page
    assert "no_consent" in page
    assert meta.send_count == 0


def test_launch_actions_are_offered_only_with_the_launch_permission(client):
    CampaignFactory()
    author = staff_with(client, "view_campaign", "change_campaign", "add_campaign")

    page = author.get(CHANGELIST).content.decode()

    assert 'value="pause"' in page
    assert 'value="start"' not in page
    assert 'value="schedule"' not in page


def test_the_message_ledger_cannot_be_edited_in_the_admin(staff, meta, running_campaign):
    campaign = running_campaign(1)
    message = campaign.messages.get()

    assert staff.get("/admin/campaigns/message/").status_code == 200
    page = staff.get(f"/admin/campaigns/message/{message.pk}/change/")
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert staff.get("/admin/campaigns/message/add/").status_code == 403
