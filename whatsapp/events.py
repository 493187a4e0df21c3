"""Meta's webhook bodies, normalised into a flat list of small typed events.

`parse_webhook(body)` turns one POST body into every event it carries: Meta batches several
entries, changes, statuses and messages into one POST, and each becomes one event. The kinds are
a closed set (`EventKind`); anything this module does not understand becomes an `UNKNOWN` event,
and every event keeps the raw piece of JSON it came from, so nothing is lost and a later version
can reprocess it.

Pure functions over JSON: no Django, no database, no network. The parser never raises for
odd content (a missing field, a number where a string was expected, a status or enum value
Meta added last week); only a body that is not a JSON object with an `entry` list raises
`MalformedWebhook`, which the caller quarantines.

Provider quirks handled here (see cloud-api.md §3):

* account-level fields (template status and quality, phone-number quality, account updates) have
  no `metadata` and carry `entry[].time` instead of per-item timestamps;
* status and message timestamps are *strings* of Unix seconds, `user_preferences` ones integers;
* since 2026 a user may be identified by a business-scoped user id (`user_id`, `from_user_id`,
  `recipient_user_id`) with the phone number (`wa_id`, `from`, `recipient_id`) absent;
* key order varies (`statuses` before `contacts`), and a `contacts[]` item is matched to its
  message by `wa_id` or user id, not by position.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

WEBHOOK_OBJECT = "whatsapp_business_account"

# Every `changes[].field` we understand, and the kind of event it becomes.
FIELD_TEMPLATE_STATUS = "message_template_status_update"
FIELD_TEMPLATE_QUALITY = "message_template_quality_update"
FIELD_USER_PREFERENCES = "user_preferences"
FIELD_MESSAGES = "messages"
PHONE_NUMBER_FIELDS = frozenset({"phone_number_quality_update", "phone_number_name_update"})
ACCOUNT_FIELDS = frozenset(
    {
        "account_update",
        "account_alerts",
        "account_review_update",
        "business_capability_update",
        "security",
    }
)


class EventKind(enum.StrEnum):
    STATUS = "status"
    INBOUND_MESSAGE = "inbound_message"
    TEMPLATE_STATUS = "template_status"
    TEMPLATE_QUALITY = "template_quality"
    USER_PREFERENCE = "user_preference"
    PHONE_NUMBER_UPDATE = "phone_number_update"
    ACCOUNT_UPDATE = "account_update"
    ERROR = "error"
    UNKNOWN = "unknown"


# Kinds whose value has no timestamp of its own: their time is the entry's.
ENTRY_TIMED_KINDS = frozenset(
    {
        EventKind.TEMPLATE_STATUS,
        EventKind.TEMPLATE_QUALITY,
        EventKind.PHONE_NUMBER_UPDATE,
        EventKind.ACCOUNT_UPDATE,
        EventKind.UNKNOWN,
    }
)


class MalformedWebhook(ValueError):
    """The body is not a webhook at all (not JSON, not an object, no `entry` list)."""


@dataclass(frozen=True, kw_only=True)
class EventError:
    """One item of an `errors[]` list. Meta sends `title` and `message` identical."""

    code: int | None
    title: str = ""
    message: str = ""
    details: str = ""
    href: str = ""

    @property
    def summary(self) -> str:
        return self.title or self.message


@dataclass(frozen=True, kw_only=True)
class Event:
    """What every event has: where it came from and the raw JSON piece it was read from."""

    kind: EventKind
    field: str = ""
    waba_id: str = ""
    phone_number_id: str = ""
    display_phone_number: str = ""
    occurred_at: dt.datetime | None = None
    raw: Any = None

    @property
    def fingerprint(self) -> str:
        """A stable key for this event's content: the same event redelivered (in any batch, with
        any key order) has the same fingerprint, so processing it twice can be detected.

        Account-level values carry no time of their own, so a template paused a second time is
        byte for byte the first pause: their `entry[].time` is part of the key. Meta's
        redeliveries repeat the entry time, so they still have the same fingerprint.
        """
        parts: list[Any] = [self.kind.value, self.field, self.waba_id, self.phone_number_id]
        if self.kind in ENTRY_TIMED_KINDS:
            parts.append(self.occurred_at.isoformat() if self.occurred_at else None)
        canonical = json.dumps(
            [*parts, self.raw],
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=True,
            default=str,
        )
        return hashlib.sha256(canonical.encode("ascii")).hexdigest()


@dataclass(frozen=True, kw_only=True)
class StatusEvent(Event):
    """One `value.statuses[]` item: sent, delivered, read, failed, played, or a newer value."""

    kind: EventKind = EventKind.STATUS
    wamid: str = ""
    status: str = ""
    recipient_id: str = ""
    recipient_user_id: str = ""
    recipient_type: str = ""
    biz_opaque_callback_data: str = ""
    conversation_id: str = ""
    conversation_origin: str = ""
    conversation_expires_at: dt.datetime | None = None
    pricing_billable: bool | None = None
    pricing_model: str = ""
    pricing_category: str = ""
    pricing_type: str = ""
    errors: tuple[EventError, ...] = ()

    @property
    def has_pricing(self) -> bool:
        return bool(
            self.pricing_model
            or self.pricing_category
            or self.pricing_type
            or self.pricing_billable is not None
        )

    @property
    def first_error(self) -> EventError | None:
        return self.errors[0] if self.errors else None


@dataclass(frozen=True, kw_only=True)
class InboundMessageEvent(Event):
    """One `value.messages[]` item: something the user sent us (text, button tap, reply...)."""

    kind: EventKind = EventKind.INBOUND_MESSAGE
    wamid: str = ""
    from_wa_id: str = ""
    from_user_id: str = ""
    profile_name: str = ""
    message_type: str = ""
    text: str = ""
    button_payload: str = ""
    button_text: str = ""
    interactive_type: str = ""
    interactive_id: str = ""
    interactive_title: str = ""
    context_wamid: str = ""
    context_from: str = ""
    errors: tuple[EventError, ...] = ()


@dataclass(frozen=True, kw_only=True)
class TemplateStatusEvent(Event):
    """`message_template_status_update`: APPROVED, REJECTED, PAUSED, DISABLED, and newer events."""

    kind: EventKind = EventKind.TEMPLATE_STATUS
    template_id: str = ""
    template_name: str = ""
    language: str = ""
    event: str = ""
    reason: str = ""
    category: str = ""
    other_info_title: str = ""
    other_info_description: str = ""
    rejection_reason: str = ""
    rejection_recommendation: str = ""


@dataclass(frozen=True, kw_only=True)
class TemplateQualityEvent(Event):
    """`message_template_quality_update`: GREEN, YELLOW, RED or UNKNOWN."""

    kind: EventKind = EventKind.TEMPLATE_QUALITY
    template_id: str = ""
    template_name: str = ""
    language: str = ""
    previous_quality: str = ""
    new_quality: str = ""


@dataclass(frozen=True, kw_only=True)
class UserPreferenceEvent(Event):
    """One `value.user_preferences[]` item: the user tapped Stop or Resume for marketing."""

    kind: EventKind = EventKind.USER_PREFERENCE
    wa_id: str = ""
    user_id: str = ""
    category: str = ""
    value: str = ""
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class PhoneNumberUpdateEvent(Event):
    """`phone_number_quality_update` (and `phone_number_name_update`): limit tier, throughput
    upgrade, legacy FLAGGED/UNFLAGGED quality events. `max_daily_conversations` is Meta's numeric
    form of the limit, which replaces `current_limit` (deprecated since February 2026)."""

    kind: EventKind = EventKind.PHONE_NUMBER_UPDATE
    event: str = ""
    current_limit: str = ""
    old_limit: str = ""
    max_daily_conversations: str = ""
    quality_rating: str = ""


@dataclass(frozen=True, kw_only=True)
class AccountUpdateEvent(Event):
    """`account_update` and the other account-level fields (restrictions, violations, reviews,
    capability changes). `phone_number` is set when Meta names one."""

    kind: EventKind = EventKind.ACCOUNT_UPDATE
    event: str = ""
    phone_number: str = ""
    max_daily_conversations: str = ""


@dataclass(frozen=True, kw_only=True)
class ErrorEvent(Event):
    """A `value.errors[]` item: Meta could not process something on its side."""

    kind: EventKind = EventKind.ERROR
    error: EventError = field(default_factory=lambda: EventError(code=None))


@dataclass(frozen=True, kw_only=True)
class UnknownEvent(Event):
    """A field, object or shape this version does not understand; kept whole for later."""

    kind: EventKind = EventKind.UNKNOWN
    reason: str = ""


# --- Reading JSON defensively -------------------------------------------------------------------


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any, max_length: int = 4096) -> str:
    """A JSON scalar as text ("" for null and containers): ids arrive as strings or numbers.

    NUL characters are dropped: no text column (nor PostgreSQL's jsonb) can hold them.
    """
    if value is None or isinstance(value, dict | list):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).replace("\x00", "")[:max_length]


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    return None


def timestamp_to_datetime(value: Any) -> dt.datetime | None:
    """Unix seconds (Meta sends a string for statuses and messages, an int elsewhere) as an aware
    UTC datetime; None when absent or not a plausible time."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        try:
            seconds = float(value.strip())
        except ValueError:
            return None
    elif isinstance(value, int | float):
        seconds = float(value)
    else:
        return None
    if seconds != seconds or not 0 <= seconds < 32_503_680_000:  # NaN, or past year 3000
        return None
    try:
        return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _errors(value: Any) -> tuple[EventError, ...]:
    errors = []
    for item in _list(value):
        item = _dict(item)
        if not item:
            continue
        error_data = item.get("error_data")
        details = _text(error_data) if isinstance(error_data, str) else ""
        details = details or _text(_dict(error_data).get("details"))
        code = _int(item.get("code"))
        errors.append(
            EventError(
                # Meta's codes fit in 32 bits; anything else is not one.
                code=code if code is not None and -(2**31) <= code < 2**31 else None,
                title=_text(item.get("title"), 300),
                message=_text(item.get("message"), 2000),
                details=details,
                href=_text(item.get("href"), 500),
            )
        )
    return tuple(errors)


# --- The parser ----------------------------------------------------------------------------------


def parse_webhook(body: bytes | str | Mapping[str, Any]) -> list[Event]:
    """Every event in one webhook POST body, in the order Meta wrote them.

    Raises `MalformedWebhook` only when the body is not JSON, not an object, or has no `entry`
    list; everything inside is read defensively and unknown parts become `UnknownEvent`s.
    """
    if isinstance(body, bytes | str):
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError) as error:
            raise MalformedWebhook(f"not JSON: {error}") from error
    else:
        document = body
    if not isinstance(document, dict):
        raise MalformedWebhook(f"not a JSON object but {type(document).__name__}")
    entries = document.get("entry")
    if not isinstance(entries, list):
        raise MalformedWebhook("no `entry` list")
    webhook_object = document.get("object")
    if webhook_object != WEBHOOK_OBJECT:
        return [
            UnknownEvent(raw=document, reason=f"object {_text(webhook_object, 100)!r} is not ours")
        ]
    events: list[Event] = []
    for entry in entries:
        if not isinstance(entry, dict):
            events.append(UnknownEvent(raw=entry, reason="an entry that is not an object"))
            continue
        waba_id = _text(entry.get("id"), 64)
        entry_time = timestamp_to_datetime(entry.get("time"))
        for change in _list(entry.get("changes")):
            events.extend(_parse_change(change, waba_id=waba_id, entry_time=entry_time))
    return events


