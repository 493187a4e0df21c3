"""What the dispatcher decides at send time rather than at planning: the frequency cap (other
campaigns may have sent since), and the fallback template's variant per contact language."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from campaigns.dispatch import dispatch_chunk
from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus
from campaigns.planning import campaign_plan
from contacts.models import ConsentScope
from tests.campaigns.conftest import sent_message_ids
from tests.campaigns.factories import (
    ORDER_UPDATE_MAPPING,
    CampaignFactory,
    MessageFactory,
    MessageTemplateFactory,
    consented_contacts,
)

pytestmark = pytest.mark.django_db

LOYALTY_MAPPING = {
    "header.first_name": {"source": "contact", "path": "name"},
    "body.first_name": {"source": "contact", "path": "name"},
    "body.points": {"source": "constant", "path": "100"},
}


def run(campaign: Campaign) -> Campaign:
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.RUNNING)
    campaign_plan(campaign_id=campaign.pk)
    return campaign


def test_a_marketing_message_another_campaign_sent_after_planning_counts_at_send_time(meta):
    # Given a capped marketing campaign planned while the contact had no marketing message
    template = MessageTemplateFactory(named=True)
    contact = consented_contacts(1, ConsentScope.MARKETING)[0]
    capped = run(
        CampaignFactory(
            template=template,
            variable_mapping=dict(LOYALTY_MAPPING),
            frequency_cap_count=1,
            frequency_cap_window_hours=24,
        )
    )
    assert Message.objects.get(campaign=capped).status == MessageStatus.QUEUED
    # ... and another campaign's marketing message reaching the contact before this one leaves
    MessageFactory(
        campaign=CampaignFactory(template=template, variable_mapping=dict(LOYALTY_MAPPING)),
        contact=contact,
        status=MessageStatus.SENT,
        sent_at=timezone.now() - dt.timedelta(hours=1),
    )

    # When the capped campaign dispatches
    dispatch_chunk(campaign_id=capped.pk)

    # Then the contact is skipped for the cap and nothing reaches Meta
    message = Message.objects.get(campaign=capped)
    assert (message.status, message.reason) == (MessageStatus.SKIPPED, "frequency_cap")
    assert meta.send_count == 0


def test_a_contact_whose_data_is_missing_gets_the_fallback_in_its_own_language(meta):
    template = MessageTemplateFactory()
    fallback = MessageTemplateFactory(
        account=template.account,
        name="generic_update",
        components=[{"type": "BODY", "text": "Hello {{1}}, there is news about your order."}],
    )
    MessageTemplateFactory(
        account=template.account,
        name="generic_update",
        language="pt_BR",
        components=[{"type": "BODY", "text": "Olá {{1}}, há novidades sobre o seu pedido."}],
    )
    campaign = run(
        CampaignFactory(
            template=template,
            variable_mapping=dict(ORDER_UPDATE_MAPPING)
            | {"body.2": {"source": "attribute", "path": "order"}},
            fallback_template=fallback,
            fallback_variable_mapping={"body.1": {"source": "contact", "path": "name"}},
        )
    )
    brazilian = consented_contacts(1, language="pt_BR", name="Joana")[0]
    french = consented_contacts(1, language="fr_FR", name="Zoé")[0]
    campaign_plan(campaign_id=campaign.pk)

    dispatch_chunk(campaign_id=campaign.pk)

    sent = {
        int(message["biz_opaque_callback_data"].removeprefix("tidings:")): (
            message["template"]["name"],
            message["template"]["language"]["code"],
        )
        for message in meta.accepted_messages
    }
    by_contact = dict(Message.objects.filter(campaign=campaign).values_list("contact_id", "id"))
    assert sent == {
        by_contact[brazilian.pk]: ("generic_update", "pt_BR"),
        by_contact[french.pk]: ("generic_update", "en_US"),
    }
    assert sorted(sent_message_ids(meta)) == sorted(by_contact.values())
