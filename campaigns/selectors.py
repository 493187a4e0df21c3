"""Reads of the campaigns app: progress, funnel and message queries."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field

from django.core.cache import cache
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from .models import Campaign, Message, MessageStatus

PROGRESS_CACHE_SECONDS = 2
RATE_WINDOW_SECONDS = 10
PENDING_STATUSES = (MessageStatus.QUEUED, MessageStatus.DEFERRED, MessageStatus.SENDING)


@dataclass
class CampaignProgress:
    """Counts per status, the send rate over the last seconds and the time left at that rate."""

    total: int
    by_status: dict[str, int]
    pending: int
    rate_per_second: float
    eta_seconds: float | None
    funnel: dict[str, int]
    skipped_by_reason: dict[str, int] = field(default_factory=dict)
    failed_by_code: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def _compute_progress(campaign_id: int) -> CampaignProgress:
    messages = Message.objects.filter(campaign_id=campaign_id)
    by_status = {
        row["status"]: row["n"] for row in messages.values("status").annotate(n=Count("id"))
    }
    total = sum(by_status.values())
    pending = sum(by_status.get(status, 0) for status in PENDING_STATUSES)
    since = timezone.now() - dt.timedelta(seconds=RATE_WINDOW_SECONDS)
    recent = messages.filter(sent_at__gte=since).count()
    rate = recent / RATE_WINDOW_SECONDS
    reached = messages.filter(sent_at__isnull=False).aggregate(
        sent=Count("id"),
        delivered=Count("id", filter=Q(delivered_at__isnull=False) | Q(read_at__isnull=False)),
        read=Count("id", filter=Q(read_at__isnull=False)),
        clicked=Count("id", filter=Q(tracked_link__first_clicked_at__isnull=False)),
        replied=Count("id", filter=Q(replied_at__isnull=False)),
    )
    skipped = {
        row["reason"] or "unspecified": row["n"]
        for row in messages.filter(
            status__in=[MessageStatus.SKIPPED, MessageStatus.EXPIRED, MessageStatus.UNKNOWN]
        )
        .values("reason")
        .annotate(n=Count("id"))
    }
    failed = {
        str(row["error_code"] or "none"): row["n"]
        for row in messages.filter(status=MessageStatus.FAILED)
        .values("error_code")
        .annotate(n=Count("id"))
    }
    return CampaignProgress(
        total=total,
        by_status=by_status,
        pending=pending,
        rate_per_second=rate,
        eta_seconds=(pending / rate) if rate and pending else (0.0 if not pending else None),
        funnel={"planned": total, **reached},
        skipped_by_reason=skipped,
        failed_by_code=failed,
    )


def campaign_progress(campaign: Campaign | int) -> CampaignProgress:
    """Cheap to call on every page refresh: computed at most once per couple of seconds."""
    campaign_id = campaign if isinstance(campaign, int) else campaign.pk
    key = f"tidings:campaign-progress:{campaign_id}"
    cached = cache.get(key)
    if cached is not None:
        return CampaignProgress(**cached)
    progress = _compute_progress(campaign_id)
    cache.set(key, progress.as_dict(), PROGRESS_CACHE_SECONDS)
    return progress


def message_list(*, campaign_id: int | None = None, status: str | None = None) -> QuerySet:
    messages = Message.objects.select_related("contact", "template", "campaign")
    if campaign_id is not None:
        messages = messages.filter(campaign_id=campaign_id)
    if status:
        messages = messages.filter(status=status)
    return messages.order_by("-id")
