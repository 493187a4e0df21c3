"""Reads for operators: what `/metrics` exposes and what the admin dashboard shows.

Operations sits to the right of every other app, so it may read all of them. Each read is bounded
whatever the size of the ledger: the progress counters PostgreSQL keeps per campaign, an index
range over a recent window, a count capped at `COUNT_CAP`, or a table that stays small
(campaigns, templates, senders). None scans the message table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from campaigns.models import Campaign, CampaignProgressCount, CampaignStatus, Message, MessageStatus
from campaigns.progress import progress_counters_enabled
from templates_app.models import MessageTemplate, SenderNumber, TemplateStatus
from webhooks.models import DeliveryStatus, UnmatchedStatus, UnmatchedStatusState, WebhookDelivery

# A count above this is reported as this: counting stops there (the index is not read further).
COUNT_CAP = 100_000
# Send latency: messages sent in this window, at most this many of the newest per sender number.
LATENCY_WINDOW_SECONDS = 300
LATENCY_SAMPLE_PER_SENDER = 2000
DIRECT_MESSAGES_WINDOW = dt.timedelta(hours=24)
# Meta's statuses a staff member has to act on (a rejected draft, a paused or disabled template).
TEMPLATE_ATTENTION_STATUSES = (
    TemplateStatus.REJECTED,
    TemplateStatus.PAUSED,
    TemplateStatus.DISABLED,
    TemplateStatus.FLAGGED,
)
OPEN_DELIVERY_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.PROCESSING)
# Messages that went out (or were refused on the way): the denominator of the delivery rate.
OUTGOING_STATUSES = (
    MessageStatus.SENT,
    MessageStatus.DELIVERED,
    MessageStatus.READ,
    MessageStatus.FAILED,
)
# Outcomes considered for a campaign's failure rate are at most this old.
FAILURE_RATE_MAX_AGE = dt.timedelta(hours=1)


def capped_count(queryset: QuerySet, cap: int = COUNT_CAP) -> int:
    """COUNT(*) over at most `cap` rows (a LIMIT in a subquery)."""
    return queryset.order_by()[:cap].count()


def _error_code_key(code: int | None) -> str:
    return "none" if code is None else str(code)


# --- Messages ---------------------------------------------------------------------------------


@dataclass
class CampaignMessageCounts:
    """Campaign messages, every campaign: per status, per funnel step reached, failed per code."""

    by_status: dict[str, int] = field(default_factory=dict)
    reached: dict[str, int] = field(default_factory=dict)
    failed_by_code: dict[str, int] = field(default_factory=dict)


def campaign_message_counts() -> CampaignMessageCounts:
    """From the progress counters on PostgreSQL (a few rows per campaign, whatever its size);
    counted from the messages on SQLite, the embedded single-machine database."""
    counts = CampaignMessageCounts()
    if progress_counters_enabled():
        kinds = {
            CampaignProgressCount.Kind.STATUS: counts.by_status,
            CampaignProgressCount.Kind.FUNNEL: counts.reached,
            CampaignProgressCount.Kind.CODE: counts.failed_by_code,
        }
        rows = (
            CampaignProgressCount.objects.filter(kind__in=list(kinds))
            .values("kind", "key")
            .annotate(n=Sum("count"))
            .order_by()
        )
        for row in rows:
            if row["n"]:
                kinds[row["kind"]][row["key"]] = int(row["n"])
        return counts
    messages = Message.objects.filter(campaign__isnull=False).order_by()
    for row in messages.values("status").annotate(n=Count("id")):
        counts.by_status[row["status"]] = row["n"]
    failed = messages.filter(status=MessageStatus.FAILED)
    for row in failed.values("error_code").annotate(n=Count("id")):
        counts.failed_by_code[_error_code_key(row["error_code"])] = row["n"]
    reached = messages.filter(sent_at__isnull=False).aggregate(
        sent=Count("id"),
        delivered=Count("id", filter=Q(delivered_at__isnull=False) | Q(read_at__isnull=False)),
        read=Count("id", filter=Q(read_at__isnull=False)),
        replied=Count("id", filter=Q(replied_at__isnull=False)),
        clicked=Count("id", filter=Q(tracked_link__first_clicked_at__isnull=False)),
    )
    counts.reached = {step: n for step, n in reached.items() if n}
    return counts


def direct_message_counts(
    *, now: dt.datetime | None = None
) -> tuple[dict[str, int], dict[str, int]]:
    """Messages without a campaign (API sends and test sends) created in the last 24 hours: per
    status, and the failed ones per Meta error code. Read from their own small indexes."""
    now = now or timezone.now()
    since = now - DIRECT_MESSAGES_WINDOW
    direct = Message.objects.filter(campaign__isnull=True).order_by()
    by_status = {
        row["status"]: row["n"]
        for row in direct.filter(created_at__gte=since).values("status").annotate(n=Count("*"))
    }
    failed = {
        _error_code_key(row["error_code"]): row["n"]
        for row in direct.filter(status=MessageStatus.FAILED, failed_at__gte=since)
        .values("error_code")
        .annotate(n=Count("*"))
    }
    return by_status, failed


def send_latencies(*, now: dt.datetime | None = None) -> list[float]:
    """Seconds from claim (`sending_at`: a worker took the message) to Meta's acceptance
    (`sent_at`) of messages sent in the last `LATENCY_WINDOW_SECONDS`, the newest
    `LATENCY_SAMPLE_PER_SENDER` per sender number, each read backwards along the (sender,
    sent_at) index. Measured from the ledger, so every worker process and host is included."""
    now = now or timezone.now()
    since = now - dt.timedelta(seconds=LATENCY_WINDOW_SECONDS)
    latencies: list[float] = []
    for sender_id in SenderNumber.objects.order_by().values_list("id", flat=True):
        rows = (
            Message.objects.filter(sender_id=sender_id, sent_at__gte=since, sent_at__lte=now)
            .exclude(sending_at=None)
            .order_by("-sent_at")
            .values_list("sending_at", "sent_at")[:LATENCY_SAMPLE_PER_SENDER]
        )
        latencies.extend(
            (sent_at - sending_at).total_seconds()
            for sending_at, sent_at in rows
            if sent_at >= sending_at
        )
    return latencies


def due_message_count(*, now: dt.datetime | None = None, cap: int = COUNT_CAP) -> int:
    """Queued messages due now that dispatch would take: those of running campaigns and API
    sends whose send time has come. At most `cap`; each campaign is read along the dispatch
    queue index, exactly the range dispatch claims from."""
    now = now or timezone.now()
    due = Q(not_before__isnull=True) | Q(not_before__lte=now)
    queued = Message.objects.filter(due, status=MessageStatus.QUEUED)
    total = capped_count(queued.filter(campaign__isnull=True), cap)
    running = Campaign.objects.filter(status=CampaignStatus.RUNNING).values_list("id", flat=True)
    for campaign_id in running:
        if total >= cap:
            break
        total += capped_count(queued.filter(campaign_id=campaign_id), cap - total)
    return total


def _day_bounds(days: int, tz: dt.tzinfo) -> tuple[dt.date, dt.datetime]:
    today = timezone.localdate(timezone=tz)
    first = today - dt.timedelta(days=days - 1)
    return first, timezone.make_aware(dt.datetime.combine(first, dt.time.min), tz)


def messages_today_by_status(*, tz: dt.tzinfo | None = None) -> dict[str, int]:
    """Messages created today (in `tz`, the current timezone by default) per status."""
    tz = tz or timezone.get_current_timezone()
    _, start = _day_bounds(1, tz)
    rows = (
        Message.objects.filter(created_at__gte=start)
        .values("status")
        .annotate(n=Count("*"))
        .order_by()
    )
    return {row["status"]: row["n"] for row in rows}


@dataclass
class DayRates:
    """One day of messages: created, went out, delivered (or read), read; and the rates."""

    day: dt.date
    created: int = 0
    outgoing: int = 0
    delivered: int = 0
    read: int = 0
    failed: int = 0

    @property
    def delivery_rate(self) -> float | None:
        """Delivered or read, of those that went out (sent, delivered, read or failed)."""
        return self.delivered / self.outgoing if self.outgoing else None

    @property
    def read_rate(self) -> float | None:
        """Read, of those delivered."""
        return self.read / self.delivered if self.delivered else None


def daily_rates(*, days: int = 7, tz: dt.tzinfo | None = None) -> list[DayRates]:
    """The last `days` days (today included, in `tz`) of messages by creation day, oldest
    first: status counts from the (created_at, status) index, folded into rates."""
    tz = tz or timezone.get_current_timezone()
    first, start = _day_bounds(days, tz)
    result = {
        first + dt.timedelta(days=n): DayRates(first + dt.timedelta(days=n)) for n in range(days)
    }
    rows = (
        Message.objects.filter(created_at__gte=start)
        .annotate(day=TruncDate("created_at", tzinfo=tz))
        .values("day", "status")
        .annotate(n=Count("*"))
        .order_by()
    )
    for row in rows:
        day = result.get(row["day"])
        if day is None:
            continue
        status, n = row["status"], row["n"]
        day.created += n
        if status in OUTGOING_STATUSES:
            day.outgoing += n
        if status in (MessageStatus.DELIVERED, MessageStatus.READ):
            day.delivered += n
        if status == MessageStatus.READ:
            day.read += n
        if status == MessageStatus.FAILED:
            day.failed += n
    return list(result.values())


def failures_by_code(*, since: dt.datetime) -> dict[str, int]:
    """Messages failed since `since` per Meta error code ("none" without one), most first.
    Read from the failures index alone."""
    rows = (
        Message.objects.filter(status=MessageStatus.FAILED, failed_at__gte=since)
        .values("error_code")
        .annotate(n=Count("*"))
        .order_by()
    )
    counts = {_error_code_key(row["error_code"]): row["n"] for row in rows}
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


@dataclass(frozen=True)
class RecentOutcomes:
    """A campaign's latest send outcomes (sent or failed), newest first, at most `limit`."""

    results: int
    failed: int

    @property
    def failure_rate(self) -> float:
        return self.failed / self.results if self.results else 0.0