def _parse_change(change: Any, *, waba_id: str, entry_time: dt.datetime | None) -> list[Event]:
    if not isinstance(change, dict):
        return [UnknownEvent(waba_id=waba_id, raw=change, reason="a change that is not an object")]
    field_name = _text(change.get("field"), 100)
    value = change.get("value")
    if not isinstance(value, dict):
        return [
            UnknownEvent(
                field=field_name, waba_id=waba_id, raw=change, reason="a change without a value"
            )
        ]
    common = {"field": field_name, "waba_id": waba_id}
    if field_name == FIELD_MESSAGES:
        return _parse_messages_value(value, common=common)
    if field_name == FIELD_USER_PREFERENCES:
        return _parse_user_preferences(value, common=common)
    if field_name == FIELD_TEMPLATE_STATUS:
        return [_template_status(value, common=common, entry_time=entry_time)]
    if field_name == FIELD_TEMPLATE_QUALITY:
        return [_template_quality(value, common=common, entry_time=entry_time)]
    if field_name in PHONE_NUMBER_FIELDS:
        return [_phone_number_update(value, common=common, entry_time=entry_time)]
    if field_name in ACCOUNT_FIELDS:
        return [_account_update(value, common=common, entry_time=entry_time)]
    return [
        UnknownEvent(
            **common, occurred_at=entry_time, raw=value, reason=f"field {field_name!r} not handled"
        )
    ]


