"""Progress read from per-campaign counters the database keeps in step with every change.

Whatever path changes a message (planning, dispatch, Meta's answers, status webhooks, replies,
clicks, cancel), the counters must say exactly what counting the messages says, and reading them
must not count the campaign's messages.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.dispatch import dispatch_chunk
from campaigns.ledger import message_record_reply, message_statuses_apply
from campaigns.links import tracked_link_click
from campaigns.models import (
    Campaign,
    CampaignProgressCount,
    CampaignStatus,
    Message,
    MessageStatus,
    TrackedLink,
)
from campaigns.planning import campaign_plan
from campaigns.progress import (
    campaign_progress_counts_check,
    progress_counts_check_active,
    progress_counts_fold,
)
from campaigns.selectors import progress_from_counters, progress_from_messages
from campaigns.services import campaign_cancel
from tests.campaigns.factories import CampaignFactory, ContactFactory, consented_contacts
from whatsapp.events import EventError, StatusEvent

pytestmark = pytest.mark.django_db


def counters_agree(campaign: Campaign) -> dict:
    from_counters = progress_from_counters(campaign.pk).as_dict()
    assert from_counters == progress_from_messages(campaign.pk).as_dict()
    return from_counters


def report(message: Message, status: str, **fields) -> StatusEvent:
    return StatusEvent(wamid=message.wamid, status=status, occurred_at=timezone.now(), **fields)


def test_the_counters_follow_planning_sending_failures_webhooks_replies_clicks_and_cancel(meta):
    # Planning: five consented recipients and one without consent
    campaign = CampaignFactory()
    consented_contacts(5)
    ContactFactory()
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.RUNNING)
    campaign_plan(campaign_id=campaign.pk)
    planned = counters_agree(campaign)
    assert planned["by_status"] == {"queued": 5, "skipped": 1}

    # Sending: one undeliverable, three sent, one left queued
    meta.fail_next(131026, endpoint="messages")
    dispatch_chunk(campaign_id=campaign.pk, chunk_size=4)
    after_send = counters_agree(campaign)
    assert after_send["by_status"] == {"queued": 1, "sent": 3, "failed": 1, "skipped": 1}
    assert after_send["failed_by_code"] == {"131026": 1}

    # Webhooks: delivered, read, and a failure after sending
    first, second, third = Message.objects.filter(
        campaign=campaign, status=MessageStatus.SENT
    ).order_by("id")
    message_statuses_apply(
        statuses=[
            report(first, "delivered"),
            report(second, "read"),
            report(
                third,
                "failed",
                errors=(EventError(code=131053, title="Media upload error"),),
            ),
        ]
    )
    after_webhooks = counters_agree(campaign)
    assert after_webhooks["by_status"] == {
        "queued": 1,
        "delivered": 1,
        "read": 1,
        "failed": 2,
        "skipped": 1,
    }
    assert after_webhooks["funnel"]["delivered"] == 2

    # A reply and a click
    message_record_reply(
        contact_id=first.contact_id, replied_at=timezone.now(), window=dt.timedelta(hours=72)
    )
    TrackedLink.objects.create(message=second, token="t-1", target_url="https://shop.example")
    tracked_link_click(token="t-1")
    tracked_link_click(token="t-1")
    engaged = counters_agree(campaign)
    assert (engaged["funnel"]["replied"], engaged["funnel"]["clicked"]) == (1, 1)

    # Cancel: what is left is skipped
    campaign_cancel(campaign_id=campaign.pk)
    cancelled = counters_agree(campaign)
    assert cancelled["skipped_by_reason"] == {"cancelled": 1, "no_consent": 1}
    assert cancelled["pending"] == 0


def test_reading_progress_never_counts_the_campaigns_messages(meta, running_campaign):
    campaign = running_campaign(20)
    dispatch_chunk(campaign_id=campaign.pk)

    with CaptureQueriesContext(connection) as queries:
        progress = progress_from_counters(campaign.pk)

    assert progress.by_status == {"sent": 20}
    on_messages = [q["sql"] for q in queries.captured_queries if "campaigns_message" in q["sql"]]
    # Only the send rate of the last seconds reads messages, through the (sender, sent_at) index.
    assert len(on_messages) == 1
    assert '"campaigns_message"."sent_at" >=' in on_messages[0]
    assert "GROUP BY" not in on_messages[0]


def test_folding_leaves_one_row_per_counter_and_the_same_numbers(meta, running_campaign):
    campaign = running_campaign(6)
    for _ in range(3):
        dispatch_chunk(campaign_id=campaign.pk, chunk_size=2)
    before = counters_agree(campaign)

    progress_counts_fold()

    rows = CampaignProgressCount.objects.filter(campaign=campaign)
    assert rows.count() == len({(row.kind, row.key) for row in rows})
    assert counters_agree(campaign) == before


def test_the_check_finds_and_repairs_counters_that_disagree_with_the_messages(
    meta, running_campaign
):
    campaign = running_campaign(3)
    dispatch_chunk(campaign_id=campaign.pk)
    assert campaign_progress_counts_check(campaign_id=campaign.pk) is True

    # A change that bypassed the counters
    CampaignProgressCount.objects.create(campaign=campaign, kind="status", key="sent", count=7)

    assert progress_from_counters(campaign.pk).by_status == {"sent": 10}
    assert progress_counts_check_active() == {"checked": 1, "repaired": 1}
    assert counters_agree(campaign)["by_status"] == {"sent": 3}
    assert campaign_progress_counts_check(campaign_id=campaign.pk) is True
