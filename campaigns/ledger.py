"""What Meta reports about messages we sent, applied to the message ledger.

Meta delivers statuses late, twice and out of order, and sometimes before our own send result is
committed. The rules, which make any order of the same reports end in the same state:

* A status is matched to a message by its wamid, or by our id in `biz_opaque_callback_data`
  (``tidings:<id>``) when the message has no wamid yet (the race with the send result) — the
  wamid is then recorded, which is also the reconciler's proof that the message left.
* Each distinct (message, status) is recorded once in `MessageStatusEvent` with Meta's own
  timestamp; repeats change nothing.
* `Message.status` only moves forward: sent < delivered < read. `failed` is terminal against
  `sent`, but a `delivered` or `read` report proves delivery and wins over `failed` whatever the
  order they arrive in (Meta's anomaly is logged). Either way the failure's time and Meta's
  errors (code, title, message, details, href) stay on the message as evidence. Statuses Meta
  adds later (`played`…) are kept as events only.
* Timestamps are the earliest evidence: a `read` before any `delivered` fills `delivered_at` (Meta
  sends no `delivered` when both happen at once), and any delivery status fills `sent_at`. A
  repeated report with an earlier time moves the recorded time back: Meta's retries carry the
  original time, so a later time seen first was not the real one.
* Pricing and conversation blocks are stored for cost reporting, and a status's business-scoped
  user id (`recipient_user_id`) on a contact that has none.

Set-based: one call applies a whole webhook batch with a fixed number of queries (lock and read
the messages, read their existing events, insert the new events, move earlier-reported events
back, write the changed messages in one statement, store user ids), whatever the number of
statuses. Rows are locked in id order, so concurrent
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

from contacts.services import contacts_record_whatsapp_user_ids
from whatsapp.events import EventError, StatusEvent

from .dispatch import (
    marketing_limit_retries_schedule,
    message_id_from_callback_data,
    record_marketing_opt_outs,
)
from .models import Message, MessageStatus, MessageStatusEvent
from .models.messages import DELIVERY_RANK

logger = logging.getLogger(__name__)

USER_STOPPED_MARKETING = 131050
FAILED_REASON = "meta_error"
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
# Skipped and expired messages never left: what Meta reports about them is kept as events only.
_REPORTS_APPLY_TO = _NOT_YET_SENT | set(_DELIVERY_STATUSES) | {MessageStatus.FAILED}
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
    "meta_errors",
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

        existing: dict[tuple[int, str], MessageStatusEvent] = {
            (event.message_id, event.status): event
            for event in MessageStatusEvent.objects.filter(message_id__in=list(reports))
            .order_by()
            .only("pk", "message_id", "status", "occurred_at", "error_code", "error_title")
        }
        new_events: dict[tuple[int, str], MessageStatusEvent] = {}
        earlier: dict[tuple[int, str], MessageStatusEvent] = {}
        changed: list[Message] = []
        for message_id, message_reports in reports.items():
            message = messages[message_id]
            for status in message_reports:
                _collect_event(status, message_id, existing, new_events, earlier, now)
            _apply(message, message_reports, now)
            if _snapshot(message) != originals[message_id]:
                message.updated_at = now
                changed.append(message)
        MessageStatusEvent.objects.bulk_create(new_events.values(), ignore_conflicts=True)
        if earlier:
            # The messages are locked, so no other batch writes their events meanwhile.
            MessageStatusEvent.objects.bulk_update(
                earlier.values(), ["occurred_at", "error_code", "error_title"]
            )
        _write(changed)
        marketing_limit_retries_schedule(messages=changed)
        result.events_recorded = len(new_events)
        result.messages_updated = len(changed)
        _store_user_ids(reports, messages)

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


def _store_user_ids(reports: dict[int, list[StatusEvent]], messages: dict[int, Message]) -> None:
    """The business-scoped user id a status names, for contacts that have none yet."""
    named: dict[int, set[str]] = defaultdict(set)
    for message_id, message_reports in reports.items():
        for report in message_reports:
            if report.recipient_user_id:
                named[messages[message_id].contact_id].add(report.recipient_user_id)
    # A contact named by two different ids in one batch is not ours to settle here.
    user_ids = {contact_id: ids.pop() for contact_id, ids in named.items() if len(ids) == 1}
    if user_ids:
        contacts_record_whatsapp_user_ids(user_ids=user_ids)


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
    existing: dict[tuple[int, str], MessageStatusEvent],
    new_events: dict[tuple[int, str], MessageStatusEvent],
    earlier: dict[tuple[int, str], MessageStatusEvent],
    now: dt.datetime,
) -> None:
    """Each (message, status) once, at the earliest time reported for it."""
    name = (status.status or "unknown")[:32]
    key = (message_id, name)
    occurred_at = status.occurred_at or now
    error = status.first_error
    recorded = existing.get(key)
    if recorded is not None:
        if occurred_at < recorded.occurred_at:
            _set_event_values(recorded, occurred_at, error)
            earlier[key] = recorded
        return
    known = new_events.get(key)
    if known is not None and known.occurred_at <= occurred_at:
        return
    new_events[key] = _set_event_values(
        MessageStatusEvent(message_id=message_id, status=name), occurred_at, error
    )


def _set_event_values(
    event: MessageStatusEvent, occurred_at: dt.datetime, error: EventError | None
) -> MessageStatusEvent:
    event.occurred_at = occurred_at
    event.error_code = error.code if error else None
    event.error_title = (error.summary if error else "")[:300]
    return event


def _earliest(current: dt.datetime | None, candidate: dt.datetime) -> dt.datetime:
    return candidate if current is None or candidate < current else current


def _apply(message: Message, reports: list[StatusEvent], now: dt.datetime) -> None:
    """Fold the reports into the message (in memory; `_write` stores what changed).

    Every rule is a maximum or a minimum over all reports seen (the highest delivery rank, the
    earliest time of each status, whether any failure was reported), so the result does not
    depend on the order of the reports or on how they were batched.
    """
    current = message.status
    best_rank = _DELIVERY_STATUSES.get(current, 0)
    failed = current == MessageStatus.FAILED
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
            failed = True
            if message.failed_at is None or at < message.failed_at:
                # The earliest failure is the one on record, with its errors.
                message.failed_at = at
                _store_errors(message, report.errors)
        _store_costs(message, report)

    if current not in _REPORTS_APPLY_TO:
        # Skipped, expired: the reports stay as events only.
        logger.warning("message %s is %s; Meta's reports kept as events", message.pk, current)
    elif best_rank >= DELIVERY_RANK[MessageStatus.DELIVERED]:
        if failed:
            logger.warning(
                "message %s: Meta reported it failed and delivered; delivery wins", message.pk
            )
        message.status = _STATUS_OF_RANK[best_rank]
    elif failed:
        if current != MessageStatus.FAILED:
            message.status = MessageStatus.FAILED
            message.reason = FAILED_REASON
    elif best_rank > _DELIVERY_STATUSES.get(current, 0):
        message.status = _STATUS_OF_RANK[best_rank]
    if message.status in _DELIVERY_STATUSES and current not in _DELIVERY_STATUSES:
        # Why it had not left yet, or why it failed, no longer holds: Meta says it went out.
        message.reason = ""
    if message.status not in _NOT_YET_SENT:
        message.lease_expires_at = None


def _store_errors(message: Message, errors: Sequence[EventError]) -> None:
    """Meta's errors as evidence: the first in the columns, all of them whole in `meta_errors`."""
    message.meta_errors = [
        {
            "code": error.code,
            "title": error.title,
            "message": error.message,
            "details": error.details,
            "href": error.href,
        }
        for error in errors
    ]
    if not errors:
        return
    first = errors[0]
    message.error_code = first.code
    message.error_title = first.summary[:300]
    # Meta's title and message are usually the same text; a message that says more is kept.
    message.error_details = "\n".join(
        dict.fromkeys(
            text for text in (first.message, first.details) if text and text != first.summary
        )
    )


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
