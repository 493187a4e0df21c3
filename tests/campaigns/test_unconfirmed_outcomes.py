"""Sends whose outcome is unknown (timeout, 5xx, a worker that died): resent only by policy, only
after Meta had the proof window to report the first attempt, and never when it did.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from campaigns.dispatch import callback_data_for, claim_due_messages, dispatch_chunk
from campaigns.ledger import message_statuses_apply
from campaigns.models import Message, MessageStatus
from campaigns.reconcile import reconcile_expired_leases
from campaigns.transactional import claim_api_message, message_send_now, message_send_transactional
from tests.campaigns.conftest import sent_message_ids
from tests.campaigns.factories import (
    MessageTemplateFactory,
    SenderNumberFactory,
    consented_contacts,
)
from whatsapp.events import StatusEvent

pytestmark = pytest.mark.django_db

ORDER_UPDATE_VALUES = {
    "header.1": "A-1",
    "body.1": "Ana",
    "body.2": "A-1",
    "body.3": "Friday",
    "button.0": "A-1",
}


@pytest.fixture(autouse=True)
def proof_window(settings):
    settings.TIDINGS_UNCONFIRMED_PROOF_WINDOW_SECONDS = 60


def make_due(message: Message) -> None:
    """Time passes: the resend's proof window is over."""
    Message.objects.filter(pk=message.pk).update(
        not_before=timezone.now() - dt.timedelta(seconds=1)
    )


def delivered_report(message: Message, wamid: str = "wamid.FIRST") -> StatusEvent:
    return StatusEvent(
        wamid=wamid,
        status="delivered",
        occurred_at=timezone.now(),
        biz_opaque_callback_data=callback_data_for(message.pk),
    )


def resend_campaign_after_a_timeout(meta, running_campaign) -> Message:
    campaign = running_campaign(1, unknown_outcome_policy="resend")
    meta.delay_next(2.0, endpoint="messages")  # past the 1 s read timeout: ambiguous
    dispatch_chunk(campaign_id=campaign.pk)
    message = Message.objects.get(campaign=campaign)
    assert (message.status, message.reason) == (MessageStatus.QUEUED, "unconfirmed_resend")
    return message


# --- Campaign sends -----------------------------------------------------------------------------


def test_a_timed_out_send_waits_the_proof_window_before_it_is_resent(meta, running_campaign):
    message = resend_campaign_after_a_timeout(meta, running_campaign)

    within_window = dispatch_chunk(campaign_id=message.campaign_id)

    assert message.not_before >= message.sending_at + dt.timedelta(seconds=60)
    assert within_window.claimed == 0
    assert meta.send_count == 1


def test_a_webhook_within_the_window_proves_the_first_attempt_so_it_is_never_resent(
    meta, running_campaign
):
    message = resend_campaign_after_a_timeout(meta, running_campaign)

    message_statuses_apply(statuses=[delivered_report(message)])
    make_due(message)
    later = dispatch_chunk(campaign_id=message.campaign_id)

    message.refresh_from_db()
    assert (message.status, message.wamid) == (MessageStatus.DELIVERED, "wamid.FIRST")
    assert later.claimed == 0
    assert meta.send_count == 1


def test_a_status_event_recorded_for_the_first_attempt_is_checked_again_before_resending(
    meta, running_campaign
):
    message = resend_campaign_after_a_timeout(meta, running_campaign)
    # A report the ledger kept as an event only (a status it does not apply), naming our id.
    message.status_events.create(status="played", occurred_at=timezone.now())
    make_due(message)

    later = dispatch_chunk(campaign_id=message.campaign_id)

    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert later.claimed == 0
    assert meta.send_count == 1


def test_without_proof_after_the_window_the_message_is_resent_once(meta, running_campaign):
    message = resend_campaign_after_a_timeout(meta, running_campaign)
    make_due(message)

    dispatch_chunk(campaign_id=message.campaign_id)

    message.refresh_from_db()
    assert (message.status, message.attempts) == (MessageStatus.SENT, 2)
    assert sent_message_ids(meta) == [message.pk, message.pk]


