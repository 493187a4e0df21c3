"""Dispatch: exactly once, only with consent, at Meta's pace, and honest about Meta's answers."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection
from django.utils import timezone

from campaigns.dispatch import claim_due_messages, dispatch_chunk, release_deferred
from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus
from campaigns.reconcile import reconcile_expired_leases
from campaigns.services import campaign_pause, campaign_resume
from contacts.models import ConsentAction, ConsentRecord, ConsentScope
from templates_app.models import SenderNumber
from tests.campaigns.conftest import sent_message_ids
from tests.campaigns.factories import ContactFactory, MessageFactory, opt_out

pytestmark = pytest.mark.django_db


def statuses(campaign: Campaign) -> dict[str, int]:
    counts: dict[str, int] = {}
    for status in Message.objects.filter(campaign=campaign).values_list("status", flat=True):
        counts[status] = counts.get(status, 0) + 1
    return counts


def test_a_chunk_sends_each_queued_message_once_with_our_id_and_records_the_wamid(
    meta, running_campaign
):
    campaign = running_campaign(3)

    result = dispatch_chunk(campaign_id=campaign.pk)

    assert (result.claimed, result.sent) == (3, 3)
    messages = Message.objects.filter(campaign=campaign)
    assert sorted(sent_message_ids(meta)) == sorted(m.id for m in messages)
    accepted_wamids = {body["_wamid"] for body in meta.accepted_messages}
    for message in messages:
        assert message.status == MessageStatus.SENT
        assert message.wamid in accepted_wamids
        assert message.sent_at is not None
        assert message.lease_expires_at is None
        assert message.parameters["body.3"] == "Friday"
    body = meta.accepted_messages[0]
    assert body["type"] == "template"
    assert body["template"]["name"] == "order_update"
    assert all(
        isinstance(p["text"], str)
        for c in body["template"]["components"]
        for p in c.get("parameters", [])
        if p["type"] == "text"
    )


def test_nothing_is_claimed_twice_and_a_second_chunk_finds_nothing(meta, running_campaign):
    campaign = running_campaign(2)
    dispatch_chunk(campaign_id=campaign.pk)

    second = dispatch_chunk(campaign_id=campaign.pk)

    assert second.claimed == 0
    assert meta.send_count == 2


def test_an_opt_out_committed_mid_campaign_stops_that_send(meta, running_campaign):
    campaign = running_campaign(3)
    stopping = Message.objects.filter(campaign=campaign).order_by("id").first()
    opt_out(stopping.contact)

    dispatch_chunk(campaign_id=campaign.pk)

    stopping.refresh_from_db()
    assert (stopping.status, stopping.reason) == (MessageStatus.SKIPPED, "opted_out")
    assert stopping.id not in sent_message_ids(meta)
    assert meta.send_count == 2


def test_a_message_past_its_validity_expires_instead_of_going_out_late(meta, running_campaign):
    campaign = running_campaign(1)
    Message.objects.filter(campaign=campaign).update(
        expires_at=timezone.now() - dt.timedelta(minutes=1)
    )

    dispatch_chunk(campaign_id=campaign.pk)

    assert statuses(campaign) == {"expired": 1}
    assert meta.send_count == 0


def test_a_paused_campaign_claims_nothing_and_resume_never_resends(
    meta, running_campaign, django_capture_on_commit_callbacks
):
    campaign = running_campaign(4)
    dispatch_chunk(campaign_id=campaign.pk, chunk_size=2)
    campaign_pause(campaign_id=campaign.pk)

    while_paused = dispatch_chunk(campaign_id=campaign.pk)
    with django_capture_on_commit_callbacks(execute=True):
        campaign_resume(campaign_id=campaign.pk)  # enqueues dispatch (eager in tests)

    assert while_paused.claimed == 0
    assert meta.send_count == 4
    assert sorted(sent_message_ids(meta)) == sorted(
        Message.objects.filter(campaign=campaign).values_list("id", flat=True)
    )
    assert statuses(campaign) == {"sent": 4}


@pytest.mark.django_db(transaction=True)
def test_two_workers_dispatching_at_once_never_send_the_same_message(meta, running_campaign):
    campaign = running_campaign(60)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            while dispatch_chunk(campaign_id=campaign.pk, chunk_size=7).claimed:
                pass
        except BaseException as error:  # surfaced below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    ids = sent_message_ids(meta)
    assert len(ids) == 60
    assert len(set(ids)) == 60
    assert statuses(campaign) == {"sent": 60}


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_two_workers_share_the_senders_cap_no_one_second_window_holds_more(meta, running_campaign):
    campaign = running_campaign(45)
    SenderNumber.objects.filter(pk=campaign.sender_id).update(throughput_per_second=15)

    def worker() -> None:
        try:
            while dispatch_chunk(campaign_id=campaign.pk, chunk_size=10).claimed:
                pass
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    arrivals = sorted(request.received_at for request in meta.message_requests)
    assert len(arrivals) == 45
    busiest = max(sum(1 for t in arrivals if start <= t < start + 1.0) for start in arrivals)
    assert busiest <= 15


# --- Meta's answers ---------------------------------------------------------------------------


def only_message(campaign: Campaign) -> Message:
    return Message.objects.get(campaign=campaign)


@pytest.mark.parametrize("code", [130429, 131000])
def test_a_retryable_error_requeues_the_message_for_later(meta, running_campaign, code):
    campaign = running_campaign(1)
    meta.fail_next(code, endpoint="messages")

    dispatch_chunk(campaign_id=campaign.pk)

    message = only_message(campaign)
    assert (message.status, message.reason, message.attempts) == (
        MessageStatus.QUEUED,
        "retrying",
        1,
    )
    assert message.not_before > timezone.now()
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.RUNNING


def test_a_5xx_is_ambiguous_so_a_marketing_style_campaign_marks_it_unknown(meta, running_campaign):
    campaign = running_campaign(1)
    meta.server_error_next(endpoint="messages")

    dispatch_chunk(campaign_id=campaign.pk)

    assert only_message(campaign).status == MessageStatus.UNKNOWN
    assert meta.send_count == 1


def test_a_5xx_with_metas_retryable_error_is_retried_after_the_proof_window_even_at_most_once(
    meta, running_campaign, settings
):
    settings.TIDINGS_UNCONFIRMED_PROOF_WINDOW_SECONDS = 60
    campaign = running_campaign(1)  # at most once
    meta.fail_next(131000, http_status=500, endpoint="messages")

    dispatch_chunk(campaign_id=campaign.pk)
    again_at_once = dispatch_chunk(campaign_id=campaign.pk)

    message = only_message(campaign)
    assert (message.status, message.reason) == (MessageStatus.QUEUED, "unconfirmed_resend")
    assert message.not_before >= message.sending_at + dt.timedelta(seconds=60)
    assert again_at_once.claimed == 0
    Message.objects.filter(pk=message.pk).update(not_before=timezone.now())
    dispatch_chunk(campaign_id=campaign.pk)
    assert only_message(campaign).status == MessageStatus.SENT
    assert meta.send_count == 2


def test_a_5xx_is_resent_only_after_the_proof_window_when_the_campaign_allows_resending(
    meta, running_campaign, settings
):
    settings.TIDINGS_UNCONFIRMED_PROOF_WINDOW_SECONDS = 60
    campaign = running_campaign(1, unknown_outcome_policy="resend")
    meta.server_error_next(endpoint="messages")

    dispatch_chunk(campaign_id=campaign.pk)
    again_at_once = dispatch_chunk(campaign_id=campaign.pk)

    message = only_message(campaign)
    assert (message.status, message.reason) == (MessageStatus.QUEUED, "unconfirmed_resend")
    assert message.not_before >= message.sending_at + dt.timedelta(seconds=60)
    assert again_at_once.claimed == 0
    assert meta.send_count == 1


def test_the_pair_rate_limit_retries_that_recipient_only_later(meta, running_campaign):
    campaign = running_campaign(1)
    meta.fail_next(131056, endpoint="messages")

    dispatch_chunk(campaign_id=campaign.pk)

    message = only_message(campaign)
    assert message.status == MessageStatus.QUEUED
    assert message.not_before > timezone.now()


def test_an_undeliverable_recipient_fails_permanently_with_metas_code(meta, running_campaign):
    campaign = running_campaign(1)
    meta.fail_next(131026, details="Receiver is incapable of receiving this message")

    dispatch_chunk(campaign_id=campaign.pk)

    message = only_message(campaign)
    assert (message.status, message.error_code) == (MessageStatus.FAILED, 131026)
    assert message.error_details == "Receiver is incapable of receiving this message"
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.RUNNING


def test_the_per_user_marketing_limit_is_retried_once_after_a_day(meta, running_campaign):
    campaign = running_campaign(1)
    meta.fail_next(131049)

    dispatch_chunk(campaign_id=campaign.pk)

    message = only_message(campaign)
    assert message.status == MessageStatus.QUEUED
    assert message.not_before > timezone.now() + dt.timedelta(hours=23)


def test_user_stopped_marketing_fails_and_appends_a_marketing_opt_out(meta, running_campaign):
    campaign = running_campaign(1)
    meta.fail_next(131050)

    dispatch_chunk(campaign_id=campaign.pk)

    message = only_message(campaign)
    assert (message.status, message.error_code) == (MessageStatus.FAILED, 131050)
    latest = ConsentRecord.objects.filter(contact=message.contact).latest("id")
    assert (latest.action, latest.scope) == (ConsentAction.OPT_OUT, ConsentScope.MARKETING)


@pytest.mark.parametrize("code", [190, 131042, 132000, 132015])
def test_an_account_level_error_stops_the_campaign_and_keeps_the_rest_queued(
    meta, running_campaign, code
):
    campaign = running_campaign(1)
    meta.fail_next(code, endpoint="messages")

    dispatch_chunk(campaign_id=campaign.pk)

    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.STOPPED
    assert str(code) in campaign.status_reason
    message = only_message(campaign)
    assert (message.status, message.attempts) == (MessageStatus.QUEUED, 0)


def test_after_an_account_error_resume_completes_without_duplicates(
    meta, running_campaign, django_capture_on_commit_callbacks
):
    campaign = running_campaign(5)
    meta.fail_next(190, endpoint="messages")
    dispatch_chunk(campaign_id=campaign.pk, chunk_size=1)
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.STOPPED

    with django_capture_on_commit_callbacks(execute=True):
        campaign_resume(campaign_id=campaign.pk)

    ids = sent_message_ids(meta)
    assert sorted(ids) == sorted(
        Message.objects.filter(campaign=campaign).values_list("id", flat=True)
    )
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.COMPLETED


def test_a_read_timeout_leaves_the_outcome_unknown_rather_than_resending(meta, running_campaign):
    campaign = running_campaign(1)
    meta.delay_next(2.0, endpoint="messages")

    dispatch_chunk(campaign_id=campaign.pk)

    message = only_message(campaign)
    assert message.status == MessageStatus.UNKNOWN
    assert meta.send_count == 1


# --- Leases and reconciliation ----------------------------------------------------------------


def crash_after_claim(campaign: Campaign) -> list[int]:
    """A worker claimed messages a day ago, handed them to Meta and died before recording
    anything."""
    claim = claim_due_messages(campaign_id=campaign.pk, limit=10, lease_seconds=60)
    long_ago = timezone.now() - dt.timedelta(days=1)
    Message.objects.filter(id__in=claim.ids).update(
        sending_at=long_ago, handed_over_at=long_ago, lease_expires_at=long_ago
    )
    return claim.ids


def test_an_expired_lease_without_proof_becomes_unknown_and_is_not_resent(meta, running_campaign):
    campaign = running_campaign(2)
    crash_after_claim(campaign)

    counts = reconcile_expired_leases()
    dispatch_chunk(campaign_id=campaign.pk)

    assert counts == {"sent": 0, "unknown": 2, "requeued": 0}
    assert statuses(campaign) == {"unknown": 2}
    assert meta.send_count == 0


def test_an_expired_lease_with_a_status_webhook_as_proof_counts_as_sent(meta, running_campaign):
    campaign = running_campaign(2)
    proven, unproven = crash_after_claim(campaign)
    Message.objects.get(pk=proven).status_events.create(
        status="delivered", occurred_at=timezone.now()
    )

    counts = reconcile_expired_leases()

    assert counts == {"sent": 1, "unknown": 1, "requeued": 0}
    assert Message.objects.get(pk=proven).status == MessageStatus.SENT
    assert Message.objects.get(pk=unproven).status == MessageStatus.UNKNOWN


def test_a_resend_policy_requeues_unproven_messages(meta, running_campaign):
    campaign = running_campaign(1, unknown_outcome_policy="resend")
    crash_after_claim(campaign)

    counts = reconcile_expired_leases()
    dispatch_chunk(campaign_id=campaign.pk)

    assert counts == {"sent": 0, "unknown": 0, "requeued": 1}
    assert statuses(campaign) == {"sent": 1}
    assert meta.send_count == 1


# --- Meta's limits ----------------------------------------------------------------------------


def test_recipients_beyond_the_daily_tier_budget_are_deferred_not_failed(meta, running_campaign):
    campaign = running_campaign(4)
    SenderNumber.objects.filter(pk=campaign.sender_id).update(
        messaging_limit_tier=SenderNumber.MessagingLimitTier.TIER_50
    )
    earlier = MessageFactory.create_batch(
        48,
        campaign__template=campaign.template,
        status=MessageStatus.DELIVERED,
        sent_at=timezone.now() - dt.timedelta(hours=2),
    )
    Message.objects.filter(id__in=[m.id for m in earlier]).update(sender=campaign.sender)

    dispatch_chunk(campaign_id=campaign.pk)

    assert statuses(campaign) == {"sent": 2, "deferred": 2}
    deferred = Message.objects.filter(campaign=campaign, status=MessageStatus.DEFERRED)
    assert {m.reason for m in deferred} == {"messaging_limit"}
    assert all(m.not_before > timezone.now() + dt.timedelta(hours=21) for m in deferred)


def test_a_recipient_messaged_seconds_ago_is_deferred_for_the_pair_rate(meta, running_campaign):
    campaign = running_campaign(1)
    contact = Message.objects.get(campaign=campaign).contact
    MessageFactory(contact=contact, status=MessageStatus.SENT, sent_at=timezone.now())

    dispatch_chunk(campaign_id=campaign.pk)

    message = only_message(campaign)
    assert (message.status, message.reason) == (MessageStatus.DEFERRED, "pair_rate")
    assert meta.send_count == 0


def test_quiet_hours_at_send_time_defer_and_release_later(meta, running_campaign):
    now = timezone.now()
    campaign = running_campaign(
        1,
        quiet_hours_start=(now - dt.timedelta(hours=1)).time(),
        quiet_hours_end=(now + dt.timedelta(hours=1)).time(),
    )
    Message.objects.filter(campaign=campaign).update(not_before=None)
    ContactFactory._meta.model.objects.update(timezone="UTC")

    dispatch_chunk(campaign_id=campaign.pk)
    released_now = release_deferred()
    released_later = release_deferred(now=now + dt.timedelta(hours=2))

    message = only_message(campaign)
    assert (released_now, released_later) == (0, 1)
    assert message.status == MessageStatus.QUEUED
    assert meta.send_count == 0


def test_a_template_paused_since_planning_stops_the_campaign_before_any_send(
    meta, running_campaign
):
    from templates_app.models import TemplateStatus

    campaign = running_campaign(2)
    campaign.template.status = TemplateStatus.PAUSED
    campaign.template.save()

    dispatch_chunk(campaign_id=campaign.pk)

    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.STOPPED
    assert campaign.status_reason.startswith("Template order_update (en_US) is PAUSED")
    assert statuses(campaign) == {"queued": 2}
    assert set(Message.objects.filter(campaign=campaign).values_list("attempts", flat=True)) == {0}
    assert meta.send_count == 0
