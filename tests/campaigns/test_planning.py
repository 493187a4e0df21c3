"""Planning: who gets the campaign, who does not and why, idempotently."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from campaigns.frequency import cap_reached, frequency_capped_contact_ids
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


# --- Frequency cap across campaigns planned close together ------------------------------------

LOYALTY_MAPPING = {
    "header.first_name": {"source": "contact", "path": "name"},
    "body.first_name": {"source": "contact", "path": "name"},
    "body.points": {"source": "constant", "path": "100"},
}


def marketing_campaign(**fields):
    template = fields.pop("template", None) or MessageTemplateFactory(named=True)
    return CampaignFactory(template=template, variable_mapping=dict(LOYALTY_MAPPING), **fields)


def capped_campaign(template, **fields):
    return marketing_campaign(
        template=template, frequency_cap_count=1, frequency_cap_window_hours=24, **fields
    )


def test_another_campaigns_queued_message_in_the_window_counts_towards_the_cap():
    template = MessageTemplateFactory(named=True)
    earlier = marketing_campaign(template=template)
    contact = consented_contacts(1, ConsentScope.MARKETING)[0]
    campaign_plan(campaign_id=earlier.pk)  # queued, not sent yet
    later = capped_campaign(template)

    campaign_plan(campaign_id=later.pk)

    assert outcomes(earlier) == {contact.id: ("queued", "")}
    assert outcomes(later) == {contact.id: ("skipped", "frequency_cap")}


def test_deferred_messages_count_and_messages_planned_beyond_the_window_do_not():
    template = MessageTemplateFactory(named=True)
    other = marketing_campaign(template=template)
    deferred, far_ahead = consented_contacts(2, ConsentScope.MARKETING)
    MessageFactory(
        campaign=other,
        contact=deferred,
        status=MessageStatus.DEFERRED,
        not_before=timezone.now() + dt.timedelta(hours=9),
    )
    MessageFactory(
        campaign=other,
        contact=far_ahead,
        status=MessageStatus.QUEUED,
        not_before=timezone.now() + dt.timedelta(hours=30),
    )
    campaign = capped_campaign(template)

    campaign_plan(campaign_id=campaign.pk)

    assert outcomes(campaign) == {
        deferred.id: ("skipped", "frequency_cap"),
        far_ahead.id: ("queued", ""),
    }


def test_the_cap_is_counted_at_each_recipients_own_send_time():
    # Sent 20 hours ago; this campaign goes out at 10:00 local tomorrow, more than 24 h later.
    template = MessageTemplateFactory(named=True)
    other = marketing_campaign(template=template)
    now = timezone.now()
    contact = consented_contacts(1, ConsentScope.MARKETING, timezone="UTC")[0]
    MessageFactory(
        campaign=other,
        contact=contact,
        status=MessageStatus.DELIVERED,
        sent_at=now - dt.timedelta(hours=20),
    )
    send_at = (now + dt.timedelta(hours=12)).replace(minute=0, second=0, microsecond=0)
    campaign = capped_campaign(
        template,
        schedule_type=ScheduleType.LOCAL_TIME,
        scheduled_at=send_at,
        local_send_time=send_at.time(),
    )

    campaign_plan(campaign_id=campaign.pk)

    message = Message.objects.get(campaign=campaign)
    assert (message.status, message.not_before) == (MessageStatus.QUEUED, send_at)


def test_test_sends_and_utility_campaigns_are_outside_the_cap():
    template = MessageTemplateFactory(named=True)
    other = marketing_campaign(template=template)
    contact = consented_contacts(1, ConsentScope.ALL)[0]
    MessageFactory(
        campaign=None,
        test_of_campaign=other,
        contact=contact,
        sender=other.sender,
        template=template,
        category=template.category,
        idempotency_key="test:1",
        status=MessageStatus.SENT,
        sent_at=timezone.now() - dt.timedelta(hours=1),
    )
    marketing = capped_campaign(template)
    utility = CampaignFactory(frequency_cap_count=1, frequency_cap_window_hours=24)

    campaign_plan(campaign_id=marketing.pk)
    campaign_plan(campaign_id=utility.pk)

    assert outcomes(marketing) == {contact.id: ("queued", "")}
    assert outcomes(utility) == {contact.id: ("queued", "")}


def test_at_send_time_only_what_went_or_is_going_out_counts():
    template = MessageTemplateFactory(named=True)
    other = marketing_campaign(template=template)
    campaign = capped_campaign(template)
    queued_elsewhere, sending_elsewhere, sent_elsewhere = consented_contacts(
        3, ConsentScope.MARKETING
    )
    now = timezone.now()
    MessageFactory(campaign=other, contact=queued_elsewhere, status=MessageStatus.QUEUED)
    MessageFactory(
        campaign=other, contact=sending_elsewhere, status=MessageStatus.SENDING, sending_at=now
    )
    MessageFactory(
        campaign=other,
        contact=sent_elsewhere,
        status=MessageStatus.SENT,
        sent_at=now - dt.timedelta(hours=23),
    )
    ids = [queued_elsewhere.id, sending_elsewhere.id, sent_elsewhere.id]

    at_send_time = frequency_capped_contact_ids(campaign=campaign, contact_ids=ids, at=now)
    when_planning = frequency_capped_contact_ids(
        campaign=campaign, contact_ids=ids, at=now, include_planned=True
    )

    assert at_send_time == {sending_elsewhere.id, sent_elsewhere.id}
    assert when_planning == set(ids)


def test_a_cap_of_two_is_broken_only_when_one_window_would_hold_three():
    at = timezone.now()
    window = dt.timedelta(hours=24)
    hours = [dt.timedelta(hours=h) for h in (-20, 20)]

    # -20 h and +20 h are 40 h apart: no 24 h window holds both and the new message.
    assert not cap_reached([at + h for h in hours], at=at, window=window, limit=2)
    # -10 h and +10 h: the window from -10 h holds both and the new one.
    assert cap_reached([at + h / 2 for h in hours], at=at, window=window, limit=2)
    assert not cap_reached([at - dt.timedelta(hours=25)], at=at, window=window, limit=1)


# --- Recipient-local time across a daylight-saving change -------------------------------------


def test_local_time_planning_follows_each_zones_clocks_on_the_day_they_change():
    # 2030-03-31: Europe moves to summer time at 01:00 UTC; New York moved on 2030-03-10.
    campaign = CampaignFactory(
        schedule_type=ScheduleType.LOCAL_TIME,
        scheduled_at=dt.datetime(2030, 3, 31, tzinfo=dt.UTC),
        local_send_time=dt.time(10),
    )
    london = consented_contacts(1, timezone="Europe/London")[0]
    berlin = consented_contacts(1, timezone="Europe/Berlin")[0]
    new_york = consented_contacts(1, timezone="America/New_York")[0]

    campaign_plan(campaign_id=campaign.pk)

    send_times = dict(
        Message.objects.filter(campaign=campaign).values_list("contact_id", "not_before")
    )
    assert send_times == {
        london.id: dt.datetime(2030, 3, 31, 9, tzinfo=dt.UTC),  # 10:00 BST
        berlin.id: dt.datetime(2030, 3, 31, 8, tzinfo=dt.UTC),  # 10:00 CEST
        new_york.id: dt.datetime(2030, 3, 31, 14, tzinfo=dt.UTC),  # 10:00 EDT
    }


def test_quiet_hours_ending_after_the_clocks_change_release_at_the_new_local_time():
    # Planned for 23:30 London time on 2030-10-26; quiet from 22:00 to 08:00. The clocks go
    # back that night, so 08:00 GMT on the 27th is 08:00 UTC (not 07:00 as the evening before).
    campaign = CampaignFactory(
        schedule_type=ScheduleType.AT,
        scheduled_at=dt.datetime(2030, 10, 26, 22, 30, tzinfo=dt.UTC),  # 23:30 BST
        quiet_hours_start=dt.time(22),
        quiet_hours_end=dt.time(8),
    )
    london = consented_contacts(1, timezone="Europe/London")[0]

    campaign_plan(campaign_id=campaign.pk)

    message = Message.objects.get(campaign=campaign, contact=london)
    assert message.not_before == dt.datetime(2030, 10, 27, 8, tzinfo=dt.UTC)