def _metadata(value: dict[str, Any]) -> dict[str, str]:
    metadata = _dict(value.get("metadata"))
    return {
        "phone_number_id": _text(metadata.get("phone_number_id"), 64),
        "display_phone_number": _text(metadata.get("display_phone_number"), 32),
    }


def _parse_messages_value(value: dict[str, Any], *, common: dict[str, str]) -> list[Event]:
    common = {**common, **_metadata(value)}
    contacts = [_dict(contact) for contact in _list(value.get("contacts"))]
    events: list[Event] = []
    for status in _list(value.get("statuses")):
        events.append(status_from_raw(status, **common))
    for message in _list(value.get("messages")):
        events.append(_inbound_message(message, contacts=contacts, common=common))
    for error in _list(value.get("errors")):
        parsed = _errors([error])
        events.append(
            ErrorEvent(**common, raw=error, error=parsed[0])
            if parsed
            else UnknownEvent(**common, raw=error, reason="an error that is not an object")
        )
    known = {"messaging_product", "metadata", "contacts", "statuses", "messages", "errors"}
    if not events and set(value) - known:
        events.append(UnknownEvent(**common, raw=value, reason="a messages change with no items"))
    return events


def status_from_raw(
    raw: Any, *, field: str = FIELD_MESSAGES, waba_id: str = "", phone_number_id: str = "", **extra
) -> StatusEvent | UnknownEvent:
    """One `statuses[]` item as a `StatusEvent` (also used to re-read a stored unmatched status)."""
    common = {"field": field, "waba_id": waba_id, "phone_number_id": phone_number_id, **extra}
    status = _dict(raw)
    if not status:
        return UnknownEvent(**common, raw=raw, reason="a status that is not an object")
    conversation = _dict(status.get("conversation"))
    pricing = _dict(status.get("pricing"))
    return StatusEvent(
        **common,
        raw=raw,
        occurred_at=timestamp_to_datetime(status.get("timestamp")),
        wamid=_text(status.get("id"), 128),
        status=_text(status.get("status"), 32).strip().lower(),
        recipient_id=_text(status.get("recipient_id"), 64),
        recipient_user_id=_text(status.get("recipient_user_id"), 160),
        recipient_type=_text(status.get("recipient_type"), 32),
        biz_opaque_callback_data=_text(status.get("biz_opaque_callback_data"), 512),
        conversation_id=_text(conversation.get("id"), 128),
        conversation_origin=_text(_dict(conversation.get("origin")).get("type"), 32),
        conversation_expires_at=timestamp_to_datetime(conversation.get("expiration_timestamp")),
        pricing_billable=_bool(pricing.get("billable")),
        pricing_model=_text(pricing.get("pricing_model"), 16),
        pricing_category=_text(pricing.get("category"), 32),
        pricing_type=_text(pricing.get("type"), 32),
        errors=_errors(status.get("errors")),
    )


