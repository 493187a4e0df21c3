"""Leases: a chunk owns its messages while it sends, and nothing is sent twice when a lease ends.

A live worker renews its lease and never lets a request leave after it; the reconciler waits a
grace period past a lease's end before taking a message over, and a worker whose messages were
taken over can no longer send them or write their results.
"""

from __future__ import annotations

import collections
import datetime as dt
import threading
import time
import uuid

import pytest
from django.db import connection
from django.db.models import F
from django.utils import timezone

from campaigns import dispatch
from campaigns.dispatch import (
    ChunkResult,
    claim_due_messages,
    dispatch_chunk,
    lease_grace_seconds,
    record_outcomes,
)
from campaigns.models import Message, MessageStatus
from campaigns.reconcile import reconcile_expired_leases
from campaigns.sending import SendJob, send_paced
from campaigns.throttle import Reservation
from templates_app.models import SenderNumber
from tests.campaigns.conftest import sent_message_ids
from tests.support.waiting import wait_until
from whatsapp import get_provider, reset_provider
from whatsapp.base import ErrorClass, ProviderError, SendAccepted, TemplateMessage

NO_RECONCILIATION = {"sent": 0, "unknown": 0, "requeued": 0}


def statuses(campaign) -> dict[str, int]:
    return dict(
        collections.Counter(
            Message.objects.filter(campaign=campaign).values_list("status", flat=True)
        )
    )


@pytest.fixture
def short_grace(settings, meta):
    """Meta's timeouts and the reconciler's margin cut down, so a lease is taken over within
    about a second and a half of its end (the provider is rebuilt with the same timeouts)."""
    settings.WHATSAPP_HTTP_CONNECT_TIMEOUT = 0.5
    settings.WHATSAPP_HTTP_READ_TIMEOUT = 1.0
    settings.TIDINGS_DISPATCH_LEASE_MARGIN_SECONDS = 0.0
    settings.TIDINGS_UNCONFIRMED_PROOF_WINDOW_SECONDS = 0
    reset_provider()
    assert lease_grace_seconds() == pytest.approx(1.5)
    return meta


def in_thread(target) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            target()
        except BaseException as error:  # surfaced by the test
            errors.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("policy", ["resend", "at_most_once"])
def test_a_lease_shorter_than_its_chunk_is_renewed_so_neither_reconciler_nor_second_worker_resend(
    short_grace, running_campaign, settings, policy
):
    # Given a one-second lease and a chunk that takes three seconds at 2 messages/s
    settings.TIDINGS_DISPATCH_LEASE_SECONDS = 1
    campaign = running_campaign(6, unknown_outcome_policy=policy)
    SenderNumber.objects.filter(pk=campaign.sender_id).update(throughput_per_second=2)
    worker, errors = in_thread(lambda: dispatch_chunk(campaign_id=campaign.pk, chunk_size=6))
    wait_until(lambda: statuses(campaign).get("sending") == 6)

    # When the reconciler and a second worker keep trying while the first is still sending
    reconciled, second_claims = [], 0
    while worker.is_alive():
        reconciled.append(reconcile_expired_leases())
        second_claims += dispatch_chunk(campaign_id=campaign.pk, chunk_size=6).claimed
        time.sleep(0.2)
    worker.join()

    # Then every message went out exactly once, recorded as sent by the first worker
    assert errors == []
    assert len(reconciled) >= 10  # well past the lease and the grace period
    assert all(counts == NO_RECONCILIATION for counts in reconciled)
    assert second_claims == 0
    sends = collections.Counter(sent_message_ids(short_grace))
    assert sorted(sends) == sorted(
        Message.objects.filter(campaign=campaign).values_list("id", flat=True)
    )
    assert set(sends.values()) == {1}
    assert statuses(campaign) == {"sent": 6}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("policy", ["resend", "at_most_once"])
def test_a_worker_stalled_past_its_lease_sends_nothing_once_the_reconciler_took_over(
    short_grace, running_campaign, settings, monkeypatch, policy
):
    # Given a worker that claimed a chunk and then hangs before sending
    settings.TIDINGS_DISPATCH_LEASE_SECONDS = 1
    campaign = running_campaign(4, unknown_outcome_policy=policy)
    claimed, resume = threading.Event(), threading.Event()
    personalise = dispatch.ChunkDispatcher.personalise

    def hang_then_personalise(self, messages):
        claimed.set()
        resume.wait(30)
        return personalise(self, messages)

    monkeypatch.setattr(dispatch.ChunkDispatcher, "personalise", hang_then_personalise)
    slow, errors = in_thread(lambda: dispatch_chunk(campaign_id=campaign.pk))
    assert claimed.wait(10)
    monkeypatch.setattr(dispatch.ChunkDispatcher, "personalise", personalise)

    # When its lease and the grace period pass, the reconciler decides, and (by policy) another
    # worker sends the messages again
    time.sleep(1 + lease_grace_seconds() + 0.3)
    reconciled = reconcile_expired_leases()
    dispatch_chunk(campaign_id=campaign.pk)
    resume.set()
    slow.join(30)

    # Then the stalled worker sent nothing and overwrote nothing. It had handed nothing to Meta,
    # so under either policy the messages were queued again and went out once, from the other
    assert errors == []
    assert reconciled == {"sent": 0, "unknown": 0, "requeued": 4}
    assert set(collections.Counter(sent_message_ids(short_grace)).values()) == {1}
    assert short_grace.send_count == 4
    assert statuses(campaign) == {"sent": 4}


