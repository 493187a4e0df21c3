"""Reads of the campaigns app: progress, funnel and message queries."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field

from django.core.cache import cache
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from .models import Campaign, CampaignProgressCount, Message, MessageStatus

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


FUNNEL_STEPS = ("sent", "delivered", "read", "clicked", "replied")


def _progress(
    *,
    by_status: dict[str, int],
    funnel_steps: dict[str, int],
    skipped: dict[str, int],
    failed: dict[str, int],
    sent_recently: int,
) -> CampaignProgress:
    total = sum(by_status.values())
    pending = sum(by_status.get(status, 0) for status in PENDING_STATUSES)
    rate = sent_recently / RATE_WINDOW_SECONDS
    return CampaignProgress(
        total=total,
        by_status=by_status,
        pending=pending,
        rate_per_second=rate,
        eta_seconds=(pending / rate) if rate and pending else (0.0 if not pending else None),
        funnel={"planned": total, **{step: funnel_steps.get(step, 0) for step in FUNNEL_STEPS}},
        skipped_by_reason=skipped,
        failed_by_code=failed,
    )


def _sent_recently(campaign_id: int, sender_id: int | None) -> int:
    """Sends of the last seconds, read through the (sender, sent_at) index."""
    since = timezone.now() - dt.timedelta(seconds=RATE_WINDOW_SECONDS)
    recent = Message.objects.filter(campaign_id=campaign_id, sent_at__gte=since)
    if sender_id is not None:
        recent = recent.filter(sender_id=sender_id)
    return recent.count()


def progress_from_counters(campaign_id: int) -> CampaignProgress:
    """Progress from the campaign's counters (PostgreSQL): a few small rows, whatever its size."""
    counters: dict[str, dict[str, int]] = {kind: {} for kind in CampaignProgressCount.Kind.values}
    rows = (
        CampaignProgressCount.objects.filter(campaign_id=campaign_id)
        .values("kind", "key")
        .annotate(n=Sum("count"))
        .order_by()
    )
    for row in rows:
        if row["n"]:
            counters[row["kind"]][row["key"]] = row["n"]
    sender_id = Campaign.objects.filter(pk=campaign_id).values_list("sender_id", flat=True).first()
    return _progress(
        by_status=counters[CampaignProgressCount.Kind.STATUS],
        funnel_steps=counters[CampaignProgressCount.Kind.FUNNEL],
        skipped=counters[CampaignProgressCount.Kind.REASON],
        failed=counters[CampaignProgressCount.Kind.CODE],
        sent_recently=_sent_recently(campaign_id, sender_id),
    )


def progress_from_messages(campaign_id: int) -> CampaignProgress:
    """Progress counted from the messages themselves: SQLite, and the reference for checks."""
    messages = Message.objects.filter(campaign_id=campaign_id)
    by_status = {
        row["status"]: row["n"]
        for row in messages.values("status").annotate(n=Count("id")).order_by()
    }
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
        .order_by()
    }
    failed = {
        str(row["error_code"] or "none"): row["n"]
        for row in messages.filter(status=MessageStatus.FAILED)
        .values("error_code")
        .annotate(n=Count("id"))
        .order_by()
    }
    return _progress(
        by_status=by_status,
        funnel_steps={step: count for step, count in reached.items() if count},
        skipped=skipped,
        failed=failed,
        sent_recently=_sent_recently(campaign_id, None),
    )


def _compute_progress(campaign_id: int) -> CampaignProgress:
    from .progress import progress_counters_enabled

    if progress_counters_enabled():
        return progress_from_counters(campaign_id)
    return progress_from_messages(campaign_id)


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
