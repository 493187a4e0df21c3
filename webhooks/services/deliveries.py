"""Deliveries: store a signed body with one insert, process it later, replay, sweep and purge.

The acknowledgement path (`webhook_delivery_store`) does one INSERT and enqueues processing after
commit; everything else happens in Celery. Processing reads the stored body, parses it into events
and hands each kind to its handler. Every handler is idempotent (unique keys in the database), so
a delivery can be processed any number of times — after a crash, by the sweep, or by a replay —
and end in the same state. One event's error never stops the others: it is recorded on the
delivery (`failed`, replayable) while the rest are applied.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import OperationalError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from whatsapp.events import (
    Event,
    EventKind,
    InboundMessageEvent,
    MalformedWebhook,
    StatusEvent,
    parse_webhook,
)

from ..models import (
    DeliveryStatus,
    InboundMessage,
    UnmatchedStatus,
    UnmatchedStatusState,
    WebhookDelivery,
    WebhookEvent,
)
from . import accounts, inbound, replies, statuses
from .trailing_throttle import TrailingThrottle

logger = logging.getLogger(__name__)

# A delivery still pending after this long lost its task (broker hiccup): the sweep enqueues it.
PENDING_GRACE = dt.timedelta(seconds=60)
SWEEP_BATCH = 1000
PURGE_BATCH = 1000
PURGE_MAX_BATCHES = 100
MAX_ERROR_LINES = 20


def enqueue(task: Any, *args: Any, **options: Any) -> None:
    """Publish a task; a broker failure is logged, never raised (the sweep catches up)."""
    try:
        task.apply_async(args=args, **options)
    except Exception:
        logger.exception("could not enqueue %s%r; the sweep will pick it up", task.name, args)


def _enqueue_processing(delivery_ids: Iterable[int], *, coalesce: bool = False) -> None:
    """Queue processing of these deliveries. With `coalesce` (the acknowledgement path) and a
    shared cache, the deliveries are left to a drain task: one is published only when none is
    queued, and this process asks at most once per `DRAIN_SIGNAL_INTERVAL_SECONDS` (see
    `_signal_drain`), because publishing, or even asking, costs more than the rest of the
    acknowledgement."""
    from ..tasks import process_webhook_deliveries

    if coalesce and _shared_cache():
        _signal_drain()
        return
    ids = list(delivery_ids)
    for start in range(0, len(ids), PROCESS_BATCH):
        enqueue(process_webhook_deliveries, ids[start : start + PROCESS_BATCH])


# A drain task that is queued but has not started yet sets this flag (in the shared cache); the
# task clears it as it starts, before claiming anything, so a delivery committed while the flag is
# set is always claimed by that task or by one published after it. The timeout bounds the harm of
# a lost task: publishing resumes, and the sweep catches up.
DRAIN_QUEUED_KEY = "webhooks:drain-queued"
DRAIN_QUEUED_SECONDS = 10


def _shared_cache() -> bool:
    backend = settings.CACHES["default"]["BACKEND"]
    return not backend.endswith(("LocMemCache", "DummyCache"))


def _drain_already_queued() -> bool:
    try:
        return not cache.add(DRAIN_QUEUED_KEY, 1, timeout=DRAIN_QUEUED_SECONDS)
    except Exception:
        logger.warning("cache unavailable; publishing the webhook processing task anyway")
        return False


def _publish_drain_unless_queued() -> None:
    from ..tasks import process_webhook_deliveries

    if not _drain_already_queued():
        # No ids: a drain claims the oldest pending deliveries, which include the ones stored.
        enqueue(process_webhook_deliveries, [])


# How often one process asks whether a drain is queued while webhooks keep arriving. Every
# stored delivery is followed by an ask that starts after its commit (the throttle's trailing
# run), so a delivery waits at most this long longer for its drain. A process stopped within
# those 20 ms leaves its last deliveries to the sweep (PENDING_GRACE).
DRAIN_SIGNAL_INTERVAL_SECONDS = 0.02
_signal_drain = TrailingThrottle(
    _publish_drain_unless_queued, interval=DRAIN_SIGNAL_INTERVAL_SECONDS
)


def webhook_drain_started() -> None:
    """Called by a drain task before it claims anything: later deliveries publish again."""
    try:
        cache.delete(DRAIN_QUEUED_KEY)
    except Exception:
        logger.warning("cache unavailable; could not clear the queued-drain flag")


# --- The acknowledgement path ------------------------------------------------------------------


# The keys Meta puts what users sent or chose under ("messages" is also every change's `field`
# value, so the colon matters). A text that happens to contain the pattern is only processed sooner.
_FROM_USERS = re.compile(rb'"(?:messages|user_preferences)"\s*:')


def webhook_delivery_store(*, body: bytes) -> int | None:
    """Store a validly signed body durably with one INSERT and enqueue its processing after commit.

    Returns the new delivery's id, or None when the very same bytes were stored before (Meta
    redelivers a body it thinks we missed; the first copy is already stored and processed).
    Raises the database's error when the body could not be stored: the caller answers 503 so
    Meta delivers it again.
    """
    table = connection.ops.quote_name(WebhookDelivery._meta.db_table)
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} "  # noqa: S608 - only the model's own table name
            "(body, sha256, size, received_at, from_users, status, attempts, error, summary) "
            "VALUES (%s, %s, %s, %s, %s, %s, 0, '', %s) "
            "ON CONFLICT (sha256) DO NOTHING RETURNING id",
            [
                body,
                hashlib.sha256(body).hexdigest(),
                len(body),
                WebhookDelivery._meta.get_field("received_at").get_db_prep_value(now, connection),
                _FROM_USERS.search(body) is not None,
                DeliveryStatus.PENDING,
                "{}",
            ],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    delivery_id = int(row[0])
    transaction.on_commit(partial(_enqueue_processing, [delivery_id], coalesce=True))
    return delivery_id


# --- Processing --------------------------------------------------------------------------------

# Deliveries one worker claims and applies together: their statuses go to the ledger as one
# set-based batch, so the cost per status falls as traffic rises.
PROCESS_BATCH = 200


@dataclass
class DeliveryOutcome:
    """What processing one delivery did: counts by outcome, and the errors of failed events."""

    status: str = DeliveryStatus.PROCESSED
    counts: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    transient: bool = False

    def record_error(self, where: str, error: Exception) -> None:
        logger.exception("webhook processing failed for %s", where)
        self.errors.append(f"{where}: {type(error).__name__}: {error}"[:1000])
        self.transient = self.transient or isinstance(error, OperationalError)


def webhook_delivery_process(
    *, delivery_id: int, replay: bool = False, retry_failed: bool = False
) -> DeliveryOutcome | None:
    """Process one stored delivery; None when it is not waiting for processing (see
    `webhook_deliveries_process`)."""
    outcomes = webhook_deliveries_process(
        delivery_ids=[delivery_id], replay=replay, retry_failed=retry_failed, drain=False
    )
    return outcomes.get(delivery_id)


def webhook_deliveries_process(
    *,
    delivery_ids: Iterable[int] = (),
    replay: bool = False,
    retry_failed: bool = False,
    drain: bool = True,
    limit: int = PROCESS_BATCH,
) -> dict[int, DeliveryOutcome]:
    """Claim and process stored deliveries; returns each claimed one's outcome by id.

    The given deliveries are claimed if they are waiting; with `drain`, other pending ones are
    claimed too, up to `limit`, so one task applies what many POSTs brought: those from users
    first (messages, STOP keywords, marketing preferences), then the oldest. Claiming
    takes row locks with SKIP LOCKED and moves the rows to `processing` at once, so two workers
    never process the same delivery. `retry_failed` also takes failed ones (a retry after a
    transient error); `replay` takes failed, quarantined and processed ones too: every handler is
    idempotent, so replaying changes only what was not applied before.
    """
    allowed = [DeliveryStatus.PENDING]
    if retry_failed:
        allowed.append(DeliveryStatus.FAILED)
    if replay:
        allowed += [DeliveryStatus.FAILED, DeliveryStatus.QUARANTINED, DeliveryStatus.PROCESSED]
    ids = _claim(list(delivery_ids), allowed=allowed, drain=drain, limit=limit)
    if not ids:
        return {}
    bodies = dict(WebhookDelivery.objects.filter(pk__in=ids).values_list("pk", "body"))
    outcomes = {delivery_id: DeliveryOutcome() for delivery_id in ids}
    parsed: list[tuple[int, list[Event]]] = []
    for delivery_id in ids:
        try:
            parsed.append((delivery_id, parse_webhook(bytes(bodies[delivery_id]))))
        except MalformedWebhook as error:
            outcomes[delivery_id].status = DeliveryStatus.QUARANTINED
            outcomes[delivery_id].errors.append(f"Not a webhook body: {error}"[:1000])
            logger.warning("webhook delivery %s quarantined: %s", delivery_id, error)
    process_events(parsed, outcomes=outcomes, replay=replay)
    for delivery_id, events in parsed:
        outcome = outcomes[delivery_id]
        if outcome.errors:
            outcome.status = DeliveryStatus.FAILED
        elif events and all(event.kind == EventKind.UNKNOWN for event in events):
            outcome.status = DeliveryStatus.QUARANTINED
            outcome.errors.append("No event this version understands; see the unknown events.")
    _finish(outcomes)
    return outcomes


def webhook_deliveries_drain(
    *, delivery_ids: Iterable[int] = (), budget_seconds: float = 60.0
) -> dict[int, DeliveryOutcome]:
    """Process these deliveries and every other pending one, batch after batch, for at most
    `budget_seconds`; then hand what is left to a fresh task. Returns every outcome by id."""
    webhook_drain_started()
    deadline = time.monotonic() + budget_seconds
    outcomes = webhook_deliveries_process(delivery_ids=delivery_ids)
    batch = outcomes
    while len(batch) >= PROCESS_BATCH:
        if time.monotonic() > deadline:
            more = WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING)
            _enqueue_processing(more.order_by("received_at").values_list("pk", flat=True)[:1])
            break
        batch = webhook_deliveries_process()
        outcomes.update(batch)
    return outcomes


def _claim(ids: list[int], *, allowed: list[str], drain: bool, limit: int) -> list[int]:
    now = timezone.now()
    with transaction.atomic():
        claimed = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .filter(pk__in=ids, status__in=allowed)
            .order_by("received_at", "pk")
            .values_list("pk", flat=True)
        )
        if drain and len(claimed) < limit:
            claimed += (
                WebhookDelivery.objects.select_for_update(skip_locked=True)
                .filter(status=DeliveryStatus.PENDING)
                .exclude(pk__in=claimed)
                # A STOP waits for no backlog of receipts: it decides who may still be sent to.
                .order_by("-from_users", "received_at", "pk")
                .values_list("pk", flat=True)[: limit - len(claimed)]
            )
        WebhookDelivery.objects.filter(pk__in=claimed).update(
            status=DeliveryStatus.PROCESSING, attempts=F("attempts") + 1, claimed_at=now
        )
    return claimed


def _finish(outcomes: dict[int, DeliveryOutcome]) -> None:
    """Store every outcome, one UPDATE per distinct result (most deliveries share one)."""
    groups: dict[str, list[int]] = {}
    values: dict[str, dict[str, Any]] = {}
    for delivery_id, outcome in outcomes.items():
        result = {
            "status": outcome.status,
            "error": "\n".join(outcome.errors[:MAX_ERROR_LINES]).replace("\x00", ""),
            "summary": dict(sorted(outcome.counts.items())),
        }
        key = repr(sorted(result.items()))
        groups.setdefault(key, []).append(delivery_id)
        values[key] = result
    now = timezone.now()
    for key, ids in groups.items():
        WebhookDelivery.objects.filter(pk__in=ids, status=DeliveryStatus.PROCESSING).update(
            processed_at=now, **values[key]
        )


def process_events(
    parsed: list[tuple[int, list[Event]]],
    *,
    outcomes: dict[int, DeliveryOutcome],
    replay: bool,
) -> None:
    """Apply the events of several deliveries: all statuses as one set-based batch, the other
    events one by one, each in its own transaction so that one failure stops nothing else."""
    reports = [
        (delivery_id, event)
        for delivery_id, events in parsed
        for event in events
        if isinstance(event, StatusEvent)
    ]
    if reports:
        _apply_statuses(reports, outcomes=outcomes, replay=replay)
    for delivery_id, events in parsed:
        outcome = outcomes[delivery_id]
        for event in events:
            if isinstance(event, StatusEvent):
                continue
            handler = _handler_for(event)
            where = f"{event.kind} {getattr(event, 'wamid', '') or event.field}".strip()
            try:
                outcome.counts[handler(event, delivery_id)] += 1
            except Exception as error:
                outcome.record_error(where, error)


def _handler_for(event: Event) -> Callable[[Any, int | None], str]:
    if isinstance(event, InboundMessageEvent):
        return inbound.inbound_message_record
    return accounts.HANDLERS.get(event.kind, accounts.unknown_event_record)


def _apply_statuses(
    reports: list[tuple[int, StatusEvent]],
    *,
    outcomes: dict[int, DeliveryOutcome],
    replay: bool,
) -> None:
    try:
        counts = statuses.statuses_record(reports=reports, replay=replay)
    except Exception:
        # One bad report must not block the others: apply them one by one to find it.
        logger.warning("a batch of %d statuses failed; applying one by one", len(reports))
        counts = {}
        for delivery_id, event in reports:
            try:
                one = statuses.statuses_record(reports=[(delivery_id, event)], replay=replay)
            except Exception as error:
                outcomes[delivery_id].record_error(f"status {event.status} of {event.wamid}", error)
            else:
                counts.setdefault(delivery_id, Counter()).update(one.get(delivery_id, {}))
    for delivery_id, delivery_counts in counts.items():
        outcomes[delivery_id].counts.update(delivery_counts)


# --- Replay, sweep, purge ----------------------------------------------------------------------


def webhook_deliveries_select(
    *,
    ids: Iterable[int] = (),
    statuses_in: Iterable[str] = (),
    received_from: dt.datetime | None = None,
    received_until: dt.datetime | None = None,
) -> list[int]:
    """Ids of stored deliveries matching every given filter (oldest first), for a replay."""
    deliveries = WebhookDelivery.objects.all()
    ids, statuses_in = list(ids), list(statuses_in)
    if ids:
        deliveries = deliveries.filter(pk__in=ids)
    if statuses_in:
        deliveries = deliveries.filter(status__in=statuses_in)
    if received_from is not None:
        deliveries = deliveries.filter(received_at__gte=received_from)
    if received_until is not None:
        deliveries = deliveries.filter(received_at__lt=received_until)
    return list(deliveries.order_by("received_at", "pk").values_list("pk", flat=True))


def webhook_deliveries_replay(*, delivery_ids: Iterable[int]) -> int:
    """Queue stored deliveries for processing again (admin action); returns how many.

    They go back to pending and are processed by Celery after commit. Safe for any delivery:
    processing is idempotent.
    """
    ids = list(delivery_ids)
    with transaction.atomic():
        reset = list(
            WebhookDelivery.objects.select_for_update()
            .filter(pk__in=ids)
            .exclude(status=DeliveryStatus.PROCESSING)
            .values_list("pk", flat=True)
        )
        WebhookDelivery.objects.filter(pk__in=reset).update(status=DeliveryStatus.PENDING, error="")
        transaction.on_commit(partial(_enqueue_processing, reset))
    return len(reset)


def webhook_deliveries_sweep(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Catch up on anything a lost task or a dead worker left behind (run by beat).

    Deliveries still pending after a minute, or claimed for processing longer than
    TIDINGS_WEBHOOK_PROCESSING_TIMEOUT_SECONDS ago, are queued again; statuses past their retry
    window get one last try and are then kept as unmatched; consent replies still pending after
    a minute (a lost task, or Meta asked us to retry) are queued again while the service window
    is open.
    """
    now = now or timezone.now()
    # A claimed batch takes seconds; one claimed for longer than this was left by a dead worker.
    # Processing is idempotent, so wrongly reclaiming a slow batch costs only repeated work.
    processing_timeout = dt.timedelta(seconds=settings.TIDINGS_WEBHOOK_PROCESSING_TIMEOUT_SECONDS)
    with transaction.atomic():
        abandoned = WebhookDelivery.objects.filter(
            status=DeliveryStatus.PROCESSING, claimed_at__lt=now - processing_timeout
        ).update(status=DeliveryStatus.PENDING)
        waiting = list(
            WebhookDelivery.objects.filter(
                status=DeliveryStatus.PENDING, received_at__lt=now - PENDING_GRACE
            )
            .order_by("received_at")
            .values_list("pk", flat=True)[:SWEEP_BATCH]
        )
        transaction.on_commit(partial(_enqueue_processing, waiting))
    expired = statuses.unmatched_statuses_finish_expired(now=now)
    lost_replies = replies.consent_replies_due(now=now, grace=PENDING_GRACE, limit=SWEEP_BATCH)
    for inbound_message_id in lost_replies:
        replies.consent_reply_enqueue(inbound_message_id)
    return {
        "abandoned": abandoned,
        "requeued": len(waiting),
        **expired,
        "consent_replies": len(lost_replies),
    }


