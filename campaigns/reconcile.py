"""Crash reconciliation: decide every message a dead worker left in `sending`.

A lease that expired means the worker that claimed the message died (or hung) somewhere between
the claim and recording the outcome. Whether Meta got the request cannot be known from our side;
the proof is a status webhook carrying our id in `biz_opaque_callback_data` (recorded as a status
event, and as the wamid, by the webhook processor). With proof the message is sent. Without it
the message becomes `unknown` — and by the campaign's policy is either left alone (at most once,
the marketing default) or queued again (at least once, for transactional sends).
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from .models import Campaign, Message, MessageStatus, MessageStatusEvent, UnknownOutcomePolicy

RECONCILE_BATCH = 1000


def reconcile_expired_leases() -> dict[str, int]:
    """Settle every `sending` message whose lease has expired. Safe to run concurrently."""
    now = timezone.now()
    counts = {"sent": 0, "unknown": 0, "requeued": 0}
    with transaction.atomic():
        expired = list(
            Message.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=MessageStatus.SENDING, lease_expires_at__lt=now)
            .annotate(proven=Exists(MessageStatusEvent.objects.filter(message_id=OuterRef("pk"))))
            .values("id", "proven", "wamid", "campaign_id")[:RECONCILE_BATCH]
        )
        if not expired:
            return counts
        proven = [row["id"] for row in expired if row["proven"] or row["wamid"]]
        unproven = [row for row in expired if row["id"] not in set(proven)]
        resend_campaigns = set(
            Campaign.objects.filter(
                id__in={row["campaign_id"] for row in unproven if row["campaign_id"]},
                unknown_outcome_policy=UnknownOutcomePolicy.RESEND,
            ).values_list("id", flat=True)
        )
        resend = [row["id"] for row in unproven if row["campaign_id"] in resend_campaigns]
        unknown = [row["id"] for row in unproven if row["campaign_id"] not in resend_campaigns]
        base = Message.objects.filter(status=MessageStatus.SENDING)
        counts["sent"] = base.filter(id__in=proven).update(
            status=MessageStatus.SENT, sent_at=now, lease_expires_at=None, updated_at=now
        )
        counts["unknown"] = base.filter(id__in=unknown).update(
            status=MessageStatus.UNKNOWN,
            reason="lease_expired_no_proof",
            lease_expires_at=None,
            updated_at=now,
        )
        counts["requeued"] = base.filter(id__in=resend).update(
            status=MessageStatus.QUEUED,
            reason="lease_expired_resend",
            lease_expires_at=None,
            not_before=now,
            updated_at=now,
        )
    return counts


def stuck_message_count() -> int:
    return Message.objects.filter(
        Q(status=MessageStatus.SENDING) & Q(lease_expires_at__lt=timezone.now())
    ).count()
