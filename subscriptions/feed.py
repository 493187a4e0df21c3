"""The change feed: new rows of the source tables become events and deliveries.

Why a change feed and not an outbox or signals. The events integrators want are already
recorded, append-only and in the same transaction as the change, by the apps to the left: each
status Meta reported (`campaigns.MessageStatusEvent`), each inbound message
(`webhooks.InboundMessage`), each consent record (`contacts.ConsentRecord`), each campaign status
change (`campaigns.CampaignStatusChange`). Reading those tables past a stored cursor needs no
change to the code that writes them and keeps the dependency order (no app to the left imports
this one; no Django signal carries the flow), and a row exists exactly when its change was
committed, so there is no event for a change that was rolled back. An outbox would have had every
writer on the left also write an outbox row, duplicating what these tables already are.

How a run reads a source (`feed_source_run`, every 2 s from the beat):

1. It locks the source's `FeedCursor` row (`SKIP LOCKED`: a run that finds it locked leaves
   that source to the run holding it), so runs that overlap never read the same rows twice.
2. It reads the rows with an id above `position`, in id order, and the rows in the cursor's
   *holes*. Ids are taken when a row is inserted but become visible only when its transaction
   commits, so a row with a lower id can appear after a higher one was read. Every id skipped
   over is kept as a hole and read again on each run until it shows up or is older than
   `TIDINGS_SUBSCRIPTION_FEED_HOLE_SECONDS` (300; ids of rolled-back inserts never show up).
3. Each row that is an event some active subscription wants becomes one `Event` (unique per
   source row) and one `Delivery` per subscription that wants its type (unique per subscription
   and event). Both are inserted with ON CONFLICT DO NOTHING, so reading a row again — a second
   run, a reset cursor, a restored backup — creates nothing twice.
4. The cursor moves forward in the same transaction, and the deliveries are enqueued after
   commit; a lost task is caught up by the beat (`deliveries_enqueue_due`).

Types nobody subscribes to are not stored: the cursor simply moves past them. A subscription
receives the events read after it was created (and while it is active), never the history.

Semantics for receivers: at least once (a delivery whose outcome is unknown — a timeout, a
worker lost mid-request — is attempted again), with the same `id` every time, so dedupe on it.
No order is guaranteed across events: deliveries run in parallel and are retried, so use each
event's `occurred_at` and the state it carries (a `message.read` may arrive before the
`message.delivered` of the same message, as Meta's own webhooks may).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone

from .models import Delivery, DeliveryState, Event, FeedCursor, Subscription
from .sources import SOURCES, Source

logger = logging.getLogger(__name__)

# At most this many hole ranges are kept per source (the newest); more means something is
# rolling back on a large scale, and its ids will not show up anyway.
MAX_HOLES = 500


@dataclass
class FeedResult:
    read: int = 0
    events: int = 0
    deliveries: int = 0
    busy: bool = False
    more: bool = False


def feed_cursors_ensure(*, sources: Sequence[Source] = SOURCES) -> None:
    """Create the missing cursors at the end of their tables: a new subscriber gets what happens
    from now on, not the history."""
    existing = set(FeedCursor.objects.values_list("source", flat=True))
    for source in sources:
        if source.name in existing:
            continue
        top = source.model.objects.aggregate(top=Max("pk"))["top"] or 0
        try:
            with transaction.atomic():
                FeedCursor.objects.create(source=source.name, position=top)
        except IntegrityError:
            pass  # another run created it meanwhile


def feed_run(
    *, sources: Sequence[Source] = SOURCES, time_budget: float | None = None
) -> dict[str, FeedResult]:
    """Read every source until it is caught up or `time_budget` seconds have passed."""
    budget = settings.TIDINGS_SUBSCRIPTION_FEED_SECONDS if time_budget is None else time_budget
    deadline = time.monotonic() + budget
    feed_cursors_ensure(sources=sources)
    subscriptions = list(Subscription.objects.filter(active=True).only("pk", "event_types"))
    results: dict[str, FeedResult] = {}
    for source in sources:
        total = FeedResult()
        while True:
            result = feed_source_run(source, subscriptions=subscriptions)
            total.read += result.read
            total.events += result.events
            total.deliveries += result.deliveries
            total.busy = result.busy
            if not result.more or time.monotonic() >= deadline:
                total.more = result.more
                break
        results[source.name] = total
    return results


def feed_source_run(source: Source, *, subscriptions: Iterable[Subscription]) -> FeedResult:
    """One batch of one source: fan new rows (and rows that filled a hole) out to `subscriptions`
    (the active ones). Idempotent; see the module docstring."""
    result = FeedResult()
    now = timezone.now()
    stamp = int(now.timestamp())
    batch = settings.TIDINGS_SUBSCRIPTION_FEED_BATCH
    with transaction.atomic():
        cursor = (
            FeedCursor.objects.select_for_update(skip_locked=True)
            .filter(source=source.name)
            .first()
        )
        if cursor is None:
            result.busy = True
            return result
        listeners = [s for s in subscriptions if source.types & set(s.event_types)]
        if not listeners:
            # Nobody listens: nothing to keep, not even holes.
            top = source.model.objects.aggregate(top=Max("pk"))["top"] or 0
            if top > cursor.position or cursor.holes:
                cursor.position = max(cursor.position, top)
                cursor.holes = []
                cursor.save(update_fields=["position", "holes", "updated_at"])
            return result

        holes = [hole for hole in cursor.holes if stamp - hole[2] <= _hole_seconds()]
        filled = list(source.queryset().filter(_in_holes(holes)).order_by("pk")) if holes else []
        rows = list(source.queryset().filter(pk__gt=cursor.position).order_by("pk")[:batch])
        result.more = len(rows) == batch
        holes = _without(holes, [row.pk for row in filled])
        holes += _gaps(cursor.position, [row.pk for row in rows], stamp)
        if rows:
            cursor.position = rows[-1].pk
        if len(holes) > MAX_HOLES:
            logger.warning(
                "feed %s: %d id ranges missing; the oldest are no longer waited for",
                source.name,
                len(holes) - MAX_HOLES,
            )
            holes = holes[-MAX_HOLES:]
        cursor.holes = holes
        cursor.save(update_fields=["position", "holes", "updated_at"])

        read = filled + rows
        result.read = len(read)
        events = _events_create(source, read, {t for s in listeners for t in s.event_types})
        result.events = len(events)
        created = _deliveries_create(events, listeners, now)
        result.deliveries = len(created)
        if created:
            transaction.on_commit(partial(_enqueue, created))
    return result


def _hole_seconds() -> int:
    return int(settings.TIDINGS_SUBSCRIPTION_FEED_HOLE_SECONDS)


def _in_holes(holes: list[list[int]]) -> Q:
    condition = Q()
    for low, high, _seen in holes:
        condition |= Q(pk__gte=low, pk__lte=high)
    return condition


def _gaps(position: int, ids: list[int], stamp: int) -> list[list[int]]:
    """The id ranges between `position` and the ids read that were not there."""
    gaps = []
    previous = position
    for current in ids:
        if current > previous + 1:
            gaps.append([previous + 1, current - 1, stamp])
        previous = current
    return gaps


def _without(holes: list[list[int]], found: list[int]) -> list[list[int]]:
    """The holes with the ids that showed up taken out (a range may split in two)."""
    for found_id in found:
        split = []
        for low, high, seen in holes:
            if low <= found_id <= high:
                if low < found_id:
                    split.append([low, found_id - 1, seen])
                if found_id < high:
                    split.append([found_id + 1, high, seen])
            else:
                split.append([low, high, seen])
        holes = split
    return holes


def _events_create(source: Source, rows: list[Any], wanted: set[str]) -> list[Event]:
    drafts = {}
    for row in rows:
        draft = source.to_event(row)
        if draft is not None and draft.type in wanted:
            drafts[row.pk] = draft
    if not drafts:
        return []
    Event.objects.bulk_create(
        [
            Event(
                type=draft.type,
                source=source.name,
                source_id=row_id,
                occurred_at=draft.occurred_at,
                contact_id=draft.contact_id,
                campaign_id=draft.campaign_id,
                data=draft.data,
            )
            for row_id, draft in drafts.items()
        ],
        ignore_conflicts=True,
    )
    return list(
        Event.objects.filter(source=source.name, source_id__in=list(drafts))
        .only("pk", "type")
        .order_by("pk")
    )


def _deliveries_create(events: list[Event], listeners: list[Subscription], now: Any) -> list[int]:
    """One pending delivery per (listening subscription, event); returns the ids of those that
    are pending now (created by this run or left pending by an earlier read)."""
    rows = [
        Delivery(subscription_id=subscription.pk, event_id=event.pk, next_attempt_at=now)
        for event in events
        for subscription in listeners
        if event.type in subscription.event_types
    ]
    if not rows:
        return []
    Delivery.objects.bulk_create(rows, ignore_conflicts=True)
    return list(
        Delivery.objects.filter(
            event_id__in=[event.pk for event in events],
            subscription_id__in=[subscription.pk for subscription in listeners],
            state=DeliveryState.PENDING,
            attempts=0,
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _enqueue(delivery_ids: list[int]) -> None:
    from .services import deliveries_enqueue

    deliveries_enqueue(delivery_ids=delivery_ids)