def campaign_recent_outcomes(
    campaign: Campaign, *, limit: int, now: dt.datetime | None = None
) -> RecentOutcomes:
    """The campaign's last `limit` results within the last hour: messages that left (by
    `sent_at`, along the (sender, sent_at) index; a later failure webhook counts as failed) and
    messages refused before leaving (by `failed_at`, along the failures index)."""
    now = now or timezone.now()
    since = now - FAILURE_RATE_MAX_AGE
    left = (
        Message.objects.filter(
            sender_id=campaign.sender_id, campaign_id=campaign.pk, sent_at__gte=since
        )
        .order_by("-sent_at")
        .values_list("id", "sent_at", "status")[:limit]
    )
    refused = (
        Message.objects.filter(
            status=MessageStatus.FAILED, campaign_id=campaign.pk, failed_at__gte=since
        )
        .order_by("-failed_at")
        .values_list("id", "failed_at", "sent_at")[:limit]
    )
    outcomes: dict[int, tuple[dt.datetime, bool]] = {
        message_id: (at, status == MessageStatus.FAILED) for message_id, at, status in left
    }
    for message_id, at, sent_at in refused:
        if sent_at is None:
            outcomes[message_id] = (at, True)
    newest = sorted(outcomes.values(), key=lambda outcome: outcome[0], reverse=True)[:limit]
    return RecentOutcomes(results=len(newest), failed=sum(1 for _, failed in newest if failed))


