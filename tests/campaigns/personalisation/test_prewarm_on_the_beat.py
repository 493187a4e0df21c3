"""The beat warms a scheduled campaign's personalisation cache shortly before it starts."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from campaigns.models import Campaign, CampaignStatus, ScheduleType
from campaigns.tasks import tick
from tests.campaigns.factories import ORDER_UPDATE_MAPPING, CampaignFactory, consented_contacts

pytestmark = [pytest.mark.django_db, pytest.mark.redis]

MAPPING = dict(ORDER_UPDATE_MAPPING) | {
    "body.3": {"source": "data_source", "path": "loyalty.delivery_day", "fallback": "soon"}
}


def scheduled_in(minutes: float) -> Campaign:
    return CampaignFactory(
        status=CampaignStatus.SCHEDULED,
        schedule_type=ScheduleType.AT,
        scheduled_at=timezone.now() + dt.timedelta(minutes=minutes),
        variable_mapping=MAPPING,
    )


def test_the_tick_prewarms_a_campaign_due_within_the_prewarm_minutes_once(settings, crm, loyalty):
    settings.TIDINGS_PREWARM_MINUTES = 10
    soon = scheduled_in(5)
    contacts = consented_contacts(3)
    for contact in contacts:
        crm.records[contact.external_id] = {"delivery_day": "Friday"}

    tick()
    tick()

    assert crm.calls == 3
    assert {key: crm.calls_for(key) for key in crm.records} == {
        contact.external_id: 1 for contact in contacts
    }
    assert Campaign.objects.get(pk=soon.pk).status == CampaignStatus.SCHEDULED


def test_the_tick_leaves_campaigns_further_off_cold(settings, crm, loyalty):
    settings.TIDINGS_PREWARM_MINUTES = 10
    scheduled_in(60)
    contact = consented_contacts(1)[0]
    crm.records[contact.external_id] = {"delivery_day": "Friday"}

    tick()

    assert crm.calls == 0