def webhook_records_purge(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Delete what is past its retention (run by beat): raw deliveries, event records and
    unmatched statuses after TIDINGS_WEBHOOK_RETENTION_DAYS, inbound messages after
    TIDINGS_INBOUND_MESSAGE_RETENTION_DAYS. In batches, so a large backlog never holds long locks.
    """
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=settings.TIDINGS_WEBHOOK_RETENTION_DAYS)
    inbound_cutoff = now - dt.timedelta(days=settings.TIDINGS_INBOUND_MESSAGE_RETENTION_DAYS)
    return {
        "inbound_messages": _purge(InboundMessage.objects.filter(recorded_at__lt=inbound_cutoff)),
        "events": _purge(WebhookEvent.objects.filter(recorded_at__lt=cutoff)),
        "unmatched_statuses": _purge(
            UnmatchedStatus.objects.filter(first_seen_at__lt=cutoff).exclude(
                state=UnmatchedStatusState.RETRYING
            )
        ),
        "deliveries": _purge(
            WebhookDelivery.objects.filter(received_at__lt=cutoff).exclude(
                Q(status=DeliveryStatus.PENDING) | Q(status=DeliveryStatus.PROCESSING)
            )
        ),
    }


def _purge(queryset: Any) -> int:
    deleted = 0
    for _ in range(PURGE_MAX_BATCHES):
        ids = list(queryset.values_list("pk", flat=True)[:PURGE_BATCH])
        if not ids:
            break
        with transaction.atomic():
            queryset.model.objects.filter(pk__in=ids).delete()
        deleted += len(ids)
    return deleted
