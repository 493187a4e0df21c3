"""A chunk that breaks half-way: what never left goes back to the queue, what left is recorded.

Nothing is lost in `sending` to be marked unknown later although it was never sent, and nothing
that did leave is queued to go out again.
"""

from __future__ import annotations

import collections

import pytest
import redis
from django.db import DatabaseError

from campaigns import dispatch, personalisation, throttle
from campaigns.dispatch import dispatch_chunk
from campaigns.models import Message, MessageStatus
from templates_app.models import SenderNumber
from tests.campaigns.conftest import sent_message_ids
from tests.support.waiting import wait_until

pytestmark = pytest.mark.django_db


def rows(campaign) -> dict[int, tuple[str, int]]:
    return {
        message_id: (status, attempts)
        for message_id, status, attempts in Message.objects.filter(campaign=campaign).values_list(
            "id", "status", "attempts"
        )
    }


def test_a_redis_failure_between_batches_records_what_left_and_queues_the_rest_untouched(
    meta, running_campaign, monkeypatch
):
    # Given a chunk of six at 2 messages/s (two reservations at least) and Redis failing on the
    # second reservation
    campaign = running_campaign(6)
    SenderNumber.objects.filter(pk=campaign.sender_id).update(throughput_per_second=2)
    reserve, calls = throttle.reserve, []

    def reserve_then_fail(**kwargs):
        calls.append(kwargs)
        if len(calls) > 1:
            wait_until(lambda: meta.send_count == 1)  # the first batch has left
            raise redis.exceptions.ConnectionError("Connection reset by peer")
        return reserve(**kwargs)

    monkeypatch.setattr(throttle, "reserve", reserve_then_fail)

    # When the chunk is dispatched
    with pytest.raises(redis.exceptions.ConnectionError):
        dispatch_chunk(campaign_id=campaign.pk)

    # Then the first batch is recorded as sent and the others are queued, attempt not counted
    sent = set(sent_message_ids(meta))
    after = rows(campaign)
    assert len(sent) == 1
    assert {after[message_id] for message_id in sent} == {(MessageStatus.SENT, 1)}
    assert {value for key, value in after.items() if key not in sent} == {(MessageStatus.QUEUED, 0)}

    # And the next chunk sends the rest, each message once in all
    monkeypatch.setattr(throttle, "reserve", reserve)
    SenderNumber.objects.filter(pk=campaign.sender_id).update(throughput_per_second=80)
    dispatch_chunk(campaign_id=campaign.pk)
    assert sorted(collections.Counter(sent_message_ids(meta)).values()) == [1] * 6
    assert {status for status, _ in rows(campaign).values()} == {MessageStatus.SENT}


def test_a_personalisation_error_hands_the_whole_chunk_back_before_anything_leaves(
    meta, running_campaign, monkeypatch
):
    campaign = running_campaign(3)

    def broken(**kwargs):
        raise RuntimeError("cache unreachable")

    monkeypatch.setattr(personalisation, "personalise_contacts", broken)

    with pytest.raises(RuntimeError):
        dispatch_chunk(campaign_id=campaign.pk)

    assert set(rows(campaign).values()) == {(MessageStatus.QUEUED, 0)}
    assert meta.send_count == 0


def test_a_database_error_while_recording_leaves_what_was_sent_to_the_reconciler_not_the_queue(
    meta, running_campaign, monkeypatch
):
    # Given Meta accepts the whole chunk but the database fails when the results are written
    campaign = running_campaign(3)

    def broken(*args, **kwargs):
        raise DatabaseError("server closed the connection unexpectedly")

    monkeypatch.setattr(dispatch, "_record_accepted", broken)

    with pytest.raises(DatabaseError):
        dispatch_chunk(campaign_id=campaign.pk)

    # Then nothing is queued to go out again: the messages keep their lease for the reconciler
    assert meta.send_count == 3
    assert set(rows(campaign).values()) == {(MessageStatus.SENDING, 1)}
    assert dispatch_chunk(campaign_id=campaign.pk).claimed == 0
