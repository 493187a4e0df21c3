"""Erasing what Meta's webhooks told us about a contact (GDPR right to erasure).

Registered in `WebhooksConfig.ready` and run by `contacts.contact_erase` before the contact is
anonymised, while its number and user id are still known. Kept for the audit: that a message
came in, when, of which type, the consent it was read as and what it replied to; the wamids and
timestamps of statuses. Erased: what the person wrote, their number, user id and profile name —
in the inbound messages, and in every stored raw delivery, event and unmatched status that names
them.

Raw deliveries are redacted rather than deleted: one delivery often carries other people's events
too. A redacted body keeps its original `sha256`, so a redelivery of the same body by Meta is
still recognised as already stored instead of bringing the number back.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import connection
from django.db.models import IntegerField, Q, QuerySet, TextField
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast

from contacts.models import Contact
from webhooks.models import InboundMessage, UnmatchedStatus, WebhookDelivery, WebhookEvent

ERASED = "[erased]"
# Keys through which Meta names the person an object of a payload is about.
_IDENTITY_KEYS = ("wa_id", "from", "recipient_id", "user_id", "from_user_id", "recipient_user_id")
# What an object about the person keeps: ids, times, kinds and states, never content.
_METADATA_KEYS = frozenset(
    {
        "id",
        "timestamp",
        "type",
        "status",
        "recipient_type",
        "messaging_product",
        "biz_opaque_callback_data",
        "billable",
        "pricing_model",
        "category",
        "code",
        "origin",
        "expiration_timestamp",
    }
)


def webhook_records_erase_for_contact(contact_id: int) -> None:
    contact = Contact.objects.get(pk=contact_id)
    identifiers = _identifiers(contact)
    names = {contact.name} if contact.name else set()
    inbound = InboundMessage.objects.filter(contact_id=contact_id)
    if identifiers:
        inbound = InboundMessage.objects.filter(
            Q(contact_id=contact_id)
            | Q(from_wa_id__in=identifiers)
            | Q(from_user_id__in=identifiers)
        )
    delivery_ids = set(
        inbound.exclude(delivery_id=None).values_list("delivery_id", flat=True).distinct()
    )
    inbound.update(
        from_wa_id="",
        from_user_id="",
        text="",
        button_payload="",
        button_text="",
        interactive_id="",
        interactive_title="",
    )
    if not identifiers:
        return
    redact = _Redactor(identifiers, names)
    deliveries = WebhookDelivery.objects.filter(
        Q(pk__in=delivery_ids) | _body_contains_any(identifiers)
    )
    for delivery in deliveries.only("pk", "body", "error").iterator(chunk_size=200):
        body = redact.body(bytes(delivery.body))
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            body=body, size=len(body), error=redact.text(delivery.error)
        )
    for event in _payload_contains_any(WebhookEvent.objects.all(), identifiers).only(
        "pk", "payload", "outcome"
    ):
        WebhookEvent.objects.filter(pk=event.pk).update(
            payload=redact.json(event.payload), outcome=redact.text(event.outcome)
        )
    unmatched = UnmatchedStatus.objects.filter(recipient_id__in=identifiers)
    unmatched = unmatched | _payload_contains_any(UnmatchedStatus.objects.all(), identifiers)
    for status in unmatched.distinct().only("pk", "payload"):
        UnmatchedStatus.objects.filter(pk=status.pk).update(
            payload=redact.json(status.payload), recipient_id=""
        )


def _identifiers(contact: Contact) -> list[str]:
    phone = contact.phone or ""
    values = {phone, phone.removeprefix("+"), contact.wa_id, contact.whatsapp_user_id or ""}
    return sorted((value for value in values if value), key=len, reverse=True)


def _body_contains_any(identifiers: list[str]) -> Q:
    """Raw bodies are bytes: searched in the database, so the rows are never all loaded here."""
    function = (
        "position(%s::bytea in body)" if connection.vendor == "postgresql" else "instr(body, %s)"
    )
    condition = Q(pk__in=[])
    for identifier in identifiers:
        # The SQL is one of two constants; the identifier is a bound parameter.
        found = RawSQL(function, (identifier.encode(),), output_field=IntegerField())  # noqa: S611
        condition |= Q(
            pk__in=WebhookDelivery.objects.alias(found=found).filter(found__gt=0).values("pk")
        )
    return condition


def _payload_contains_any(queryset: QuerySet, identifiers: list[str]) -> QuerySet:
    condition = Q(pk__in=[])
    for identifier in identifiers:
        condition |= Q(payload_text__contains=identifier)
    return queryset.alias(payload_text=Cast("payload", TextField())).filter(condition)


class _Redactor:
    """Removes one person from Meta's JSON: objects about them keep only their metadata, and
    their number, user id or name is cut out of any other text."""

    def __init__(self, identifiers: list[str], names: set[str]) -> None:
        self.identifiers = identifiers
        self.names = names

    def body(self, raw: bytes) -> bytes:
        try:
            document = json.loads(raw)
        except ValueError:
            # Not JSON (kept for an operator to look at): cut the values out of the bytes.
            for value in [*self.identifiers, *self.names]:
                raw = raw.replace(value.encode(), ERASED.encode())
            return raw
        return json.dumps(self.json(document), ensure_ascii=False, separators=(",", ":")).encode()

    def json(self, node: Any, *, about_them: bool = False, key: str = "") -> Any:
        if isinstance(node, dict):
            about_them = about_them or any(
                node.get(name) in self.identifiers for name in _IDENTITY_KEYS
            )
            return {
                name: self.json(value, about_them=about_them, key=name)
                for name, value in node.items()
            }
        if isinstance(node, list):
            return [self.json(item, about_them=about_them, key=key) for item in node]
        if isinstance(node, str):
            if about_them and key not in _METADATA_KEYS:
                return ""
            return self.text(node)
        return node

    def text(self, value: str) -> str:
        if value in self.names:
            return ""
        for identifier in self.identifiers:
            value = value.replace(identifier, ERASED)
        for name in self.names:
            if len(name) >= 3:  # shorter names would cut letters out of other words
                value = value.replace(name, ERASED)
        return value
