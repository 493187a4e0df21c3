"""Meta's per-user marketing limit (131049): one retry at least a day later, from either path.

131049 arrives in the send response or, more often, in a `failed` status webhook. Either way the
message is sent once more 24 h later; a second 131049 ends it failed. From a webhook, the message
stays failed (keeping its wamid) until the retry is due, so Meta's late reports of the first
attempt are still read as reports of that attempt.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from campaigns.dispatch import callback_data_for, dispatch_chunk, release_deferred
from campaigns.ledger import message_statuses_apply
from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus
from campaigns.services import campaign_complete_if_done
from tests.campaigns.conftest import sent_message_ids
from whatsapp.events import EventError, StatusEvent

pytestmark = pytest.mark.django_db

A_DAY = dt.timedelta(hours=24)


def only_message(campaign: Campaign) -> Message:
    return Message.objects.get(campaign=campaign)


def failed_131049(message: Message, wamid: str) -> StatusEvent:
    return StatusEvent(
        wamid=wamid,
        status="failed",
        occurred_at=timezone.now(),
        biz_opaque_callback_data=callback_data_for(message.pk),
        errors=(
            EventError(
                code=131049,
                title="This message was not delivered to maintain healthy ecosystem engagement.",
                message="",
                details="In order to maintain a healthy ecosystem engagement, the message failed "
                "to be delivered.",
            ),
        ),
    )


def make_due(message: Message) -> None:
    Message.objects.filter(pk=message.pk).update(
        not_before=timezone.now() - dt.timedelta(seconds=1)
    )


def a_day_passes(message: Message) -> None:
    make_due(message)
    release_deferred()


def report(message: Message, status: str, wamid: str) -> StatusEvent:
    return StatusEvent(
        wamid=wamid,
        status=status,
        occurred_at=timezone.now(),
        biz_opaque_callback_data=callback_data_for(message.pk),
    )


def sent_once(meta, running_campaign) -> Message:
    campaign = running_campaign(1)
    dispatch_chunk(campaign_id=campaign.pk)
    message = only_message(campaign)
    assert message.status == MessageStatus.SENT
    return message


# --- In the send response -----------------------------------------------------------------------


def test_a_131049_answer_is_retried_once_a_day_later_even_after_an_earlier_transient_error(
    meta, running_campaign
):
    # Given a message whose first attempt met a transient error
    campaign = running_campaign(1)
    meta.fail_next(131000, endpoint="messages")
    dispatch_chunk(campaign_id=campaign.pk)
    make_due(only_message(campaign))

    # When the second attempt is answered 131049
    meta.fail_next(131049, endpoint="messages")
    dispatch_chunk(campaign_id=campaign.pk)

    # Then it is queued once more, at least a day later
    message = only_message(campaign)
    assert (message.status, message.reason, message.attempts) == (
        MessageStatus.QUEUED,
        "marketing_limit_retry",
        2,
    )
    assert message.marketing_limit_retried
    assert message.not_before >= timezone.now() + A_DAY - dt.timedelta(minutes=1)


def test_a_second_131049_answer_fails_the_message(meta, running_campaign):
    campaign = running_campaign(1)
    meta.fail_next(131049, endpoint="messages")
    dispatch_chunk(campaign_id=campaign.pk)
    make_due(only_message(campaign))

    meta.fail_next(131049, endpoint="messages")
    dispatch_chunk(campaign_id=campaign.pk)

    message = only_message(campaign)
    assert (message.status, message.error_code) == (MessageStatus.FAILED, 131049)
    assert meta.send_count == 2


# --- In a status webhook ------------------------------------------------------------------------


def test_a_131049_webhook_schedules_one_retry_a_day_later(meta, running_campaign):
    message = sent_once(meta, running_campaign)
    first_wamid = message.wamid

    message_statuses_apply(statuses=[failed_131049(message, first_wamid)])

    message.refresh_from_db()
    assert (message.status, message.reason, message.error_code, message.wamid) == (
        MessageStatus.FAILED,
        "marketing_limit_retry",
        131049,
        first_wamid,
    )
    assert message.marketing_limit_retried
    assert message.not_before >= timezone.now() + A_DAY - dt.timedelta(minutes=1)
    release_deferred()
    assert dispatch_chunk(campaign_id=message.campaign_id).claimed == 0


def test_when_the_day_has_passed_the_retry_is_queued_without_the_first_attempts_wamid(
    meta, running_campaign
):
    message = sent_once(meta, running_campaign)
    message_statuses_apply(statuses=[failed_131049(message, message.wamid)])

    a_day_passes(message)

    message.refresh_from_db()
    assert (message.status, message.wamid, message.sent_at, message.failed_at) == (
        MessageStatus.QUEUED,
        None,
        None,
        None,
    )


def test_the_retry_goes_out_once_and_a_second_131049_webhook_fails_it(meta, running_campaign):
    message = sent_once(meta, running_campaign)
    first_wamid = message.wamid
    message_statuses_apply(statuses=[failed_131049(message, first_wamid)])
    a_day_passes(message)

    dispatch_chunk(campaign_id=message.campaign_id)
    message.refresh_from_db()
    retry_wamid = message.wamid
    message_statuses_apply(statuses=[failed_131049(message, retry_wamid)])

    message.refresh_from_db()
    assert retry_wamid not in (None, first_wamid)
    assert sent_message_ids(meta) == [message.pk, message.pk]
    assert (message.status, message.error_code, message.wamid) == (
        MessageStatus.FAILED,
        131049,
        retry_wamid,
    )
    a_day_passes(message)
    assert Message.objects.get(pk=message.pk).status == MessageStatus.FAILED


def test_a_repeated_delivery_of_the_first_failure_leaves_the_waiting_retry_alone(
    meta, running_campaign
):
    message = sent_once(meta, running_campaign)
    first = failed_131049(message, message.wamid)
    message_statuses_apply(statuses=[first])
    message.refresh_from_db()
    retry_at = message.not_before

    message_statuses_apply(statuses=[first])  # Meta delivers statuses twice

    message.refresh_from_db()
    assert (message.status, message.reason, message.not_before) == (
        MessageStatus.FAILED,
        "marketing_limit_retry",
        retry_at,
    )


def test_a_late_sent_report_of_the_first_attempt_leaves_the_retry_scheduled(meta, running_campaign):
    message = sent_once(meta, running_campaign)
    first_wamid = message.wamid
    message_statuses_apply(statuses=[failed_131049(message, first_wamid)])

    message_statuses_apply(statuses=[report(message, "sent", first_wamid)])

    message.refresh_from_db()
    assert (message.status, message.reason) == (MessageStatus.FAILED, "marketing_limit_retry")
    a_day_passes(message)
    dispatch_chunk(campaign_id=message.campaign_id)
    assert sent_message_ids(meta) == [message.pk, message.pk]


def test_a_delivered_report_of_the_first_attempt_cancels_the_retry(meta, running_campaign):
    message = sent_once(meta, running_campaign)
    first_wamid = message.wamid
    message_statuses_apply(statuses=[failed_131049(message, first_wamid)])

    message_statuses_apply(statuses=[report(message, "delivered", first_wamid)])
    a_day_passes(message)
    dispatch_chunk(campaign_id=message.campaign_id)

    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED
    assert sent_message_ids(meta) == [message.pk]


def test_a_131049_answered_at_send_time_and_then_by_webhook_for_the_retry_ends_failed(
    meta, running_campaign
):
    campaign = running_campaign(1)
    meta.fail_next(131049, endpoint="messages")
    dispatch_chunk(campaign_id=campaign.pk)
    make_due(only_message(campaign))
    dispatch_chunk(campaign_id=campaign.pk)
    message = only_message(campaign)

    message_statuses_apply(statuses=[failed_131049(message, message.wamid)])

    message.refresh_from_db()
    assert (message.status, message.error_code) == (MessageStatus.FAILED, 131049)


def test_a_campaign_that_completed_runs_again_when_its_131049_retry_is_due(meta, running_campaign):
    message = sent_once(meta, running_campaign)
    assert campaign_complete_if_done(campaign_id=message.campaign_id)

    message_statuses_apply(statuses=[failed_131049(message, message.wamid)])
    assert Campaign.objects.get(pk=message.campaign_id).status == CampaignStatus.COMPLETED
    a_day_passes(message)

    campaign = Campaign.objects.get(pk=message.campaign_id)
    assert (campaign.status, campaign.finished_at) == (CampaignStatus.RUNNING, None)
    assert not campaign_complete_if_done(campaign_id=campaign.pk)
