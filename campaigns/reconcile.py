"""Crash reconciliation: decide every message a dead worker left in `sending`.

A lease that expired means the worker that claimed the message died (or hung) somewhere between
the claim and recording the outcome. A message it never handed to the provider (no
`handed_over_at` since the claim) cannot have left and simply goes back to the queue. A live
worker renews its lease while it sends and never lets
a request leave after the lease ends, so the reconciler waits a grace period past the end (long
enough for the last request to be answered or time out) before it decides anything.

Whether Meta got the request cannot be known from our side; the proof is a status webhook
carrying our id in `biz_opaque_callback_data` (recorded as a status event, and as the wamid, by the
webhook processor). With proof the message is sent. Without it the message becomes `unknown` —
or, by policy, is queued again once Meta had the proof window to report it: the campaign's policy
(at most once, the marketing default, or resend), and for API messages, which have no campaign,
the TIDINGS_TRANSACTIONAL_UNKNOWN_OUTCOME_POLICY setting (resend by default). A queued resend is
checked for proof once more when it is claimed. Taking a message over clears its claim token, so
the worker that lost it can no longer write to it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from .dispatch import (
    MAX_UNCONFIRMED_ATTEMPTS,
    UNCONFIRMED_RESEND,
    lease_grace_seconds,
    proof_of_sending,
    proof_window,
)
from .models import Campaign, CampaignStatus, Message, MessageStatus, UnknownOutcomePolicy

RECONCILE_BATCH = 1000


def _resend_policy_for_api_messages() -> bool:
    return settings.TIDINGS_TRANSACTIONAL_UNKNOWN_OUTCOME_POLICY == UnknownOutcomePolicy.RESEND


def reconcile_expired_leases() -> dict[str, int]:
    """Settle every `sending` message whose lease ended more than the grace period ago.

    Safe to run concurrently (rows are taken with SKIP LOCKED).
    """
    now = timezone.now()
    cutoff = now - dt.timedelta(seconds=lease_grace_seconds())
    counts = {"sent": 0, "unknown": 0, "requeued": 0}
    with transaction.atomic():
        expired = list(
            Message.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=MessageStatus.SENDING, lease_expires_at__lt=cutoff)
            .annotate(proven=proof_of_sending())
            .values(
                "id",
                "proven",
                "wamid",
                "campaign_id",
                "sending_at",
                "handed_over_at",
                "attempts",
            )[:RECONCILE_BATCH]
        )
        if not expired:
            return counts
        proven = [row["id"] for row in expired if row["proven"] or row["wamid"]]
        # Claimed but never handed to the provider under this claim: it cannot have left.
        never_left = [
            row["id"]
            for row in expired
            if row["id"] not in set(proven) and not _handed_over_under_claim(row)
        ]
        unproven = [
            row for row in expired if row["id"] not in set(proven) and row["id"] not in never_left
        ]
        resend_campaigns = set(
            Campaign.objects.filter(
                id__in={row["campaign_id"] for row in unproven if row["campaign_id"]},
                unknown_outcome_policy=UnknownOutcomePolicy.RESEND,
            )
            .exclude(status=CampaignStatus.CANCELLED)
            .values_list("id", flat=True)
        )
        api_resend = _resend_policy_for_api_messages()

        def may_resend(row: dict) -> bool:
            if row["attempts"] >= MAX_UNCONFIRMED_ATTEMPTS:
                return False
            if row["campaign_id"] is None:
                return api_resend
            return row["campaign_id"] in resend_campaigns

        resend: dict[dt.datetime, list[int]] = defaultdict(list)
        unknown: list[int] = []
        for row in unproven:
            if may_resend(row):
                # Not before Meta had the whole proof window to report the first attempt.
                started = row["sending_at"] or now
                resend[max(now, started + proof_window())].append(row["id"])
            else:
                unknown.append(row["id"])
        base = Message.objects.filter(status=MessageStatus.SENDING)
        counts["sent"] = base.filter(id__in=proven).update(
            status=MessageStatus.SENT,
            sent_at=Coalesce(F("sent_at"), now),
            lease_expires_at=None,
            claim_token=None,
            updated_at=now,
        )
        counts["requeued"] += base.filter(id__in=never_left).update(
            status=MessageStatus.QUEUED,
            lease_expires_at=None,
            claim_token=None,
            attempts=F("attempts") - 1,
            updated_at=now,
        )
        counts["unknown"] = base.filter(id__in=unknown).update(
            status=MessageStatus.UNKNOWN,
            reason="lease_expired_no_proof",
            lease_expires_at=None,
            claim_token=None,
            updated_at=now,
        )
        for not_before, ids in resend.items():
            counts["requeued"] += base.filter(id__in=ids).update(
                status=MessageStatus.QUEUED,
                reason=UNCONFIRMED_RESEND,
                lease_expires_at=None,
                claim_token=None,
                not_before=not_before,
                updated_at=now,
            )
    return counts


def _handed_over_under_claim(row: dict) -> bool:
    handed_over_at, claimed_at = row["handed_over_at"], row["sending_at"]
    if handed_over_at is None:
        return False
    return claimed_at is None or handed_over_at >= claimed_at


def stuck_message_count() -> int:
    """Messages whose lease ended past the grace period: what the reconciler has still to do."""
    cutoff = timezone.now() - dt.timedelta(seconds=lease_grace_seconds())
    return Message.objects.filter(
        Q(status=MessageStatus.SENDING) & Q(lease_expires_at__lt=cutoff)
    ).count()