def _contact_for(
    contacts: list[dict[str, Any]], *, wa_id: str, user_id: str
) -> dict[str, Any] | None:
    for contact in contacts:
        if wa_id and _text(contact.get("wa_id")) == wa_id:
            return contact
        if user_id and _text(contact.get("user_id")) == user_id:
            return contact
    return contacts[0] if len(contacts) == 1 and not (wa_id or user_id) else None


def _inbound_message(
    raw: Any, *, contacts: list[dict[str, Any]], common: dict[str, str]
) -> InboundMessageEvent | UnknownEvent:
    message = _dict(raw)
    if not message:
        return UnknownEvent(**common, raw=raw, reason="a message that is not an object")
    from_wa_id = _text(message.get("from"), 32)
    from_user_id = _text(message.get("from_user_id"), 160)
    contact = _contact_for(contacts, wa_id=from_wa_id, user_id=from_user_id) or {}
    # A BSUID-only message names the user in `contacts[]` only.
    from_user_id = from_user_id or _text(contact.get("user_id"), 160)
    from_wa_id = from_wa_id or _text(contact.get("wa_id"), 32)
    message_type = _text(message.get("type"), 32)
    button = _dict(message.get("button"))
    interactive = _dict(message.get("interactive"))
    interactive_type = _text(interactive.get("type"), 32)
    reply = _dict(interactive.get(interactive_type)) if interactive_type else {}
    context = _dict(message.get("context"))
    text = _text(_dict(message.get("text")).get("body"))
    if not text and message_type in {"image", "video", "document"}:
        text = _text(_dict(message.get(message_type)).get("caption"))
    return InboundMessageEvent(
        **common,
        raw=raw,
        occurred_at=timestamp_to_datetime(message.get("timestamp")),
        wamid=_text(message.get("id"), 128),
        from_wa_id=from_wa_id,
        from_user_id=from_user_id,
        profile_name=_text(_dict(contact.get("profile")).get("name"), 200),
        message_type=message_type,
        text=text,
        button_payload=_text(button.get("payload"), 1000),
        button_text=_text(button.get("text"), 1000),
        interactive_type=interactive_type,
        interactive_id=_text(reply.get("id"), 256),
        interactive_title=_text(reply.get("title"), 256),
        context_wamid=_text(context.get("id"), 128),
        context_from=_text(context.get("from"), 32),
        errors=_errors(message.get("errors")),
    )


