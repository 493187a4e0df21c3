"""The campaigns app's panels on other pages: the messages sent to a contact (contact page) and
the campaigns that use a template (template page)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from campaigns.models import CampaignStatus, MessageStatus
from tests.campaigns.factories import (
    CampaignFactory,
    ContactFactory,
    MessageFactory,
    MessageTemplateFactory,
)
from tests.templates_app.factories import UserFactory

pytestmark = pytest.mark.django_db

SENT_AT = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)


def staff_with(client, *codenames: str):
    user = UserFactory(is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    return client


def contact_page(client, contact) -> str:
    response = client.get(f"/admin/contacts/contact/{contact.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def template_page(client, template) -> str:
    response = client.get(f"/admin/templates_app/messagetemplate/{template.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def test_the_contact_page_lists_the_messages_sent_with_campaign_template_status_and_times(
    admin_client,
):
    contact = ContactFactory()
    campaign = CampaignFactory(name="Spring sale")
    delivered = MessageFactory(
        campaign=campaign,
        contact=contact,
        status=MessageStatus.DELIVERED,
        queued_at=SENT_AT,
        sent_at=SENT_AT,
        delivered_at=SENT_AT + dt.timedelta(minutes=1),
    )
    failed = MessageFactory(
        campaign=CampaignFactory(name="Winter sale"),
        contact=contact,
        status=MessageStatus.FAILED,
        error_code=131026,
        reason="meta_error",
        failed_at=SENT_AT,
    )
    MessageFactory(contact=ContactFactory())  # someone else's

    page = contact_page(admin_client, contact)

    assert 'id="panel-messages-sent"' in page
    assert f"href='/admin/campaigns/message/{delivered.pk}/change/'" in page
    assert f'<a href="/admin/campaigns/campaign/{campaign.pk}/change/">Spring sale</a>' in page
    assert "order_update (en_US)" in page
    assert "<td>Delivered</td><td>2026-03-02 09:30</td><td>2026-03-02 09:30</td>" in page
    assert "<td>2026-03-02 09:31</td>" in page
    assert f"data-message='{failed.pk}'" in page
    assert "Failed (131026): meta_error" in page
    assert page.count("data-message=") == 2
    assert f"?contact__id__exact={contact.pk}" in page


def test_the_ledger_link_of_the_contact_page_filters_the_message_list(admin_client):
    contact = ContactFactory()
    mine = MessageFactory(contact=contact)
    theirs = MessageFactory()

    response = admin_client.get(f"/admin/campaigns/message/?contact__id__exact={contact.pk}")

    assert response.status_code == 200
    shown = [message.pk for message in response.context["cl"].result_list]
    assert shown == [mine.pk]
    assert theirs.pk not in shown


def test_a_test_send_is_shown_as_a_test_of_its_campaign(admin_client):
    contact = ContactFactory()
    campaign = CampaignFactory(name="Launch")
    MessageFactory(
        campaign=None,
        test_of_campaign=campaign,
        contact=contact,
        sender=campaign.sender,
        template=campaign.template,
        category="utility",
        idempotency_key="test:1",
    )

    page = contact_page(admin_client, contact)

    assert ">test of Launch</a>" in page


def test_a_contact_without_messages_says_so(admin_client):
    page = contact_page(admin_client, ContactFactory())

    assert "No message was sent to this contact." in page


def test_the_messages_panel_needs_the_permission_to_view_messages(client):
    contact = ContactFactory()
    MessageFactory(contact=contact)
    viewer = staff_with(client, "view_contact")

    page = contact_page(viewer, contact)

    assert "panel-messages-sent" not in page


def test_campaign_names_are_not_links_without_the_permission_to_view_campaigns(client):
    contact = ContactFactory()
    campaign = CampaignFactory(name="Spring sale")
    MessageFactory(campaign=campaign, contact=contact)
    viewer = staff_with(client, "view_contact", "view_message")

    page = contact_page(viewer, contact)

    assert "<td>Spring sale</td>" in page
    assert f"/admin/campaigns/campaign/{campaign.pk}/change/" not in page


def test_the_template_page_lists_the_campaigns_that_use_its_family(admin_client):
    english = MessageTemplateFactory()
    portuguese = MessageTemplateFactory(account=english.account, language="pt_BR")
    other = MessageTemplateFactory(account=english.account, name="welcome")
    main = CampaignFactory(name="Orders", template=english)
    via_fallback = CampaignFactory(
        name="Welcome back", template=other, fallback_template=portuguese
    )
    CampaignFactory(name="Unrelated", template=other)
    CampaignFactory(name="Same name, other account")  # a template of another account

    page = template_page(admin_client, portuguese)

    assert 'id="panel-used-by-campaigns"' in page
    assert f"<a href='/admin/campaigns/campaign/{main.pk}/change/'>Orders</a>" in page
    assert "message (family; default language en_US)" in page
    assert f"<a href='/admin/campaigns/campaign/{via_fallback.pk}/change/'>Welcome back</a>" in page
    assert "fallback message" in page
    assert "Unrelated" not in page
    assert "Same name, other account" not in page


def test_a_template_no_campaign_uses_says_so(admin_client):
    page = template_page(admin_client, MessageTemplateFactory())

    assert "No campaign uses this template." in page


def test_the_campaigns_panel_needs_the_permission_to_view_campaigns(client):
    template = MessageTemplateFactory()
    CampaignFactory(template=template, status=CampaignStatus.RUNNING)
    viewer = staff_with(client, "view_messagetemplate")

    page = template_page(viewer, template)

    assert "panel-used-by-campaigns" not in page


def test_panel_times_follow_the_staff_members_timezone(admin_client):
    contact = ContactFactory()
    MessageFactory(contact=contact, sent_at=SENT_AT, queued_at=SENT_AT)
    admin_client.cookies["tidings_timezone"] = "America/Sao_Paulo"

    page = contact_page(admin_client, contact)

    assert "2026-03-02 06:30" in page  # UTC-3
    assert timezone.get_current_timezone_name() == "UTC"  # deactivated after the request