# --- Campaigns and templates ------------------------------------------------------------------


def campaign_counts() -> dict[str, int]:
    rows = Campaign.objects.values("status").annotate(n=Count("id")).order_by()
    return {row["status"]: row["n"] for row in rows}


def campaigns_in(statuses: Iterable[str], *, limit: int) -> list[Campaign]:
    return list(
        Campaign.objects.filter(status__in=list(statuses))
        .select_related("template", "sender")
        .order_by("-started_at", "-id")[:limit]
    )


def template_counts() -> dict[str, int]:
    rows = MessageTemplate.objects.values("status").annotate(n=Count("id")).order_by()
    return {row["status"]: row["n"] for row in rows}


def templates_needing_attention(*, limit: int) -> list[MessageTemplate]:
    """Rejected, paused, disabled or flagged templates, most recently changed first."""
    return list(
        MessageTemplate.objects.filter(status__in=TEMPLATE_ATTENTION_STATUSES)
        .select_related("account")
        .order_by("-updated_at", "-id")[:limit]
    )


# --- Webhooks ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookBacklog:
    """Meta's deliveries not processed yet (and failed ones), and statuses left unmatched."""

    oldest_open_received_at: dt.datetime | None
    deliveries: dict[str, int]
    unmatched: dict[str, int]

    def lag_seconds(self, now: dt.datetime) -> float:
        """Age of the oldest delivery still pending or processing; 0 when none is."""
        if self.oldest_open_received_at is None:
            return 0.0
        return max((now - self.oldest_open_received_at).total_seconds(), 0.0)

    @property
    def open(self) -> int:
        return sum(self.deliveries.get(status, 0) for status in OPEN_DELIVERY_STATUSES)


def webhook_backlog() -> WebhookBacklog:
    """The oldest open delivery from the open-deliveries index; counts per status (processed
    excluded) from the (status, received_at) index, each capped."""
    oldest = (
        WebhookDelivery.objects.filter(status__in=OPEN_DELIVERY_STATUSES)
        .order_by("received_at")
        .values_list("received_at", flat=True)
        .first()
    )
    deliveries = {
        status: capped_count(WebhookDelivery.objects.filter(status=status))
        for status in (*OPEN_DELIVERY_STATUSES, DeliveryStatus.FAILED, DeliveryStatus.QUARANTINED)
    }
    unmatched = {
        state: capped_count(UnmatchedStatus.objects.filter(state=state))
        for state in (UnmatchedStatusState.RETRYING, UnmatchedStatusState.UNMATCHED)
    }
    return WebhookBacklog(oldest, deliveries, unmatched)
