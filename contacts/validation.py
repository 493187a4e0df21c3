"""Checks and normal forms for contact and consent values, shared by services, import and API.

Every function returns the stored form of a value or raises `ContactError` naming the field, so
a CSV row, an API item and an admin form are held to exactly the same rules.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from django.utils import timezone as django_timezone

from contacts.errors import ContactError
from contacts.models import ConsentAction, ConsentScope, ConsentSource
from contacts.phones import InvalidPhoneNumber, normalise_phone

# Meta's template locales: a language (en, pt, fil), optionally a region (en_US, pt_BR) or a
# UN M.49 area (es_419 would fit, should Meta add it).
_LOCALE = re.compile(r"^([a-z]{2,3})(?:_([A-Z]{2}|[0-9]{3}))?$")
_TAG_SPLIT = re.compile(r"[,;|]")

MAX_TAG_LENGTH = 64
MAX_ATTRIBUTES_BYTES = 16_384
# Clocks differ a little between a form, a CRM and us; a consent "from the future" beyond this is
# a data error, not skew.
CLOCK_SKEW = timedelta(minutes=5)
# WhatsApp Business messaging did not exist before this; an earlier consent date is a data error
# (a spreadsheet's 1900-01-00, a CRM's 0001-01-01 for "unknown").
EARLIEST_CAPTURE = datetime(2000, 1, 1, tzinfo=UTC)
# PostgreSQL cannot store it in text or JSON, and no person typed it.
NUL = "\x00"

_ACTION_WORDS = {
    ConsentAction.OPT_IN: {
        "opt_in",
        "optin",
        "in",
        "yes",
        "y",
        "true",
        "1",
        "granted",
        "subscribed",
    },
    ConsentAction.OPT_OUT: {
        "opt_out",
        "optout",
        "out",
        "no",
        "n",
        "false",
        "0",
        "withdrawn",
        "unsubscribed",
    },
}


def phone(value: str, *, default_region: str | None = None, field: str = "phone") -> str:
    try:
        return normalise_phone(value, default_region=default_region)
    except InvalidPhoneNumber as error:
        raise ContactError(f"Phone {error}.", field=field, code="invalid_phone") from error


def optional_text(value: Any, *, field: str, max_length: int) -> str:
    """Text (a number is taken as its digits); a list, an object or true/false is refused."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ContactError(
            f"{field} must be text, not {_kind(value)}.", field=field, code="invalid"
        )
    text = str(value).strip()
    refuse_nul(text, field=field)
    if len(text) > max_length:
        raise ContactError(f"{field} is longer than {max_length} characters.", field=field)
    return text


def refuse_nul(value: Any, *, field: str) -> None:
    """Refuse the NUL character anywhere in `value` (strings, and keys and items, recursively)."""
    if isinstance(value, str):
        if NUL in value:
            raise ContactError(
                f"{field} contains the NUL character (\\u0000), which cannot be stored.",
                field=field,
                code="nul_character",
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            refuse_nul(key, field=field)
            refuse_nul(item, field=field)
    elif isinstance(value, list | tuple):
        for item in value:
            refuse_nul(item, field=field)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list | tuple | set):
        return "a list"
    return type(value).__name__


def external_id(value: Any) -> str | None:
    return optional_text(value, field="external_id", max_length=128) or None


def whatsapp_user_id(value: Any) -> str | None:
    # Meta's format is CC.<alphanumerics> but its own fixtures vary, so only the basics are checked.
    text = optional_text(value, field="whatsapp_user_id", max_length=160)
    if text and re.search(r"\s", text):
        raise ContactError("whatsapp_user_id must not contain spaces.", field="whatsapp_user_id")
    return text or None


def language(value: Any) -> str:
    """A Meta locale: ``en``, ``en_US``, ``pt_BR``; ``en-us`` is accepted and normalised."""
    text = optional_text(value, field="language", max_length=16).replace("-", "_")
    if not text:
        return ""
    parts = text.split("_")
    normalised = parts[0].lower() + (f"_{parts[1].upper()}" if len(parts) == 2 else "")
    if len(parts) > 2 or not _LOCALE.match(normalised):
        raise ContactError(
            f"Language {text!r} is not a locale such as en, en_US or pt_BR.", field="language"
        )
    return normalised


