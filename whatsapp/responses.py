"""Parsing Meta's answers: success bodies, error envelopes and template listings.

Pure functions over already-decoded JSON, so they can be checked against recorded payloads
without any HTTP. Every error is classified through `errors.build_error`.
"""

from __future__ import annotations

from typing import Any

from whatsapp import errors
from whatsapp.base import (
    ParameterFormat,
    ProviderError,
    RemoteTemplate,
    SendAccepted,
    SendOutcome,
)
from whatsapp.errors import TransportFailure

_ERROR_TEXT_LIMIT = 500


def parse_send_response(http_status: int, data: Any, raw_text: str = "") -> SendOutcome:
    """Turn the answer to `POST /messages` into SendAccepted or ProviderError.

    A 2xx without a wamid is treated as ambiguous: Meta may have accepted the message, but we
    cannot tell which wamid its webhooks will carry.
    """
    if isinstance(data, dict) and "error" not in data and 200 <= http_status < 300:
        messages = data.get("messages")
        first = messages[0] if isinstance(messages, list) and messages else None
        if isinstance(first, dict) and isinstance(first.get("id"), str) and first["id"]:
            contacts = data.get("contacts")
            contact = contacts[0] if isinstance(contacts, list) and contacts else {}
            contact = contact if isinstance(contact, dict) else {}
            return SendAccepted(
                wamid=first["id"],
                wa_id=_stripped(contact.get("wa_id")),
                input=_stripped(contact.get("input")),
                message_status=_stripped(first.get("message_status")),
            )
    return parse_error_response(http_status, data, raw_text)


def parse_error_response(http_status: int, data: Any, raw_text: str = "") -> ProviderError:
    """Turn Meta's error envelope (or any failed answer) into a classified ProviderError.

    `error_data` may be an object with `details`, a bare string (template management) or absent
    (plain Graph errors). Non-JSON bodies are summarised, never parsed.
    """
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        error_data = error.get("error_data")
        if isinstance(error_data, dict):
            details = _stripped(error_data.get("details"))
        elif isinstance(error_data, str):
            details = error_data.strip() or None
        else:
            details = None
        transient = error.get("is_transient")
        code = _as_int(error.get("code"))
        return errors.build_error(
            message=str(error.get("message") or f"HTTP {http_status}"),
            code=code,
            http_status=http_status,
            subcode=_as_int(error.get("error_subcode")),
            details=details,
            fbtrace_id=_stripped(error.get("fbtrace_id")),
            user_title=_stripped(error.get("error_user_title")),
            user_message=_stripped(error.get("error_user_msg")),
            transient_hint=transient if isinstance(transient, bool) else None,
        )
    snippet = (raw_text or "").strip()[:_ERROR_TEXT_LIMIT]
    if 200 <= http_status < 300:
        # Meta answered "OK" but not in a form we understand: the request was processed.
        return errors.build_error(
            message=f"unreadable success answer (HTTP {http_status}): {snippet!r}",
            http_status=http_status,
            transport_failure=TransportFailure.AFTER_SEND,
        )
    return errors.build_error(
        message=f"HTTP {http_status}: {snippet}" if snippet else f"HTTP {http_status}",
        http_status=http_status,
    )


def remote_template(item: dict[str, Any]) -> RemoteTemplate:
    """One item of `GET /message_templates` as a RemoteTemplate (components kept raw)."""
    quality = item.get("quality_score")
    if isinstance(quality, dict):
        quality = quality.get("score")
    components = item.get("components")
    return RemoteTemplate(
        id=str(item.get("id") or ""),
        name=str(item.get("name") or ""),
        language=str(item.get("language") or ""),
        status=str(item.get("status") or "").upper(),
        category=str(item.get("category") or "").upper(),
        parameter_format=str(item.get("parameter_format") or ParameterFormat.POSITIONAL).upper(),
        components=list(components) if isinstance(components, list) else [],
        quality_score=str(quality) if quality else None,
        rejected_reason=_stripped(item.get("rejected_reason")),
    )


def _stripped(value: Any) -> str | None:
    # Some payloads carry stray whitespace (a fixture's wa_id ends with a space).
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None
