"""What Meta reports about messages we sent, applied to the message ledger.

Meta delivers statuses late, twice and out of order, and sometimes before our own send result is
committed. The rules, which make any order of the same reports end in the same state:

* A status is matched to a message by its wamid, or by our id in `biz_opaque_callback_data`
  (``tidings:<id>``) when the message has no wamid yet (the race with the send result) — the
  wamid is then recorded, which is also the reconciler's proof that the message left.
* Each distinct (message, status) is recorded once in `MessageStatusEvent` with Meta's own
  timestamp; repeats change nothing.
* `Message.status` only moves forward: sent < delivered < read. `failed` is terminal, with Meta's
  error code, title and details; it is not applied over delivered or read (Meta's anomaly is kept
  as an event and logged). Statuses Meta adds later (`played`…) are kept as events only.
* Timestamps are the earliest evidence: a `read` before any `delivered` fills `delivered_at` (Meta
  sends no `delivered` when both happen at once), and any status fills `sent_at`.
* Pricing and conversation blocks are stored for cost reporting.

Set-based: one call applies a whole webhook batch with a fixed number of queries (lock and read
the messages, read their existing events, insert the new events, write the changed messages in
one statement), whatever the number of statuses. Rows are locked in id order, so concurrent
batches touching the same messages queue instead of deadlocking.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from whatsapp.events import StatusEvent

from .dispatch import (
    marketing_limit_retries_schedule,
    message_id_from_callback_data,
    record_marketing_opt_outs,
)
from .models import Message, MessageStatus, MessageStatusEvent
from .models.messages import DELIVERY_RANK

logger = logging.getLogger(__name__)

USER_STOPPED_MARKETING = 131050
# States a status report may move a message out of: it proves the message left, whatever our
# side believed (still sending, queued again after an ambiguous timeout, outcome unknown).
_NOT_YET_SENT = frozenset(
    {
        MessageStatus.QUEUED,
        MessageStatus.DEFERRED,
        MessageStatus.SENDING,
        MessageStatus.UNKNOWN,
    }
)
_DELIVERY_STATUSES = {str(status): rank for status, rank in DELIVERY_RANK.items()}
_STATUS_OF_RANK = {rank: status for status, rank in DELIVERY_RANK.items()}
_WRITTEN_FIELDS = (
    "status",
    "wamid",
    "reason",
    "sent_at",
    "delivered_at",
    "read_at",
    "failed_at",
    "error_code",
    "error_title",
    "error_details",
    "pricing_category",
    "pricing_model",
    "pricing_type",
    "billable",
    "conversation_id",
    "conversation_origin",
    "conversation_expires_at",
    "lease_expires_at",
    "updated_at",
)


@dataclass
class StatusBatchResult:
    """What one batch did. `unmatched` are the reports whose message was not found."""

    matched: list[StatusEvent] = field(default_factory=list)
    unmatched: list[StatusEvent] = field(default_factory=list)
    events_recorded: int = 0
    messages_updated: int = 0


def message_statuses_apply(*, statuses: Sequence[StatusEvent]) -> StatusBatchResult:
    """Apply a batch of Meta's status reports to the ledger; idempotent and order-independent.

    Reports without a wamid or our callback id, and reports for messages that do not exist (yet),
    come back in `unmatched` for the caller to keep and retry; nothing about them is written.
    """
    result = StatusBatchResult()
    now = timezone.now()
    with transaction.atomic():
        messages = _lock_messages(statuses)
        originals = {message_id: _snapshot(message) for message_id, message in messages.items()}
        by_wamid = {m.wamid: m for m in messages.values() if m.wamid}
        reports: dict[int, list[StatusEvent]] = defaultdict(list)
        for status in statuses:
            message = _match(status, messages, by_wamid)
            if message is None:
                result.unmatched.append(status)
                continue
            result.matched.append(status)
            reports[message.pk].append(status)
        if not reports:
            return result

        existing = set(
            MessageStatusEvent.objects.filter(message_id__in=list(reports))
            .order_by()
            .values_list("message_id", "status")
        )
        new_events: dict[tuple[int, str], MessageStatusEvent] = {}
        changed: list[Message] = []
        for message_id, message_reports in reports.items():
            message = messages[message_id]
            for status in message_reports:
                _collect_event(status, message_id, existing, new_events, now)
            _apply(message, message_reports, now)
            if _snapshot(message) != originals[message_id]:
                message.updated_at = now
                changed.append(message)
        MessageStatusEvent.objects.bulk_create(new_events.values(), ignore_conflicts=True)
        _write(changed)
        marketing_limit_retries_schedule(messages=changed)
        result.events_recorded = len(new_events)
        result.messages_updated = len(changed)

        stopped_marketing = sorted(
            {
                messages[message_id].contact_id
                for (message_id, status), event in new_events.items()
                if status == MessageStatus.FAILED and event.error_code == USER_STOPPED_MARKETING
            }
        )
        if stopped_marketing:
            record_marketing_opt_outs(
                stopped_marketing, evidence="Meta error 131050 in a failed status webhook"
            )
    return result


def _snapshot(message: Message) -> tuple[Any, ...]:
    return tuple(getattr(message, name) for name in _WRITTEN_FIELDS)


def _lock_messages(statuses: Iterable[StatusEvent]) -> dict[int, Message]:
    wamids = {status.wamid for status in statuses if status.wamid}
    ids = {
        message_id
        for status in statuses
        if (message_id := message_id_from_callback_data(status.biz_opaque_callback_data))
        and message_id < 2**63  # a bigint: anything larger is not our id
    }
    if not wamids and not ids:
        return {}
    rows = (
        Message.objects.select_for_update(of=("self",))
        .filter(Q(wamid__in=wamids) | Q(pk__in=ids))
        .order_by("pk")
        .only("pk", "contact", *_WRITTEN_FIELDS)
    )
    return {message.pk: message for message in rows}


def _match(
    status: StatusEvent, messages: dict[int, Message], by_wamid: dict[str, Message]
) -> Message | None:
    if status.wamid and status.wamid in by_wamid:
        return by_wamid[status.wamid]
    message = messages.get(message_id_from_callback_data(status.biz_opaque_callback_data) or 0)
    if message is None:
        return None
    if message.wamid and status.wamid and message.wamid != status.wamid:
        # Our id with another wamid: not this message (another installation sharing the WABA).
        logger.warning(
            "status %s names message %s by callback data but wamid %s (message has %s)",
            status.status,
            message.pk,
            status.wamid,
            message.wamid,
        )
        return None
    if status.wamid and not message.wamid:
        # The status arrived before our send result was recorded: the wamid is ours now.
        message.wamid = status.wamid
        by_wamid[status.wamid] = message
    return message


def _collect_event(
    status: StatusEvent,
    message_id: int,
    existing: set[tuple[int, str]],
    new_events: dict[tuple[int, str], MessageStatusEvent],
    now: dt.datetime,
) -> None:
    name = (status.status or "unknown")[:32]
    key = (message_id, name)
    if key in existing:
        return
    occurred_at = status.occurred_at or now
    known = new_events.get(key)
    if known is not None and known.occurred_at <= occurred_at:
        return
    error = status.first_error
    new_events[key] = MessageStatusEvent(
        message_id=message_id,
        status=name,
        occurred_at=occurred_at,
        error_code=error.code if error else None,
        error_title=(error.summary if error else "")[:300],
    )


def _earliest(current: dt.datetime | None, candidate: dt.datetime) -> dt.datetime:
    return candidate if current is None or candidate < current else current


def _apply(message: Message, reports: list[StatusEvent], now: dt.datetime) -> None:
    """Fold the reports into the message (in memory; `_write` stores what changed)."""
    current = message.status
    best_rank = _DELIVERY_STATUSES.get(current, 0)
    failure: StatusEvent | None = None
    for report in sorted(reports, key=lambda report: report.occurred_at or now):
        at = report.occurred_at or now
        rank = _DELIVERY_STATUSES.get(report.status)
        if rank is not None:
            best_rank = max(best_rank, rank)
            message.sent_at = _earliest(message.sent_at, at)
            if rank >= DELIVERY_RANK[MessageStatus.DELIVERED]:
                message.delivered_at = _earliest(message.delivered_at, at)
            if rank >= DELIVERY_RANK[MessageStatus.READ]:
                message.read_at = _earliest(message.read_at, at)
        elif report.status == MessageStatus.FAILED:
            message.failed_at = _earliest(message.failed_at, at)
            failure = failure or report
        _store_costs(message, report)

    reached_delivery = best_rank >= DELIVERY_RANK[MessageStatus.DELIVERED]
    if current not in _NOT_YET_SENT and current not in _DELIVERY_STATUSES:
        # failed (terminal), skipped, expired: the reports stay as events only.
        if best_rank > _DELIVERY_STATUSES.get(current, 0):
            logger.warning(
                "message %s is %s; Meta's later reports kept as events", message.pk, current
            )
    elif failure is not None and not reached_delivery:
        _fail(message, failure)
    else:
        if failure is not None:
            logger.warning("message %s failed after delivery; kept as an event", message.pk)
        if best_rank > _DELIVERY_STATUSES.get(current, 0):
            message.status = _STATUS_OF_RANK[best_rank]
    if message.status not in _NOT_YET_SENT:
        message.lease_expires_at = None


def _fail(message: Message, report: StatusEvent) -> None:
    error = report.first_error
    message.status = MessageStatus.FAILED
    message.reason = "meta_error"
    if error is not None:
        message.error_code = error.code
        message.error_title = error.summary[:300]
        message.error_details = error.details or error.message


def _store_costs(message: Message, report: StatusEvent) -> None:
    if report.has_pricing:
        message.pricing_category = report.pricing_category[:32] or message.pricing_category
        message.pricing_model = report.pricing_model[:16] or message.pricing_model
        message.pricing_type = report.pricing_type[:32] or message.pricing_type
        if report.pricing_billable is not None:
            message.billable = report.pricing_billable
    if report.conversation_id:
        message.conversation_id = report.conversation_id[:128]
    if report.conversation_origin:
        message.conversation_origin = report.conversation_origin[:32]
    if report.conversation_expires_at is not None:
        message.conversation_expires_at = report.conversation_expires_at


def _write(messages: list[Message]) -> None:
    """Per-row values in one statement on PostgreSQL (bulk_update's CASE is far slower)."""
    if not messages:
        return
    fields = [Message._meta.get_field(name) for name in _WRITTEN_FIELDS]
    if connection.vendor != "postgresql":
        Message.objects.bulk_update(messages, list(_WRITTEN_FIELDS))
        return
    pk = Message._meta.pk
    casts = [pk.db_type(connection), *(model_field.db_type(connection) for model_field in fields)]
    row = "(" + ", ".join(f"%s::{cast}" for cast in casts) + ")"
    params: list[Any] = []
    for message in messages:
        params.append(message.pk)
        params.extend(
            model_field.get_db_prep_value(getattr(message, model_field.attname), connection)
            for model_field in fields
        )
    columns = ", ".join(connection.ops.quote_name(model_field.column) for model_field in fields)
    assignments = ", ".join(
        f"{connection.ops.quote_name(f.column)} = v.{connection.ops.quote_name(f.column)}"
        for f in fields
    )
    table = connection.ops.quote_name(Message._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS m SET {assignments} "  # noqa: S608 - names come from the model
            f"FROM (VALUES {', '.join([row] * len(messages))}) AS v(id, {columns}) "
            "WHERE m.id = v.id",
            params,
        )


def message_record_reply(
    *, contact_id: int, replied_at: dt.datetime, window: dt.timedelta, context_wamid: str = ""
) -> int | None:
    """Count a message from a contact as a reply; returns the id of the message it answers.

    A reply that quotes one of our messages (`context.id`, e.g. a quick-reply tap) answers that
    message, whenever it was sent. Otherwise it answers the contact's latest campaign message sent
    within `window` before it. Only the first reply sets `replied_at`, so redeliveries and later
    replies change nothing.
    """
    target = None
    if context_wamid:
        target = Message.objects.filter(wamid=context_wamid).values_list("pk", flat=True).first()
    if target is None:
        target = (
            Message.objects.filter(
                contact_id=contact_id,
                campaign__isnull=False,
                sent_at__gte=replied_at - window,
                sent_at__lte=replied_at,
            )
            .order_by("-sent_at", "-pk")
            .values_list("pk", flat=True)
            .first()
        )
    if target is None:
        return None
    Message.objects.filter(
        Q(replied_at__isnull=True) | Q(replied_at__gt=replied_at), pk=target
    ).update(replied_at=replied_at, updated_at=timezone.now())
    return target