@pytest.mark.django_db
def test_the_reconciler_leaves_a_lease_alone_until_the_grace_period_after_its_end_has_passed(
    meta, running_campaign
):
    campaign = running_campaign(1)
    claim = claim_due_messages(campaign_id=campaign.pk, limit=1, lease_seconds=60)
    just_ended = timezone.now() - dt.timedelta(seconds=lease_grace_seconds() - 2)
    Message.objects.filter(id__in=claim.ids).update(
        lease_expires_at=just_ended, handed_over_at=F("sending_at")
    )

    within_grace = reconcile_expired_leases()
    Message.objects.filter(id__in=claim.ids).update(
        lease_expires_at=just_ended - dt.timedelta(seconds=3)
    )
    past_grace = reconcile_expired_leases()

    assert within_grace == NO_RECONCILIATION
    assert past_grace == {"sent": 0, "unknown": 1, "requeued": 0}


# --- Writes are guarded by the claim ------------------------------------------------------------


def job_for(message: Message) -> SendJob:
    return SendJob(
        message.id,
        TemplateMessage(
            to=message.contact.phone,
            template_name="order_update",
            language_code="en_US",
            biz_opaque_callback_data=f"tidings:{message.id}",
        ),
    )


def taken_over(campaign, settings) -> tuple[Message, uuid.UUID, uuid.UUID]:
    """Worker A's claim expired long ago; the reconciler queued the message again and worker B
    claimed it. Returns the message and both claims' tokens."""
    settings.TIDINGS_UNCONFIRMED_PROOF_WINDOW_SECONDS = 0
    first = claim_due_messages(campaign_id=campaign.pk, limit=1, lease_seconds=60)
    long_ago = timezone.now() - dt.timedelta(days=1)
    Message.objects.filter(id__in=first.ids).update(
        sending_at=long_ago, handed_over_at=long_ago, lease_expires_at=long_ago
    )
    assert reconcile_expired_leases()["requeued"] == 1
    second = claim_due_messages(campaign_id=campaign.pk, limit=1, lease_seconds=60)
    assert second.ids == first.ids
    return Message.objects.get(pk=first.ids[0]), first.token, second.token


@pytest.mark.django_db
@pytest.mark.parametrize(
    "outcome",
    [
        SendAccepted(wamid="wamid.OLD", wa_id=None, input=None),
        ProviderError(message="undeliverable", error_class=ErrorClass.PERMANENT, code=131026),
        None,  # never left
    ],
    ids=["accepted", "failed", "not-sent"],
)
def test_a_worker_that_lost_its_claim_cannot_overwrite_the_new_owners_message(
    meta, running_campaign, settings, outcome
):
    campaign = running_campaign(1, unknown_outcome_policy="resend")
    message, old_token, new_token = taken_over(campaign, settings)

    record_outcomes(
        [job_for(message)],
        {message.id: outcome} if outcome is not None else {},
        {message.id: {}},
        {message.id: message},
        token=old_token,
        resend_unknown=True,
        result=ChunkResult(),
    )

    message.refresh_from_db()
    assert (message.status, message.claim_token, message.wamid) == (
        MessageStatus.SENDING,
        new_token,
        None,
    )
    assert message.lease_expires_at is not None
    assert message.attempts == 2


@pytest.mark.django_db
def test_an_acceptance_arriving_after_the_reconciler_gave_up_still_proves_the_send(
    meta, running_campaign
):
    campaign = running_campaign(1)
    claim = claim_due_messages(campaign_id=campaign.pk, limit=1, lease_seconds=60)
    long_ago = timezone.now() - dt.timedelta(days=1)
    Message.objects.filter(id__in=claim.ids).update(
        sending_at=long_ago, handed_over_at=long_ago, lease_expires_at=long_ago
    )
    assert reconcile_expired_leases()["unknown"] == 1
    message = Message.objects.get(pk=claim.ids[0])

    record_outcomes(
        [job_for(message)],
        {message.id: SendAccepted(wamid="wamid.LATE", wa_id=None, input=None)},
        {message.id: {"body.1": "Maria"}},
        {message.id: message},
        token=claim.token,
        resend_unknown=False,
        result=ChunkResult(),
    )

    message.refresh_from_db()
    assert (message.status, message.wamid) == (MessageStatus.SENT, "wamid.LATE")


# --- The sender never lets a request leave after the lease ------------------------------------


def test_a_request_still_waiting_for_a_connection_at_the_deadline_never_leaves(meta, settings):
    # Given one connection to Meta, 0.3 s per answer, and six sends all due at once
    settings.WHATSAPP_HTTP_CONCURRENCY = 1
    meta.latency_seconds = 0.3
    reset_provider()
    jobs = [
        SendJob(
            number,
            TemplateMessage(
                to=f"+44791100000{number}",
                template_name="order_update",
                language_code="en_US",
                biz_opaque_callback_data=f"tidings:{number}",
            ),
        )
        for number in range(1, 7)
    ]
    deadline = time.monotonic() + 0.5

    # When the lease ends after half a second
    result = send_paced(
        provider=get_provider(),
        phone_number_id="pn-1",
        jobs=jobs,
        reserve=lambda wanted, horizon: Reservation(wanted, time.monotonic(), 0.001),
        keep_going=lambda: deadline,
        hand_over=lambda batch: batch,
    )

    # Then only the requests that got their connection before it left; the rest came back unsent
    assert sorted(result.outcomes) == [1, 2]
    assert result.submitted == {1, 2, 3, 4, 5, 6}
    assert sorted(sent_message_ids(meta)) == [1, 2]
    assert all(request.received_at < deadline for request in meta.message_requests)
