"""A chunk in flight stops when its campaign stops running or a recipient's consent goes.

The sending loop polls the campaign's status about twice a second and re-checks consent for each
batch before it leaves: a pause puts back what has not left (resume sends it, once), a cancel
skips it, an opt-out stops that recipient's send.
"""

from __future__ import annotations

import collections
import threading

import pytest
from django.db import connection

from campaigns.dispatch import STATUS_POLL_SECONDS, dispatch_chunk
from campaigns.models import Campaign, Message, MessageStatus
from campaigns.services import campaign_cancel, campaign_pause, campaign_resume
from templates_app.models import SenderNumber
from tests.campaigns.conftest import sent_message_ids
from tests.campaigns.factories import opt_out
from tests.support.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

RATE = 4  # messages per second: a ten-message chunk takes about 2.5 s


def slow_campaign(running_campaign, count: int = 10) -> Campaign:
    campaign = running_campaign(count)
    SenderNumber.objects.filter(pk=campaign.sender_id).update(throughput_per_second=RATE)
    return campaign


def dispatch_in_background(campaign: Campaign) -> threading.Thread:
    def run() -> None:
        try:
            dispatch_chunk(campaign_id=campaign.pk)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def statuses(campaign: Campaign) -> collections.Counter:
    return collections.Counter(
        Message.objects.filter(campaign=campaign).values_list("status", flat=True)
    )


# At most what the sender can start between the status change and the next poll (plus one
# slot of jitter): the rest of the chunk must not leave.
LATE_SENDS = int(RATE * STATUS_POLL_SECONDS) + 1


def test_a_pause_mid_chunk_stops_further_sends_and_resume_sends_the_rest_once(
    meta, running_campaign, settings
):
    # Given a chunk of ten being sent at four a second
    campaign = slow_campaign(running_campaign)
    worker = dispatch_in_background(campaign)
    wait_until(lambda: meta.send_count >= 2)

    # When the campaign is paused
    campaign_pause(campaign_id=campaign.pk)
    at_pause = meta.send_count
    worker.join(15)

    # Then hardly anything more left, and what did not is queued again, attempt not counted
    sent = set(sent_message_ids(meta))
    assert len(sent) <= at_pause + LATE_SENDS
    assert len(sent) < 10
    assert statuses(campaign) == {"sent": len(sent), "queued": 10 - len(sent)}
    queued = Message.objects.filter(campaign=campaign, status=MessageStatus.QUEUED)
    assert set(queued.values_list("attempts", flat=True)) == {0}

    # And resuming sends each of the others once
    SenderNumber.objects.filter(pk=campaign.sender_id).update(throughput_per_second=80)
    campaign_resume(campaign_id=campaign.pk)  # dispatches at once (tasks run eagerly in tests)
    wait_until(lambda: statuses(campaign) == {"sent": 10})
    sends = collections.Counter(sent_message_ids(meta))
    assert sorted(sends) == sorted(
        Message.objects.filter(campaign=campaign).values_list("id", flat=True)
    )
    assert set(sends.values()) == {1}


def test_a_cancel_mid_chunk_stops_further_sends_and_skips_what_did_not_leave(
    meta, running_campaign
):
    campaign = slow_campaign(running_campaign)
    worker = dispatch_in_background(campaign)
    wait_until(lambda: meta.send_count >= 2)

    campaign_cancel(campaign_id=campaign.pk)
    at_cancel = meta.send_count
    worker.join(15)

    sent = set(sent_message_ids(meta))
    assert len(sent) <= at_cancel + LATE_SENDS
    assert statuses(campaign) == {"sent": len(sent), "skipped": 10 - len(sent)}
    skipped = Message.objects.filter(campaign=campaign, status=MessageStatus.SKIPPED)
    assert set(skipped.values_list("reason", flat=True)) == {"cancelled"}


def test_an_opt_out_committed_while_the_chunk_is_sending_stops_that_recipients_send(
    meta, running_campaign
):
    # Given a chunk of ten being sent at four a second
    campaign = slow_campaign(running_campaign)
    last = Message.objects.filter(campaign=campaign).order_by("-not_before", "-id").first()
    worker = dispatch_in_background(campaign)
    wait_until(lambda: meta.send_count >= 1)

    # When the last recipient opts out while the first messages are leaving
    opt_out(last.contact)
    worker.join(15)

    # Then that recipient's message is skipped, never sent; everyone else's went out
    last.refresh_from_db()
    assert (last.status, last.reason) == (MessageStatus.SKIPPED, "opted_out")
    assert last.id not in sent_message_ids(meta)
    assert statuses(campaign) == {"sent": 9, "skipped": 1}
