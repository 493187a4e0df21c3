"""The messaging-limit tier: unique recipients per rolling 24 h, held across concurrent workers.

The budget is reserved when messages are claimed, under a lock on the account and counting what
is in flight, so two workers can never each see room for the same last places.
"""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from campaigns import dispatch
from campaigns.dispatch import claim_due_messages, dispatch_chunk
from campaigns.models import Message, MessageStatus
from templates_app.models import SenderNumber
from tests.campaigns.conftest import sent_message_ids
from tests.campaigns.factories import (
    CampaignFactory,
    ContactFactory,
    MessageFactory,
    SenderNumberFactory,
)


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_never_reach_more_unique_recipients_than_the_tier(
    meta, running_campaign, monkeypatch
):
    # Given a TIER_50 number and a campaign to 100 consented contacts, and claims slow enough
    # between counting the budget and committing that two of them always overlap
    campaign = running_campaign(100)
    admit = dispatch._admit_within_budget

    def admit_slowly(*args, **kwargs):
        admitted = admit(*args, **kwargs)
        time.sleep(0.5)
        return admitted

    monkeypatch.setattr(dispatch, "_admit_within_budget", admit_slowly)
    SenderNumber.objects.filter(pk=campaign.sender_id).update(
        messaging_limit_tier=SenderNumber.MessagingLimitTier.TIER_50, throughput_per_second=20
    )
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def worker() -> None:
        try:
            start.wait()
            dispatch_chunk(campaign_id=campaign.pk, chunk_size=40)
        except BaseException as error:  # surfaced below
            errors.append(error)
        finally:
            connection.close()

    # When two workers dispatch a chunk of 40 each at the same moment
    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # Then at most 50 people were messaged; the others wait for the window, deferred
    assert errors == []
    reached = set(sent_message_ids(meta))
    assert len(reached) == 50
    counts = dict(
        Message.objects.filter(campaign=campaign)
        .order_by()
        .values_list("status")
        .annotate(n=Count("id"))
    )
    assert counts == {"sent": 50, "deferred": 30, "queued": 20}
    deferred = Message.objects.filter(campaign=campaign, status=MessageStatus.DEFERRED)
    assert {m.reason for m in deferred} == {"messaging_limit"}
    assert all(m.not_before > timezone.now() + dt.timedelta(hours=23) for m in deferred)


@pytest.mark.django_db
def test_messages_in_flight_on_another_number_of_the_account_use_up_the_budget(
    meta, running_campaign
):
    # Given a TIER_50 portfolio with 49 recipients reached and one send in flight (claimed, not
    # yet answered) on another of its numbers
    campaign = running_campaign(3)
    sender = campaign.sender
    SenderNumber.objects.filter(account_id=sender.account_id).update(
        messaging_limit_tier=SenderNumber.MessagingLimitTier.TIER_50
    )
    other_number = SenderNumberFactory(account=sender.account)
    earlier = MessageFactory.create_batch(
        49,
        campaign__template=campaign.template,
        status=MessageStatus.DELIVERED,
        sent_at=timezone.now() - dt.timedelta(hours=3),
    )
    in_flight = MessageFactory(
        campaign__template=campaign.template, contact=ContactFactory(), status=MessageStatus.SENDING
    )
    Message.objects.filter(id__in=[m.id for m in earlier]).update(sender=sender)
    Message.objects.filter(id=in_flight.id).update(sender=other_number)

    # When the campaign's chunk is claimed
    claim = claim_due_messages(campaign_id=campaign.pk, limit=10, lease_seconds=60)

    # Then no place is left: the budget is spent once the in-flight send is counted
    assert claim.ids == []
    assert claim.deferred == 3
    assert set(Message.objects.filter(campaign=campaign).values_list("status", "reason")) == {
        (MessageStatus.DEFERRED, "messaging_limit")
    }


@pytest.mark.django_db
def test_a_recipient_already_reached_today_costs_no_new_place(meta, running_campaign):
    # Given a TIER_50 number whose 50 places are all used, one of them by our recipient
    campaign = running_campaign(1)
    SenderNumber.objects.filter(pk=campaign.sender_id).update(
        messaging_limit_tier=SenderNumber.MessagingLimitTier.TIER_50
    )
    ours = Message.objects.get(campaign=campaign)
    earlier = MessageFactory.create_batch(
        49,
        campaign__template=campaign.template,
        status=MessageStatus.DELIVERED,
        sent_at=timezone.now() - dt.timedelta(hours=3),
    )
    earlier.append(
        MessageFactory(
            campaign=CampaignFactory(template=campaign.template),
            contact=ours.contact,
            status=MessageStatus.DELIVERED,
            sent_at=timezone.now() - dt.timedelta(hours=3),
        )
    )
    Message.objects.filter(id__in=[m.id for m in earlier]).update(sender=campaign.sender)

    # When the campaign is dispatched
    result = dispatch_chunk(campaign_id=campaign.pk)

    # Then the message goes out: that person is already counted in the window
    assert (result.claimed, result.sent, result.deferred) == (1, 1, 0)
    assert sent_message_ids(meta) == [ours.id]
