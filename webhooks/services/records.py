"""`WebhookEvent` records: each non-status, non-message event once, with what was done about it."""

from __future__ import annotations

import math
from typing import Any

from whatsapp.events import Event

from ..models import WebhookEvent


def storable_json(value: Any) -> Any:
    """`value` as JSON PostgreSQL's jsonb accepts: no NUL characters in keys or strings, and
    NaN or infinite numbers as text. Meta sends neither, but a validly signed body may (Python's
    JSON parser accepts `NaN` and `Infinity`)."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {storable_json(key): storable_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [storable_json(item) for item in value]
    return value


def event_claim(event: Event, *, delivery_id: int | None) -> WebhookEvent | None:
    """Record the event by its content key; None when it was recorded before (a duplicate).

    Call it inside the transaction that applies the event's effects: if they fail, the record
    rolls back with them and a replay tries again.
    """
    raw = storable_json(event.raw if isinstance(event.raw, dict | list) else {"value": event.raw})
    record, created = WebhookEvent.objects.get_or_create(
        key=event.fingerprint,
        defaults={
            "kind": event.kind.value,
            "field": event.field[:100],
            "waba_id": event.waba_id[:64],
            "phone_number_id": event.phone_number_id[:64],
            "occurred_at": event.occurred_at,
            "delivery_id": delivery_id,
            "payload": raw,
        },
    )
    return record if created else None
