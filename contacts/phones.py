"""Phone numbers: everything becomes E.164 (``+447911123456``) before it reaches the database.

Inputs seen in practice, all accepted when the number is valid:

- international: ``+1 (415) 555-0100``, ``+44 7911 123456``;
- the ``00`` international prefix: ``0044 20 7946 0958``;
- national, with the trunk prefix, read in the default region: ``07911 123456``;
- a WhatsApp ``wa_id``: country code and number, digits only, no ``+`` (``447911123456``);
- spreadsheet damage: a trailing ``.0`` added by a float conversion.

A digits-only value without the region's trunk prefix is ambiguous (``4155550100`` is a US
national number in region US; ``447911123456`` is a wa_id). It is read as international first,
since wa_ids are the common case, and as national only when that is not a valid number.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
from django.conf import settings

_SEPARATORS = re.compile(r"[\s\-().\\/\u00a0\u2007\u2009\u202f]+")
_SPREADSHEET_FLOAT = re.compile(r"^\+?\d+\.0$")
_SCIENTIFIC = re.compile(r"^\d(\.\d+)?e\+?\d+$", re.IGNORECASE)

_POSSIBILITY_REASONS = {
    phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "has an unknown country code",
    phonenumbers.ValidationResult.TOO_SHORT: "is too short",
    phonenumbers.ValidationResult.TOO_LONG: "is too long",
    phonenumbers.ValidationResult.INVALID_LENGTH: "has the wrong number of digits",
}


class InvalidPhoneNumber(ValueError):
    """The value is not a phone number we can message; `reason` says why, for people."""

    def __init__(self, raw: str, reason: str) -> None:
        self.raw = raw
        self.reason = reason
        super().__init__(f"{raw!r} {reason}" if raw else reason)


def normalise_phone(raw: str, *, default_region: str | None = None) -> str:
    """Return `raw` as E.164 or raise `InvalidPhoneNumber` with a human reason.

    `default_region` (ISO 3166 alpha-2, e.g. ``GB``) is the country assumed for national numbers;
    it defaults to ``settings.TIDINGS_DEFAULT_PHONE_REGION``.
    """
    region = (default_region or settings.TIDINGS_DEFAULT_PHONE_REGION).upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"{region!r} is not a country code phonenumbers knows")
    result = _normalise(raw, region)
    if result.startswith("+"):
        return result
    raise InvalidPhoneNumber(raw.strip() if isinstance(raw, str) else str(raw), result)


def normalise_wa_id(wa_id: str) -> str:
    """Return the E.164 phone for a WhatsApp id (country code and number, digits only)."""
    digits = (wa_id or "").strip().lstrip("+")
    if not digits.isdigit():
        raise InvalidPhoneNumber(wa_id, "is not a WhatsApp id (digits with the country code)")
    return normalise_phone(f"+{digits}")


def wa_id_for(phone: str) -> str:
    """The WhatsApp id form of an E.164 number (without the '+')."""
    return phone.removeprefix("+")


def is_valid_region(region: str) -> bool:
    return region.upper() in phonenumbers.SUPPORTED_REGIONS


@lru_cache(maxsize=100_000)
def _normalise(raw: str, region: str) -> str:
    """E.164 on success, otherwise the reason (a string not starting with '+').

    Cached: imports see the same numbers in two passes and often many times over.
    """
    if not isinstance(raw, str):
        return "is not text"
    value = raw.strip().removeprefix("tel:")
    if not value:
        return "is empty"
    if _SCIENTIFIC.match(value):
        return "was turned into scientific notation by a spreadsheet; format the column as text"
    if _SPREADSHEET_FLOAT.match(value):
        value = value[:-2]
    value = _SEPARATORS.sub("", value)
    if not value:
        return "has no digits"
    if not re.fullmatch(r"\+?\d+", value):
        return "contains characters other than digits, spaces, '+', '-', '(' and ')'"

    if value.startswith("+"):
        candidates = [value]
    elif value.startswith("00"):
        candidates = ["+" + value[2:]]
    else:
        national_prefix = _national_prefix(region)
        if national_prefix and value.startswith(national_prefix):
            candidates = [value]
        else:
            candidates = ["+" + value, value]

    reason = "is not a valid phone number"
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException as error:
            if error.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
                reason = "has an unknown country code"
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        possibility = phonenumbers.is_possible_number_with_reason(number)
        reason = _POSSIBILITY_REASONS.get(possibility, reason)
    return reason


def _national_prefix(region: str) -> str:
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    return (metadata.national_prefix or "") if metadata else ""