def timezone_name(value: Any) -> str:
    text = optional_text(value, field="timezone", max_length=64)
    if not text:
        return ""
    canonical = _timezones_by_lower_name().get(text.lower())
    if canonical is None:
        raise ContactError(
            f"Timezone {text!r} is not an IANA timezone such as Europe/London.", field="timezone"
        )
    return canonical


@lru_cache(maxsize=1)
def _timezones_by_lower_name() -> dict[str, str]:
    return {name.lower(): name for name in zoneinfo.available_timezones()}


def tag_names(value: Any, *, field: str = "tags") -> list[str]:
    """Tags as a sorted list of distinct lower-case names; a string is split on , ; or |."""
    if value is None or value == "":
        return []
    items = _TAG_SPLIT.split(value) if isinstance(value, str) else value
    if not isinstance(items, list | tuple | set):
        raise ContactError("Tags must be a list of names.", field=field)
    names = set()
    for item in items:
        if not isinstance(item, str):
            raise ContactError("Tags must be a list of names.", field=field)
        refuse_nul(item, field=field)
        name = item.strip().lower()
        if len(name) > MAX_TAG_LENGTH:
            raise ContactError(
                f"Tag {name!r} is longer than {MAX_TAG_LENGTH} characters.", field=field
            )
        if name:
            names.add(name)
    return sorted(names)


def attributes(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(key, str) and key for key in value):
        raise ContactError("Attributes must be an object with text keys.", field="attributes")
    refuse_nul(value, field="attributes")
    if len(repr(value)) > MAX_ATTRIBUTES_BYTES:
        raise ContactError(
            f"Attributes are larger than {MAX_ATTRIBUTES_BYTES // 1024} KB.", field="attributes"
        )
    return value


def consent_action(value: Any) -> str:
    text = optional_text(value, field="action", max_length=32).lower().replace("-", "_")
    for action, words in _ACTION_WORDS.items():
        if text in words:
            return action
    raise ContactError(f"Consent action {text!r} is not opt_in or opt_out.", field="action")


def consent_scope(value: Any) -> str:
    text = optional_text(value, field="scope", max_length=32).lower()
    if text not in ConsentScope.values:
        raise ContactError(
            f"Consent scope {text!r} is not one of {', '.join(ConsentScope.values)}.", field="scope"
        )
    return text


def consent_source(value: Any) -> str:
    text = optional_text(value, field="source", max_length=32).lower().replace(" ", "_")
    text = text.replace("-", "_")
    if text not in ConsentSource.values:
        raise ContactError(
            f"Consent source {text!r} is not one of {', '.join(ConsentSource.values)}.",
            field="source",
        )
    return text


def captured_at(value: Any, *, field: str = "captured_at") -> datetime:
    """An aware datetime not in the future; text must be ISO 8601 (a date means midnight UTC)."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)  # noqa: DTZ001 - made aware below
    else:
        text = optional_text(value, field=field, max_length=64)
        if not text:
            raise ContactError("captured_at is required: when did the person give it?", field=field)
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ContactError(
                f"{text!r} is not a date; use ISO 8601 such as 2025-03-01 or 2025-03-01T09:30:00Z.",
                field=field,
            ) from None
    if django_timezone.is_naive(moment):
        moment = django_timezone.make_aware(moment, zoneinfo.ZoneInfo("UTC"))
    if moment < EARLIEST_CAPTURE:
        raise ContactError(
            f"captured_at {moment.date().isoformat()} is before {EARLIEST_CAPTURE:%Y}; "
            "check the date the person gave it.",
            field=field,
        )
    if moment > django_timezone.now() + CLOCK_SKEW:
        raise ContactError(f"captured_at {moment:%Y-%m-%d %H:%M} is in the future.", field=field)
    return moment


def evidence(value: Any) -> str:
    return optional_text(value, field="evidence", max_length=2000)
