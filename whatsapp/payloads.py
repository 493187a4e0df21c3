"""Pure builders of Meta's JSON: request bodies we send, and webhook bodies Meta sends us.

Request bodies follow cloud-api.md 1.2-1.4 and 4.2 to the key. Webhook builders produce Meta's
envelope (`object`, `entry[].id` = WABA id, `changes[].field`, `value`) so the sandbox and every
test stand-in emit exactly what the webhook ingester will see from Meta.
"""

from __future__ import annotations

import decimal
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from whatsapp.base import (
    ButtonParameter,
    MediaHeader,
    ParameterFormat,
    TemplateMessage,
    TextHeader,
)

MESSAGING_PRODUCT = "whatsapp"
WEBHOOK_OBJECT = "whatsapp_business_account"
ERROR_CODES_HREF = "/documentation/business-messaging/whatsapp/support/error-codes"


class PayloadError(ValueError):
    """A message that cannot be expressed in Meta's format (e.g. a parameter that is not text)."""


def text_value(value: Any, where: str) -> str:
    """A template text parameter as Meta requires it: always a JSON string.

    Integers, floats and decimals are converted (`42` -> `"42"`); booleans, None and containers
    are refused, because their text form ("True", "None") is never what the author meant.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        raise PayloadError(f"{where} must be text, not {value!r}")
    if isinstance(value, int | float | decimal.Decimal):
        return str(value)
    raise PayloadError(f"{where} must be text, not {type(value).__name__}")


# --- Requests we send -----------------------------------------------------------------------


def template_message_body(message: TemplateMessage) -> dict[str, Any]:
    """The body of `POST /{phone-number-id}/messages` for a template message."""
    components: list[dict[str, Any]] = []
    if message.header is not None:
        components.append({"type": "header", "parameters": [_header_parameter(message.header)]})
    body_parameters = _body_parameters(message)
    if body_parameters:
        components.append({"type": "body", "parameters": body_parameters})
    components.extend(_button_component(button) for button in message.buttons)

    template: dict[str, Any] = {
        "name": message.template_name,
        "language": {"code": message.language_code},
    }
    if components:
        template["components"] = components
    body: dict[str, Any] = {
        "messaging_product": MESSAGING_PRODUCT,
        "recipient_type": "individual",
        "to": message.to,
        "type": "template",
        "template": template,
    }
    if message.biz_opaque_callback_data is not None:
        body["biz_opaque_callback_data"] = message.biz_opaque_callback_data
    return body


def _header_parameter(header: TextHeader | MediaHeader) -> dict[str, Any]:
    if isinstance(header, TextHeader):
        parameter: dict[str, Any] = {"type": "text"}
        if header.parameter_name:
            parameter["parameter_name"] = header.parameter_name
        parameter["text"] = text_value(header.text, "header parameter")
        return parameter
    media: dict[str, Any] = {"link": header.link} if header.link else {"id": header.media_id}
    if header.filename:
        media["filename"] = header.filename
    return {"type": header.kind, header.kind: media}


def _body_parameters(message: TemplateMessage) -> list[dict[str, Any]]:
    values = message.body_parameters
    if message.parameter_format is ParameterFormat.NAMED:
        assert isinstance(values, Mapping)
        return [
            {
                "type": "text",
                "parameter_name": name,
                "text": text_value(value, f"body parameter {name!r}"),
            }
            for name, value in values.items()
        ]
    return [
        {"type": "text", "text": text_value(value, f"body parameter {position}")}
        for position, value in enumerate(values, start=1)
    ]


def _button_component(button: ButtonParameter) -> dict[str, Any]:
    if button.sub_type == "url":
        parameter = {"type": "text", "text": text_value(button.value, "URL button parameter")}
    else:
        parameter = {
            "type": "payload",
            "payload": text_value(button.value, "quick-reply button payload"),
        }
    # Meta's examples write the index as a string.
    return {
        "type": "button",
        "sub_type": button.sub_type,
        "index": str(button.index),
        "parameters": [parameter],
    }


def text_message_body(
    to: str,
    body: str,
    *,
    preview_url: bool = False,
    biz_opaque_callback_data: str | None = None,
) -> dict[str, Any]:
    """The body of `POST /{phone-number-id}/messages` for a free-form text (max 4096 chars)."""
    if not isinstance(body, str) or not body:
        raise PayloadError("a text message needs a non-empty body")
    payload: dict[str, Any] = {
        "messaging_product": MESSAGING_PRODUCT,
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": {"preview_url": bool(preview_url), "body": body},
    }
    if biz_opaque_callback_data is not None:
        payload["biz_opaque_callback_data"] = biz_opaque_callback_data
    return payload


def template_create_body(
    *,
    name: str,
    language: str,
    category: str,
    components: Sequence[Mapping[str, Any]],
    parameter_format: ParameterFormat | str | None = None,
) -> dict[str, Any]:
    """The body of `POST /{waba-id}/message_templates`. Meta answers with uppercase enums, so
    we send them uppercase too."""
    body: dict[str, Any] = {
        "name": name,
        "language": language,
        "category": category.upper(),
        "components": [dict(component) for component in components],
    }
    if parameter_format is not None:
        body["parameter_format"] = ParameterFormat(str(parameter_format).upper()).value
    return body


# --- Webhooks Meta sends --------------------------------------------------------------------


def _timestamp(timestamp: float | int | str | None) -> str:
    # Status and message timestamps are strings of Unix seconds.
    if timestamp is None:
        timestamp = time.time()
    if isinstance(timestamp, str):
        return timestamp
    return str(int(timestamp))


def webhook_envelope(
    *, waba_id: str, field: str, value: Mapping[str, Any], time_seconds: int | None = None
) -> dict[str, Any]:
    """One webhook POST body with a single entry and change. `time` is set on account-level
    fields (templates, quality) and usually absent on `messages`."""
    entry: dict[str, Any] = {"id": waba_id}
    if time_seconds is not None:
        entry["time"] = time_seconds
    entry["changes"] = [{"value": dict(value), "field": field}]
    return {"object": WEBHOOK_OBJECT, "entry": [entry]}


def status_error(
    code: int, title: str, details: str | None = None, *, href: str | None = ERROR_CODES_HREF
) -> dict[str, Any]:
    """One `errors[]` item of a failed status. Meta sends `title` and `message` identical."""
    error: dict[str, Any] = {"code": code, "title": title, "message": title}
    if details is not None:
        error["error_data"] = {"details": details}
    if href is not None:
        error["href"] = href
    return error


def pricing_block(
    category: str, *, billable: bool = True, pricing_type: str = "regular"
) -> dict[str, Any]:
    """A status `pricing` block under per-message pricing (PMP, since 2025-07-01)."""
    return {
        "billable": billable,
        "pricing_model": "PMP",
        "type": pricing_type,
        "category": category,
    }


def status_event(
    *,
    wamid: str,
    status: str,
    recipient_id: str,
    timestamp: float | int | str | None = None,
    biz_opaque_callback_data: str | None = None,
    pricing: Mapping[str, Any] | None = None,
    errors: Iterable[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """One `value.statuses[]` item: sent, delivered, read, played or failed.

    `recipient_id` is the phone number in digits without '+'. Failed statuses carry `errors` and
    no pricing; v24.0+ webhooks omit `conversation`, so it is not produced here.
    """
    event: dict[str, Any] = {
        "id": wamid,
        "status": status,
        "timestamp": _timestamp(timestamp),
        "recipient_id": recipient_id,
    }
    if biz_opaque_callback_data is not None:
        event["biz_opaque_callback_data"] = biz_opaque_callback_data
    if pricing is not None:
        event["pricing"] = dict(pricing)
    error_list = [dict(error) for error in errors]
    if error_list:
        event["errors"] = error_list
    return event


def messages_webhook(
    *,
    waba_id: str,
    phone_number_id: str,
    display_phone_number: str,
    statuses: Iterable[Mapping[str, Any]] = (),
    messages: Iterable[Mapping[str, Any]] = (),
    contacts: Iterable[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """A `field: "messages"` webhook carrying statuses and/or inbound messages."""
    value: dict[str, Any] = {
        "messaging_product": MESSAGING_PRODUCT,
        "metadata": {
            "display_phone_number": display_phone_number,
            "phone_number_id": phone_number_id,
        },
    }
    for key, items in (("contacts", contacts), ("messages", messages), ("statuses", statuses)):
        item_list = [dict(item) for item in items]
        if item_list:
            value[key] = item_list
    return webhook_envelope(waba_id=waba_id, field="messages", value=value)


def status_webhook(
    *,
    waba_id: str,
    phone_number_id: str,
    display_phone_number: str,
    wamid: str,
    status: str,
    recipient_id: str,
    timestamp: float | int | str | None = None,
    biz_opaque_callback_data: str | None = None,
    pricing: Mapping[str, Any] | None = None,
    errors: Iterable[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """Shortcut: a complete webhook body carrying one status event."""
    return messages_webhook(
        waba_id=waba_id,
        phone_number_id=phone_number_id,
        display_phone_number=display_phone_number,
        statuses=[
            status_event(
                wamid=wamid,
                status=status,
                recipient_id=recipient_id,
                timestamp=timestamp,
                biz_opaque_callback_data=biz_opaque_callback_data,
                pricing=pricing,
                errors=errors,
            )
        ],
    )


def inbound_contact(wa_id: str, name: str = "") -> dict[str, Any]:
    """A `value.contacts[]` item for an inbound message."""
    return {"profile": {"name": name}, "wa_id": wa_id}


def inbound_text(
    *, wamid: str, from_wa_id: str, body: str, timestamp: float | int | str | None = None
) -> dict[str, Any]:
    """A `value.messages[]` item: the user typed a text."""
    return {
        "from": from_wa_id,
        "id": wamid,
        "timestamp": _timestamp(timestamp),
        "type": "text",
        "text": {"body": body},
    }


def inbound_button(
    *,
    wamid: str,
    from_wa_id: str,
    payload: str,
    text: str,
    context_wamid: str,
    business_number: str,
    timestamp: float | int | str | None = None,
) -> dict[str, Any]:
    """A `value.messages[]` item: the user tapped a template quick-reply button.

    `context.id` is the wamid of the template message the button belonged to; `payload` is the
    one set at send time (or the label when none was set).
    """
    return {
        "context": {"from": business_number, "id": context_wamid},
        "from": from_wa_id,
        "id": wamid,
        "timestamp": _timestamp(timestamp),
        "type": "button",
        "button": {"payload": payload, "text": text},
    }


def template_status_webhook(
    *,
    waba_id: str,
    template_id: int | str,
    template_name: str,
    language: str,
    event: str,
    reason: str | None = "NONE",
    category: str | None = None,
    time_seconds: int | None = None,
    rejection_info: Mapping[str, str] | None = None,
    other_info: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A `message_template_status_update` webhook (APPROVED, REJECTED, PAUSED, DISABLED...).

    `message_template_id` is an integer in Meta's payloads; older payloads lack the category.
    """
    value: dict[str, Any] = {
        "event": event,
        "message_template_id": int(template_id),
        "message_template_name": template_name,
        "message_template_language": language,
        "reason": reason,
    }
    if category is not None:
        value["message_template_category"] = category
    if rejection_info is not None:
        value["rejection_info"] = dict(rejection_info)
    if other_info is not None:
        value["other_info"] = dict(other_info)
    return webhook_envelope(
        waba_id=waba_id,
        field="message_template_status_update",
        value=value,
        time_seconds=int(time.time()) if time_seconds is None else time_seconds,
    )


def user_preferences_webhook(
    *,
    waba_id: str,
    phone_number_id: str,
    display_phone_number: str,
    wa_id: str,
    value: str,
    timestamp: int | None = None,
) -> dict[str, Any]:
    """A `user_preferences` webhook: the user tapped Stop/Resume for marketing messages.

    Its `timestamp` is an integer, unlike message and status timestamps.
    """
    preference = {
        "wa_id": wa_id,
        "detail": "User requested to stop marketing messages"
        if value == "stop"
        else "User requested to resume marketing messages",
        "category": "marketing_messages",
        "value": value,
        "timestamp": int(time.time()) if timestamp is None else timestamp,
    }
    return webhook_envelope(
        waba_id=waba_id,
        field="user_preferences",
        value={
            "messaging_product": MESSAGING_PRODUCT,
            "metadata": {
                "display_phone_number": display_phone_number,
                "phone_number_id": phone_number_id,
            },
            "contacts": [inbound_contact(wa_id)],
            "user_preferences": [preference],
        },
    )
