"""The hand-over: the moment a send is given to the provider, after consent was read once more.

From the hand-over on a request may have reached Meta; before it, nothing can have. So a worker
that dies before handing its messages over leaves nothing in doubt, and an opt-out is either seen
by the hand-over or committed after it: never a send decided on consent already withdrawn.
"""

from __future__ import annotations

import collections
import datetime as dt
import threading

import pytest
from django.db import connection, transaction
from django.utils import timezone

from campaigns.dispatch import (
    callback_data_for,
    claim_due_messages,
    dispatch_chunk,
    messages_hand_over,
)
from campaigns.models import Message, MessageStatus
from campaigns.reconcile import reconcile_expired_leases
from campaigns.sending import SendJob
from contacts.models import ConsentScope, ConsentSource
from contacts.services import consent_record_opt_out
from tests.campaigns.conftest import sent_message_ids
from whatsapp.base import TemplateMessage


def job_for(message: Message) -> SendJob:
    return SendJob(
        message.id,
        TemplateMessage(
            to=message.contact.phone,
            template_name="order_update",
            language_code="en_US",
            biz_opaque_callback_data=callback_data_for(message.id),
        ),
    )


@pytest.mark.django_db
def test_a_worker_that_died_before_handing_its_messages_over_leaves_them_queued_not_unknown(
    meta, running_campaign
):
    # Given a marketing-style campaign (at most once) whose worker claimed two messages and died
    # before handing them to the provider
    campaign = running_campaign(2, unknown_outcome_policy="at_most_once")
    claim = claim_due_messages(campaign_id=campaign.pk, limit=10, lease_seconds=60)
    long_ago = timezone.now() - dt.timedelta(days=1)
    Message.objects.filter(id__in=claim.ids).update(sending_at=long_ago, lease_expires_at=long_ago)

    # When the reconciler settles them and dispatch goes on
    counts = reconcile_expired_leases()
    requeued = list(Message.objects.filter(campaign=campaign).values_list("status", "attempts"))
    dispatch_chunk(campaign_id=campaign.pk)

    # Then they were queued again with the attempt not counted, and each went out once
    assert counts == {"sent": 0, "unknown": 0, "requeued": 2}
    assert requeued == [(MessageStatus.QUEUED, 0)] * 2
    assert sorted(collections.Counter(sent_message_ids(meta)).values()) == [1, 1]


@pytest.mark.django_db
def test_a_message_handed_over_under_an_earlier_claim_is_in_doubt_under_a_later_one(
    meta, running_campaign
):
    campaign = running_campaign(1, unknown_outcome_policy="at_most_once")
    claim = claim_due_messages(campaign_id=campaign.pk, limit=1, lease_seconds=60)
    long_ago = timezone.now() - dt.timedelta(days=1)
    Message.objects.filter(id__in=claim.ids).update(
        sending_at=long_ago, handed_over_at=long_ago, lease_expires_at=long_ago
    )

    assert reconcile_expired_leases() == {"sent": 0, "unknown": 1, "requeued": 0}
    assert meta.send_count == 0


@pytest.mark.django_db
def test_only_messages_still_under_the_claim_are_handed_over(running_campaign):
    campaign = running_campaign(2)
    claim = claim_due_messages(campaign_id=campaign.pk, limit=10, lease_seconds=60)
    kept, taken = Message.objects.filter(id__in=claim.ids).select_related("contact")
    Message.objects.filter(pk=taken.pk).update(claim_token=None, status=MessageStatus.QUEUED)

    leaving, withdrawn = messages_hand_over(
        [job_for(kept), job_for(taken)],
        token=claim.token,
        contact_of={kept.id: kept.contact_id, taken.id: taken.contact_id},
        category=campaign.template.category,
    )

    assert ([job.message_id for job in leaving], withdrawn) == ([kept.id], [])
    assert Message.objects.get(pk=kept.pk).handed_over_at is not None
    assert Message.objects.get(pk=taken.pk).handed_over_at is None


@pytest.mark.django_db(transaction=True)
def test_an_opt_out_being_committed_during_the_hand_over_is_waited_for_and_honoured(
    running_campaign,
):
    # Given a claimed message, and an opt-out for its contact written but not yet committed
    campaign = running_campaign(1)
    claim = claim_due_messages(campaign_id=campaign.pk, limit=1, lease_seconds=60)
    message = Message.objects.select_related("contact").get(pk=claim.ids[0])
    written, commit = threading.Event(), threading.Event()

    def opt_out_slowly() -> None:
        try:
            with transaction.atomic():
                consent_record_opt_out(
                    contact=message.contact,
                    scope=ConsentScope.ALL,
                    source=ConsentSource.INBOUND_KEYWORD,
                    evidence="wamid.STOP",
                )
                written.set()
                commit.wait(10)
        finally:
            connection.close()

    opting_out = threading.Thread(target=opt_out_slowly)
    opting_out.start()
    assert written.wait(10)
    threading.Timer(0.5, commit.set).start()

    # When the batch is handed over meanwhile
    leaving, withdrawn = messages_hand_over(
        [job_for(message)],
        token=claim.token,
        contact_of={message.id: message.contact_id},
        category=campaign.template.category,
    )
    opting_out.join(10)

    # Then the hand-over waited for the opt-out's commit, saw it, and let nothing leave
    assert (leaving, withdrawn) == ([], [message.id])
    assert Message.objects.get(pk=message.pk).handed_over_at is None