def test_a_worker_crash_under_the_resend_policy_waits_the_window_from_the_attempt(
    meta, running_campaign
):
    campaign = running_campaign(1, unknown_outcome_policy="resend")
    claim = claim_due_messages(campaign_id=campaign.pk, limit=1, lease_seconds=60)
    started = timezone.now() - dt.timedelta(seconds=30)
    Message.objects.filter(id__in=claim.ids).update(
        sending_at=started,
        handed_over_at=started,
        lease_expires_at=started - dt.timedelta(hours=1),
    )

    counts = reconcile_expired_leases()

    message = Message.objects.get(pk=claim.ids[0])
    assert counts == {"sent": 0, "unknown": 0, "requeued": 1}
    assert (message.status, message.reason) == (MessageStatus.QUEUED, "unconfirmed_resend")
    assert message.not_before == started + dt.timedelta(seconds=60)
    assert message.claim_token is None


# --- API (transactional) sends ----------------------------------------------------------------


def api_message(**extra) -> Message:
    template = MessageTemplateFactory()
    sender = SenderNumberFactory(account=template.account)
    return message_send_transactional(
        contact=consented_contacts(1)[0],
        template=template,
        sender=sender,
        values=dict(ORDER_UPDATE_VALUES),
        idempotency_key=f"api:test:{template.pk}",
        fingerprint="body",
        **extra,
    ).message


def crashed_long_ago(message: Message) -> None:
    """A worker claimed the API message an hour ago and died before recording anything."""
    assert claim_api_message(message.pk, 60) is not None
    long_ago = timezone.now() - dt.timedelta(hours=1)
    Message.objects.filter(pk=message.pk).update(
        sending_at=long_ago, handed_over_at=long_ago, lease_expires_at=long_ago
    )


def test_an_api_message_left_unknown_by_a_crash_is_resent_by_default(meta):
    message = api_message()
    crashed_long_ago(message)

    counts = reconcile_expired_leases()
    status = message_send_now(message_id=message.pk)

    assert counts == {"sent": 0, "unknown": 0, "requeued": 1}
    assert status == MessageStatus.SENT
    assert sent_message_ids(meta) == [message.pk]


def test_an_api_message_is_left_unknown_when_the_policy_says_at_most_once(meta, settings):
    settings.TIDINGS_TRANSACTIONAL_UNKNOWN_OUTCOME_POLICY = "at_most_once"
    message = api_message()
    crashed_long_ago(message)

    counts = reconcile_expired_leases()

    assert counts == {"sent": 0, "unknown": 1, "requeued": 0}
    assert message_send_now(message_id=message.pk) == MessageStatus.UNKNOWN
    assert meta.send_count == 0


def test_an_api_message_with_proof_is_sent_not_resent_after_a_crash(meta):
    message = api_message()
    crashed_long_ago(message)
    message.status_events.create(status="played", occurred_at=timezone.now())

    counts = reconcile_expired_leases()

    assert counts == {"sent": 1, "unknown": 0, "requeued": 0}
    assert message_send_now(message_id=message.pk) == MessageStatus.SENT
    assert meta.send_count == 0


def test_an_api_send_that_timed_out_is_resent_after_the_proof_window_by_default(meta):
    message = api_message()
    meta.delay_next(2.0, endpoint="messages")

    first = message_send_now(message_id=message.pk)
    message.refresh_from_db()
    at_once = message_send_now(message_id=message.pk)  # the tick finds it not due yet

    assert (first, at_once) == (MessageStatus.QUEUED, MessageStatus.QUEUED)
    assert message.reason == "unconfirmed_resend"
    assert message.not_before >= message.sending_at + dt.timedelta(seconds=60)
    assert meta.send_count == 1