def _parse_user_preferences(value: dict[str, Any], *, common: dict[str, str]) -> list[Event]:
    common = {**common, **_metadata(value)}
    contacts = [_dict(contact) for contact in _list(value.get("contacts"))]
    events: list[Event] = []
    for raw in _list(value.get("user_preferences")):
        preference = _dict(raw)
        if not preference:
            events.append(
                UnknownEvent(**common, raw=raw, reason="a preference that is not an object")
            )
            continue
        wa_id = _text(preference.get("wa_id"), 32)
        user_id = _text(preference.get("user_id"), 160)
        contact = _contact_for(contacts, wa_id=wa_id, user_id=user_id) or {}
        events.append(
            UserPreferenceEvent(
                **common,
                raw=raw,
                occurred_at=timestamp_to_datetime(preference.get("timestamp")),
                wa_id=wa_id or _text(contact.get("wa_id"), 32),
                user_id=user_id or _text(contact.get("user_id"), 160),
                category=_text(preference.get("category"), 64),
                value=_text(preference.get("value"), 32).strip().lower(),
                detail=_text(preference.get("detail"), 500),
            )
        )
    if not events:
        events.append(UnknownEvent(**common, raw=value, reason="user_preferences without items"))
    return events


def _template_status(
    value: dict[str, Any], *, common: dict[str, str], entry_time: dt.datetime | None
) -> TemplateStatusEvent:
    other_info = _dict(value.get("other_info"))
    rejection_info = _dict(value.get("rejection_info"))
    return TemplateStatusEvent(
        **common,
        raw=value,
        occurred_at=entry_time,
        template_id=_text(value.get("message_template_id"), 64),
        template_name=_text(value.get("message_template_name"), 512),
        language=_text(value.get("message_template_language"), 16),
        event=_text(value.get("event"), 32).strip().upper(),
        reason=_text(value.get("reason"), 500),
        category=_text(value.get("message_template_category"), 32),
        other_info_title=_text(other_info.get("title"), 100),
        other_info_description=_text(other_info.get("description"), 1000),
        rejection_reason=_text(rejection_info.get("reason"), 500),
        rejection_recommendation=_text(rejection_info.get("recommendation"), 1000),
    )


def _template_quality(
    value: dict[str, Any], *, common: dict[str, str], entry_time: dt.datetime | None
) -> TemplateQualityEvent:
    return TemplateQualityEvent(
        **common,
        raw=value,
        occurred_at=entry_time,
        template_id=_text(value.get("message_template_id"), 64),
        template_name=_text(value.get("message_template_name"), 512),
        language=_text(value.get("message_template_language"), 16),
        previous_quality=_text(value.get("previous_quality_score"), 16).strip().upper(),
        new_quality=_text(value.get("new_quality_score"), 16).strip().upper(),
    )


def _phone_number_update(
    value: dict[str, Any], *, common: dict[str, str], entry_time: dt.datetime | None
) -> PhoneNumberUpdateEvent:
    return PhoneNumberUpdateEvent(
        **common,
        raw=value,
        occurred_at=entry_time,
        display_phone_number=_text(value.get("display_phone_number"), 32),
        event=_text(value.get("event") or value.get("decision"), 64).strip().upper(),
        current_limit=_text(value.get("current_limit"), 32).strip().upper(),
        old_limit=_text(value.get("old_limit"), 32).strip().upper(),
        max_daily_conversations=_text(value.get("max_daily_conversations_per_business"), 32),
        quality_rating=_text(
            value.get("quality_rating") or value.get("new_quality_score"), 16
        ).upper(),
    )


def _account_update(
    value: dict[str, Any], *, common: dict[str, str], entry_time: dt.datetime | None
) -> AccountUpdateEvent:
    return AccountUpdateEvent(
        **common,
        raw=value,
        occurred_at=entry_time,
        event=_text(value.get("event") or value.get("alert_type"), 64).strip().upper(),
        phone_number=_text(value.get("phone_number") or value.get("display_phone_number"), 32),
        max_daily_conversations=_text(
            value.get("max_daily_conversations_per_business")
            or value.get("max_daily_conversation_per_phone"),
            32,
        ),
    )
