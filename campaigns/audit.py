"""The message audit for compliance: every outbound message with why it was sent and on what.

One row per message: what triggered it (a campaign, a test send, an API call) and who, the
campaign's purpose and lawful basis, the consent record it relied on (with its evidence), the
template variant, every status Meta reported (from `MessageStatusEvent`) and every timestamp.

The CSV is streamed: messages are read through a server-side cursor in chunks, each chunk with
its related rows joined and its status events fetched in one query, and written line by line, so
an export of a million messages holds one chunk in memory, never the whole ledger.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from itertools import islice
from typing import Any

from django.db.models import Q, QuerySet

from .models import Campaign, LawfulBasis, Message, MessageStatusEvent

CHUNK_SIZE = 2000

COLUMNS = [
    "message_id",
    "created_at",
    "trigger",
    "triggered_by",
    "campaign_id",
    "campaign",
    "test_send",
    "purpose",
    "lawful_basis",
    "contact_id",
    "phone",
    "consent_record_id",
    "consent_action",
    "consent_scope",
    "consent_source",
    "consent_evidence",
    "consent_captured_at",
    "template",
    "language",
    "category",
    "status",
    "reason",
    "error_code",
    "error_title",
    "wamid",
    "queued_at",
    "sending_at",
    "sent_at",
    "delivered_at",
    "read_at",
    "failed_at",
    "replied_at",
    "status_history",
]


_RELATED = ("campaign", "test_of_campaign", "contact", "template", "consent_record", "triggered_by")
# Only what a row shows: the rendered parameters, Meta's raw errors and the contact's attributes
# stay unread, which keeps a chunk of rows small.
_FIELDS = (
    *_RELATED,
    *(
        f"{campaign}__{name}"
        for campaign in ("campaign", "test_of_campaign")
        for name in ("name", "purpose", "lawful_basis")
    ),
    "contact__phone",
    "template__name",
    "template__language",
    *(
        f"consent_record__{name}"
        for name in ("action", "scope", "source", "evidence", "captured_at")
    ),
    "triggered_by__username",
    "created_at",
    "category",
    "status",
    "reason",
    "error_code",
    "error_title",
    "wamid",
    "queued_at",
    "sending_at",
    "sent_at",
    "delivered_at",
    "read_at",
    "failed_at",
    "replied_at",
)


class Trigger:
    CAMPAIGN = "campaign"
    TEST_SEND = "test send"
    API = "API"


def message_audit_queryset(
    *,
    created_from: dt.datetime | None = None,
    created_to: dt.datetime | None = None,
    campaign_id: int | None = None,
    status: str | None = None,
    base: QuerySet[Message] | None = None,
) -> QuerySet[Message]:
    """The messages of an audit, oldest first: created in [`created_from`, `created_to`), of a
    campaign (its test sends included), in a status; `base` narrows it further (an admin
    selection). Filters use the ledger's indexes."""
    messages = base if base is not None else Message.objects.all()
    if created_from is not None:
        messages = messages.filter(created_at__gte=created_from)
    if created_to is not None:
        messages = messages.filter(created_at__lt=created_to)
    if campaign_id is not None:
        messages = messages.filter(Q(campaign_id=campaign_id) | Q(test_of_campaign_id=campaign_id))
    if status:
        messages = messages.filter(status=status)
    return messages.select_related(*_RELATED).only(*_FIELDS).order_by("id")


def audit_campaign(message: Message) -> Campaign | None:
    """The campaign whose purpose a message served: its own, or the one a test send previewed."""
    return message.campaign or message.test_of_campaign


def message_trigger(message: Message) -> str:
    if message.campaign_id is not None:
        return Trigger.CAMPAIGN
    if message.test_of_campaign_id is not None:
        return Trigger.TEST_SEND
    return Trigger.API


def status_histories(message_ids: list[int]) -> dict[int, str]:
    """Every status Meta reported for each message, in order, with its time and error code:
    ``sent 2026-05-01T10:00:00+00:00; failed 2026-05-01T10:00:05+00:00 (131026)``.

    Read as plain tuples rather than prefetched: prefetched events point back at their message,
    and those reference cycles would keep every chunk of an export alive until the garbage
    collector happened to run."""
    entries: dict[int, list[str]] = defaultdict(list)
    events = (
        MessageStatusEvent.objects.filter(message_id__in=message_ids)
        .order_by("occurred_at", "id")
        .values_list("message_id", "status", "occurred_at", "error_code")
    )
    for message_id, status, occurred_at, error_code in events:
        entry = f"{status} {occurred_at.isoformat()}"
        if error_code is not None:
            entry += f" ({error_code})"
        entries[message_id].append(entry)
    return {message_id: "; ".join(history) for message_id, history in entries.items()}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _text(value: str | None) -> str:
    """Free text typed by people: keep spreadsheet programs from running it as a formula."""
    if not value:
        return ""
    return "'" + value if value[:1] in {"=", "+", "-", "@"} else value


def audit_row(message: Message, status_history: str) -> list[str]:
    campaign = audit_campaign(message)
    consent = message.consent_record
    template = message.template
    values = (
        message.pk,
        message.created_at,
        message_trigger(message),
        _text(message.triggered_by.get_username()) if message.triggered_by else None,
        message.campaign_id,
        _text(campaign.name) if campaign else None,
        "yes" if message.test_of_campaign_id else "no",
        _text(campaign.purpose) if campaign else None,
        LawfulBasis(campaign.lawful_basis).label if campaign else None,
        message.contact_id,
        message.contact.phone,
        message.consent_record_id,
        consent.action if consent else None,
        consent.scope if consent else None,
        consent.source if consent else None,
        _text(consent.evidence) if consent else None,
        consent.captured_at if consent else None,
        template.name if template else None,
        template.language if template else None,
        message.category,
        message.status,
        _text(message.reason),
        message.error_code,
        _text(message.error_title),
        message.wamid,
        message.queued_at,
        message.sending_at,
        message.sent_at,
        message.delivered_at,
        message.read_at,
        message.failed_at,
        message.replied_at,
        status_history,
    )
    return [_cell(value) for value in values]


class _Echo:
    def write(self, value: str) -> str:
        return value


def message_audit_csv_lines(messages: QuerySet[Message]) -> Iterator[str]:
    """The header, then one CSV line per message, read `CHUNK_SIZE` at a time."""
    writer = csv.writer(_Echo())
    yield writer.writerow(COLUMNS)
    rows = messages.iterator(chunk_size=CHUNK_SIZE)
    while chunk := list(islice(rows, CHUNK_SIZE)):
        histories = status_histories([message.pk for message in chunk])
        for message in chunk:
            yield writer.writerow(audit_row(message, histories.get(message.pk, "")))
