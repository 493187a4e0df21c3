"""The campaign's status timeline: one row per committed change of status, whoever made it."""

from __future__ import annotations

import pytest

from campaigns.errors import IllegalTransition
from campaigns.models import Campaign, CampaignStatus, CampaignStatusChange
from campaigns.services import (
    campaign_cancel,
    campaign_complete_if_done,
    campaign_pause,
    campaign_resume,
    campaign_stop,
)
from tests.campaigns.factories import CampaignFactory

pytestmark = pytest.mark.django_db


def timeline(campaign: Campaign) -> list[tuple[str, str, str]]:
    return list(
        CampaignStatusChange.objects.filter(campaign=campaign)
        .order_by("id")
        .values_list("from_status", "to_status", "reason")
    )


def running() -> Campaign:
    campaign = CampaignFactory()
    Campaign.objects.filter(pk=campaign.pk).update(
        status=CampaignStatus.RUNNING, planned_at="2026-01-01T00:00:00Z"
    )
    return campaign


def test_each_transition_appends_its_change_with_the_reason():
    campaign = running()

    campaign_pause(campaign_id=campaign.pk, reason="stock check")
    campaign_stop(campaign_id=campaign.pk, reason="Template paused by Meta")
    campaign_resume(campaign_id=campaign.pk)
    campaign_cancel(campaign_id=campaign.pk)

    assert timeline(campaign) == [
        ("running", "paused", "stock check"),
        ("paused", "stopped", "Template paused by Meta"),
        ("stopped", "running", ""),
        ("running", "cancelled", ""),
    ]


def test_completion_is_a_change_too():
    campaign = running()

    assert campaign_complete_if_done(campaign_id=campaign.pk) is True

    assert timeline(campaign) == [("running", "completed", "")]


def test_a_refused_transition_leaves_no_change():
    campaign = CampaignFactory()  # a draft

    with pytest.raises(IllegalTransition):
        campaign_pause(campaign_id=campaign.pk)
    assert campaign_stop(campaign_id=campaign.pk, reason="x") is None

    assert timeline(campaign) == []


def test_a_completed_campaign_reopened_for_its_131049_retries_records_why(meta, running_campaign):
    from campaigns.ledger import message_statuses_apply
    from tests.campaigns.test_marketing_limit_retry import a_day_passes, failed_131049, sent_once

    message = sent_once(meta, running_campaign)
    assert campaign_complete_if_done(campaign_id=message.campaign_id)
    message_statuses_apply(statuses=[failed_131049(message, message.wamid)])

    a_day_passes(message)

    assert timeline(message.campaign)[-2:] == [
        ("running", "completed", ""),
        ("completed", "running", "retrying messages after Meta's per-user marketing limit"),
    ]


def test_retrying_the_failures_of_a_completed_campaign_reopens_it_on_the_timeline():
    from campaigns.models import MessageStatus
    from campaigns.services import campaign_retry_failed
    from tests.campaigns.factories import MessageFactory

    campaign = running()
    MessageFactory(campaign=campaign, status=MessageStatus.FAILED, error_code=131000)
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.COMPLETED)

    campaign_retry_failed(campaign_id=campaign.pk)

    assert timeline(campaign) == [("completed", "running", "retrying failed messages")]
