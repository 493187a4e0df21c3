"""The frequency cap: at most N marketing messages per contact in any rolling window.

Planning runs long before sending (a recipient-local campaign is planned up to a day ahead) and
two campaigns may be planned minutes apart, so counting only what has already gone out lets both
through. Planning therefore also counts other campaigns' queued and deferred marketing messages
at their planned send times; at send time only what has gone out or is going out counts, since
whatever is still queued will be checked again when its own turn comes.

Two messages fall in one window when they are less than the window's length apart. A new message
at instant `at` breaks the cap when some window containing `at` already holds `count` others.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping

from django.db.models import Q
from django.utils import timezone

from templates_app.models import TemplateCategory

from .models import Campaign, Message, MessageStatus

PLANNED_STATUSES = (MessageStatus.QUEUED, MessageStatus.DEFERRED)


def frequency_capped_contact_ids(
    *,
    campaign: Campaign,
    contact_ids: Iterable[int],
    at: dt.datetime | Mapping[int, dt.datetime] | None = None,
    include_planned: bool = False,
) -> set[int]:
    """The contacts whose message of `campaign` at `at` (one instant, or one per contact id;
    now by default) would exceed the campaign's frequency cap.

    Messages of `campaign` itself and test sends are never counted. With `include_planned`
    (planning) other campaigns' queued and deferred messages count at their planned time;
    without it (the send-time re-check) only messages sent or being sent count.
    """
    limit, hours = campaign.frequency_cap_count, campaign.frequency_cap_window_hours
    if not limit or not hours or campaign.template.category != TemplateCategory.MARKETING:
        return set()
    ids = list(dict.fromkeys(contact_ids))
    if not ids:
        return set()
    now = timezone.now()
    send_at = {
        contact_id: (at.get(contact_id, now) if isinstance(at, Mapping) else (at or now))
        for contact_id in ids
    }
    window = dt.timedelta(hours=hours)
    earliest = min(send_at.values()) - window
    latest = max(send_at.values()) + window

    counted = Q(sent_at__gte=earliest, sent_at__lt=latest) | Q(status=MessageStatus.SENDING)
    if include_planned:
        counted |= Q(status__in=PLANNED_STATUSES, sent_at__isnull=True) & (
            Q(not_before__isnull=True) | Q(not_before__lt=latest)
        )
    rows = (
        Message.objects.filter(
            contact_id__any=ids,
            category=TemplateCategory.MARKETING,
            test_of_campaign__isnull=True,
        )
        .exclude(campaign_id=campaign.pk)
        .filter(counted)
        .values_list("contact_id", "status", "sent_at", "sending_at", "not_before")
    )
    times: dict[int, list[dt.datetime]] = defaultdict(list)
    for contact_id, status, sent_at, sending_at, not_before in rows:
        if sent_at is not None:
            times[contact_id].append(sent_at)
        elif status == MessageStatus.SENDING:
            times[contact_id].append(sending_at or now)
        else:
            # Queued without a time means "as soon as possible"; overdue means about now.
            times[contact_id].append(max(not_before or now, now))
    return {
        contact_id
        for contact_id, found in times.items()
        if cap_reached(found, at=send_at[contact_id], window=window, limit=limit)
    }


def cap_reached(
    times: Iterable[dt.datetime], *, at: dt.datetime, window: dt.timedelta, limit: int
) -> bool:
    """Whether a window of length `window` containing `at` already holds `limit` of `times`."""
    near = sorted(t for t in times if abs(t - at) < window)
    if len(near) < limit:
        return False
    # The fullest window containing `at` starts at one of these messages, or at `at` itself.
    starts = [t for t in near if t <= at] + [at]
    return any(sum(1 for t in near if start <= t < start + window) >= limit for start in starts)
