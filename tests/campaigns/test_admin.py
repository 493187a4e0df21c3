"""The campaigns admin, as marketing staff use it."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.contrib.auth.models import Permission

from campaigns.models import Campaign, CampaignStatus, LawfulBasis, Message, MessageStatus
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
    assert staff.get(f"{CHANGELIST}add/").status_code == 200


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
    assert "goes out at " in page
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


# --- Test sends -------------------------------------------------------------------------------


def test_the_test_send_action_leads_to_a_confirmation_page_that_sends_nothing(staff, meta):
    campaign = CampaignFactory()
    consented_contacts(1)

    response = staff.post(
        CHANGELIST, {"action": "test_send", "_selected_action": [campaign.pk]}, follow=True
    )

    page = response.content.decode()
    assert response.redirect_chain[-1][0] == f"{CHANGELIST}{campaign.pk}/test-send/"
    assert "sends one real WhatsApp message now" in page
    assert "without a consent check" in page
    assert meta.send_count == 0
    assert not Message.objects.exists()


def test_confirming_sends_the_test_to_the_staff_number(staff, meta):
    campaign = CampaignFactory()
    first = consented_contacts(1)[0]

    response = staff.post(
        f"{CHANGELIST}{campaign.pk}/test-send/", {"phone": "+44 7911 123456"}, follow=True
    )

    message = Message.objects.get()
    assert (message.test_of_campaign, message.status) == (campaign, MessageStatus.SENT)
    assert meta.accepted_messages[0]["to"] == "+447911123456"
    assert first.name in str(meta.accepted_messages[0])
    assert f"to +447911123456: sent ({message.wamid})" in response.content.decode()


def test_without_the_launch_permission_a_staff_number_is_a_form_error(client, meta):
    campaign = CampaignFactory()
    consented_contacts(1)
    author = staff_with(client, "view_campaign", "change_campaign")

    response = author.post(f"{CHANGELIST}{campaign.pk}/test-send/", {"phone": "+447911123456"})

    assert response.status_code == 200
    assert "it needs the permission to launch campaigns" in response.content.decode()
    assert meta.send_count == 0
    assert not Message.objects.exists()


def test_an_author_can_test_on_a_consented_contact(client, meta):
    campaign = CampaignFactory()
    colleague = consented_contacts(1)[0]
    author = staff_with(client, "view_campaign", "change_campaign")

    author.post(f"{CHANGELIST}{campaign.pk}/test-send/", {"contact": colleague.pk})

    assert Message.objects.get().contact == colleague
    assert meta.send_count == 1


def test_the_test_send_page_needs_the_change_permission(client):
    campaign = CampaignFactory()
    auditor = staff_with(client, "view_campaign")

    assert auditor.get(f"{CHANGELIST}{campaign.pk}/test-send/").status_code == 403


# --- Campaign page details, deletion ----------------------------------------------------------


def test_the_change_page_shows_the_required_consent(staff):
    campaign = CampaignFactory(template=MessageTemplateFactory(named=True))

    page = staff.get(f"{CHANGELIST}{campaign.pk}/change/").content.decode()

    assert "Required consent" in page
    assert '<div class="readonly">marketing</div>' in page


def test_only_drafts_can_be_deleted_in_the_admin(staff):
    draft = CampaignFactory()
    scheduled = CampaignFactory(status=CampaignStatus.SCHEDULED)

    assert staff.get(f"{CHANGELIST}{scheduled.pk}/delete/").status_code == 403
    staff.post(f"{CHANGELIST}{draft.pk}/delete/", {"post": "yes"})

    assert list(Campaign.objects.all()) == [scheduled]


# --- The message ledger: purpose, lawful basis, audit export ----------------------------------

MESSAGES = "/admin/campaigns/message/"


def audited_campaign(running_campaign):
    return running_campaign(
        1, purpose="Order updates for spring orders", lawful_basis=LawfulBasis.CONTRACT
    )


def test_the_ledger_shows_each_messages_purpose_and_lawful_basis(staff, running_campaign):
    campaign = audited_campaign(running_campaign)
    message = campaign.messages.get()

    listing = staff.get(MESSAGES).content.decode()
    detail = staff.get(f"{MESSAGES}{message.pk}/change/").content.decode()

    for page in (listing, detail):
        assert "Order updates for spring orders" in page
        assert "Performance of a contract" in page


def test_the_message_audit_export_streams_purpose_basis_and_consent(staff, running_campaign):
    campaign = audited_campaign(running_campaign)
    message = campaign.messages.select_related("contact", "consent_record").get()

    response = staff.post(MESSAGES, {"action": "export_audit", "_selected_action": [message.pk]})

    assert response.streaming
    assert response["Content-Disposition"].startswith('attachment; filename="message-audit-')
    (row,) = csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))
    consent = message.consent_record
    assert row == {
        "message_id": str(message.pk),
        "created_at": message.created_at.isoformat(),
        "trigger": "campaign",
        "triggered_by": "",
        "campaign_id": str(campaign.pk),
        "campaign": campaign.name,
        "test_send": "no",
        "purpose": "Order updates for spring orders",
        "lawful_basis": "Performance of a contract",
        "contact_id": str(message.contact_id),
        "phone": message.contact.phone,
        "consent_record_id": str(consent.pk),
        "consent_action": "opt_in",
        "consent_scope": "all",
        "consent_source": consent.source,
        "consent_evidence": consent.evidence,
        "consent_captured_at": consent.captured_at.isoformat(),
        "template": "order_update",
        "language": "en_US",
        "category": "UTILITY",
        "status": "queued",
        "reason": "",
        "error_code": "",
        "error_title": "",
        "wamid": "",
        "queued_at": message.queued_at.isoformat(),
        "sending_at": "",
        "sent_at": "",
        "delivered_at": "",
        "read_at": "",
        "failed_at": "",
        "replied_at": "",
        "status_history": "",
    }


def test_a_test_sends_audit_row_names_the_campaign_it_tested(staff, meta):
    from campaigns.services import campaign_test_send

    campaign = CampaignFactory(purpose="Spring preview", lawful_basis=LawfulBasis.CONSENT)
    contact = consented_contacts(1)[0]
    message = campaign_test_send(campaign_id=campaign.pk, contact=contact)

    response = staff.post(MESSAGES, {"action": "export_audit", "_selected_action": [message.pk]})

    (row,) = csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))
    assert (row["campaign_id"], row["campaign"], row["test_send"]) == ("", campaign.name, "yes")
    assert (row["purpose"], row["lawful_basis"], row["status"]) == (
        "Spring preview",
        "Consent",
        "sent",
    )


def test_a_read_only_auditor_can_export_the_message_audit(client, running_campaign):
    message = audited_campaign(running_campaign).messages.get()
    auditor = staff_with(client, "view_message")

    response = auditor.post(MESSAGES, {"action": "export_audit", "_selected_action": [message.pk]})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
