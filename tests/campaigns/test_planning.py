"""Planning: who gets the campaign, who does not and why, idempotently."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from campaigns.models import Message, MessageStatus, ScheduleType
from campaigns.planning import campaign_plan
from contacts.models import ConsentScope
from contacts.services import contact_erase
from templates_app.models import TemplateStatus
from tests.campaigns.factories import (
    CampaignFactory,
    ContactFactory,
    MessageFactory,
    MessageTemplateFactory,
    consented_contacts,
    opt_in,
    opt_out,
)
from tests.templates_app.factories import UserFactory

pytestmark = pytest.mark.django_db


def outcomes(campaign) -> dict[int, tuple[str, str]]:
    return {m.contact_id: (m.status, m.reason) for m in Message.objects.filter(campaign=campaign)}


def test_consented_contacts_are_queued_with_the_opt_in_they_rely_on():
    campaign = CampaignFactory()
    contacts = consented_contacts(3)

    summary = campaign_plan(campaign_id=campaign.pk)

    assert (summary.queued, summary.skipped) == (3, 0)
    messages = Message.objects.filter(campaign=campaign).order_by("contact_id")
    assert [m.contact_id for m in messages] == [c.id for c in contacts]
    for message, contact in zip(messages, contacts, strict=True):
        assert message.status == MessageStatus.QUEUED
        assert message.consent_record == contact.consent_records.get()
        assert message.idempotency_key == f"campaign:{campaign.pk}:{contact.pk}"
        assert message.template == campaign.template


def test_every_exclusion_is_recorded_with_its_reason():
    campaign = CampaignFactory()
    ok = consented_contacts(1)[0]
    never_asked = ContactFactory()
    opted_out = consented_contacts(1)[0]
    opt_out(opted_out)
    marketing_only = ContactFactory()
    opt_in(marketing_only, ConsentScope.MARKETING)
    erased = consented_contacts(1)[0]
    contact_erase(contact=erased, erased_by=UserFactory())
    invalid = ContactFactory(phone="+999123456789")
    opt_in(invalid)

    campaign_plan(campaign_id=campaign.pk)

    assert outcomes(campaign) == {
        ok.id: ("queued", ""),
        never_asked.id: ("skipped", "no_consent"),
        opted_out.id: ("skipped", "no_consent"),
        marketing_only.id: ("skipped", "no_consent"),
        invalid.id: ("skipped", "invalid_number"),
    }
    assert erased.id not in outcomes(campaign)  # erased contacts are in no audience at all


def test_marketing_needs_marketing_consent_and_skips_us_numbers():
    template = MessageTemplateFactory(named=True)
    campaign = CampaignFactory(
        template=template,
        variable_mapping={
            "header.first_name": {"source": "contact", "path": "name"},
            "body.first_name": {"source": "contact", "path": "name"},
            "body.points": {"source": "constant", "path": "100"},
        },
    )
    marketing = consented_contacts(1, ConsentScope.MARKETING)[0]
    utility_only = consented_contacts(1, ConsentScope.UTILITY)[0]
    american = consented_contacts(1, ConsentScope.MARKETING, phone="+14155550123")[0]

    campaign_plan(campaign_id=campaign.pk)

    assert outcomes(campaign) == {
        marketing.id: ("queued", ""),
        utility_only.id: ("skipped", "no_consent"),
        american.id: ("skipped", "marketing_not_delivered_in_country"),
    }


def test_the_frequency_cap_counts_marketing_sends_of_other_campaigns_in_the_window():
    template = MessageTemplateFactory(named=True)
    mapping = {
        "header.first_name": {"source": "contact", "path": "name"},
        "body.first_name": {"source": "contact", "path": "name"},
        "body.points": {"source": "constant", "path": "100"},
    }
    earlier = CampaignFactory(template=template, variable_mapping=mapping)
    campaign = CampaignFactory(
        template=template,
        sender=earlier.sender,
        variable_mapping=mapping,
        frequency_cap_count=1,
        frequency_cap_window_hours=24,
    )
    recently_messaged, messaged_long_ago, fresh = consented_contacts(3, ConsentScope.MARKETING)
    MessageFactory(
        campaign=earlier,
        contact=recently_messaged,
        status=MessageStatus.DELIVERED,
        sent_at=timezone.now() - dt.timedelta(hours=3),
    )
    MessageFactory(
        campaign=earlier,
        contact=messaged_long_ago,
        status=MessageStatus.READ,
        sent_at=timezone.now() - dt.timedelta(hours=30),
    )

    campaign_plan(campaign_id=campaign.pk)

    assert outcomes(campaign) == {
        recently_messaged.id: ("skipped", "frequency_cap"),
        messaged_long_ago.id: ("queued", ""),
        fresh.id: ("queued", ""),
    }


def test_each_contact_gets_the_variant_in_their_language_or_the_default():
    english = MessageTemplateFactory(language="en_US")
    portuguese = MessageTemplateFactory(account=english.account, language="pt_BR")
    campaign = CampaignFactory(template=english)
    brazilian = consented_contacts(1, language="pt_BR")[0]
    french = consented_contacts(1, language="fr_FR")[0]

    campaign_plan(campaign_id=campaign.pk)

    variants = dict(Message.objects.filter(campaign=campaign).values_list("contact_id", "template"))
    assert variants == {brazilian.id: portuguese.id, french.id: english.id}


def test_contacts_are_skipped_when_no_approved_variant_is_left():
    campaign = CampaignFactory()
    contact = consented_contacts(1)[0]
    campaign.template.status = TemplateStatus.PAUSED
    campaign.template.save()

    campaign_plan(campaign_id=campaign.pk)

    assert outcomes(campaign) == {contact.id: ("skipped", "no_language_variant")}


def test_planning_twice_adds_nothing_and_changes_nothing():
    campaign = CampaignFactory()
    consented_contacts(5)
    campaign_plan(campaign_id=campaign.pk)
    before = list(Message.objects.filter(campaign=campaign).values().order_by("id"))

    campaign_plan(campaign_id=campaign.pk)

    assert list(Message.objects.filter(campaign=campaign).values().order_by("id")) == before


def test_recipient_local_schedule_and_quiet_hours_set_each_send_time():
    campaign = CampaignFactory(
        schedule_type=ScheduleType.LOCAL_TIME,
        scheduled_at=dt.datetime(2030, 6, 10, tzinfo=dt.UTC),
        local_send_time=dt.time(10),
        quiet_hours_start=dt.time(21),
        quiet_hours_end=dt.time(11),
    )
    london = consented_contacts(1, timezone="Europe/London")[0]
    tokyo = consented_contacts(1, timezone="Asia/Tokyo")[0]
    no_zone = consented_contacts(1, timezone="")[0]

    campaign_plan(campaign_id=campaign.pk)

    send_times = dict(
        Message.objects.filter(campaign=campaign).values_list("contact_id", "not_before")
    )
    # 10:00 local falls in the 21:00-11:00 quiet hours everywhere: each goes at 11:00 local.
    assert send_times == {
        london.id: dt.datetime(2030, 6, 10, 10, tzinfo=dt.UTC),
        tokyo.id: dt.datetime(2030, 6, 10, 2, tzinfo=dt.UTC),
        no_zone.id: dt.datetime(2030, 6, 10, 11, tzinfo=dt.UTC),
    }
