"""Phone numbers: everything becomes E.164 (``+447911123456``) before it reaches the database.

Inputs seen in practice, all accepted when the number is valid:

- international: ``+1 (415) 555-0100``, ``+44 7911 123456``;
- an international prefix: ``0044 20 7946 0958``, or the region's own (``011 44 …`` in US);
- national, read in the default region: ``07911 123456`` in GB, ``(415) 555-0100`` in US;
- a WhatsApp ``wa_id``: country code and number, digits only, no ``+`` (``447911123456``);
- spreadsheet damage: a trailing ``.0`` added by a float conversion.

A value without ``+`` or an international prefix is read in the default region first. It is read
as international (a wa_id pasted into a phone column) only when it is not a valid national
number. When both readings are valid and differ (``2037406812`` in US is a Connecticut number,
and ``+20 3 7406812`` an Egyptian one), the way it is written decides: parentheses, separators or
a leading trunk prefix (``0`` in GB) mean a national number, unless the first group of digits is
the other reading's country code (``20 3 7406812``). A bare string of digits is refused as
ambiguous: guessing would put someone else's number on the contact.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
from django.conf import settings

_SEPARATORS = re.compile(r"[\s\-().\\/\u00a0\u2007\u2009\u202f]+")
_SPREADSHEET_FLOAT = re.compile(r"^\+?\d+\.0$")
_SCIENTIFIC = re.compile(r"^\d(\.\d+)?e\+?\d+$", re.IGNORECASE)
_DIGIT_GROUP = re.compile(r"\d+")

_POSSIBILITY_REASONS = {
    phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "has an unknown country code",
    phonenumbers.ValidationResult.TOO_SHORT: "is too short",
    phonenumbers.ValidationResult.TOO_LONG: "is too long",
    phonenumbers.ValidationResult.INVALID_LENGTH: "has the wrong number of digits",
}
_NOT_VALID = "is not a valid phone number"


class InvalidPhoneNumber(ValueError):
    """The value is not a phone number we can message; `reason` says why, for people."""

    def __init__(self, raw: str, reason: str) -> None:
        self.raw = raw
        self.reason = reason
        super().__init__(f"{raw!r} {reason}" if raw else reason)


def normalise_phone(raw: str | int, *, default_region: str | None = None) -> str:
    """Return `raw` as E.164 or raise `InvalidPhoneNumber` with a human reason.

    `default_region` (ISO 3166 alpha-2, e.g. ``GB``) is the country assumed for national numbers;
    it defaults to ``settings.TIDINGS_DEFAULT_PHONE_REGION``. Whole numbers are accepted (a JSON
    number or a spreadsheet cell); anything else that is not text is refused.
    """
    region = (default_region or settings.TIDINGS_DEFAULT_PHONE_REGION).upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"{region!r} is not a country code phonenumbers knows")
    if raw is None:
        raise InvalidPhoneNumber("", "is empty")
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str):
        raise InvalidPhoneNumber("", f"must be text, not {_kind(raw)}")
    result = _normalise(raw, region)
    if result.startswith("+"):
        return result
    raise InvalidPhoneNumber(raw.strip(), result)


def normalise_wa_id(wa_id: str) -> str:
    """Return the E.164 phone for a WhatsApp id (country code and number, digits only)."""
    digits = (wa_id or "").strip().lstrip("+") if isinstance(wa_id, str) else ""
    if not digits.isdigit():
        raise InvalidPhoneNumber(str(wa_id), "is not a WhatsApp id (digits with the country code)")
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
    written = raw.strip().removeprefix("tel:").strip()
    if not written:
        return "is empty"
    if _SCIENTIFIC.match(written):
        return "was turned into scientific notation by a spreadsheet; format the column as text"
    if _SPREADSHEET_FLOAT.match(written):
        written = written[:-2]
    value = _SEPARATORS.sub("", written)
    if not value:
        return "has no digits"
    if not re.fullmatch(r"\+?\d+", value):
        return "contains characters other than digits, spaces, '+', '-', '(' and ')'"
    if value.startswith("+"):
        return _read(value, region)
    if value.startswith("00"):
        return _read("+" + value[2:], region)

    # The region's own international prefix (011 in US) is recognised by phonenumbers here.
    national = _read(value, region)
    international = _read("+" + value, region)
    if not national.startswith("+"):
        return international if international.startswith("+") else national
    if not international.startswith("+") or international == national:
        return national
    country_code = str(phonenumbers.parse(international).country_code)
    groups = _DIGIT_GROUP.findall(written)
    if groups[0] == country_code:
        return international
    trunk_prefix = _national_prefix(region)
    if written != value or (trunk_prefix and value.startswith(trunk_prefix)):
        return national
    return (
        f"is ambiguous: it is {national} read as a number in {region}, but {international} "
        "read as a number with its country code; write it with '+' and the country code"
    )


def _read(candidate: str, region: str) -> str:
    """One reading of `candidate`: E.164 when it is a valid number, otherwise the reason."""
    try:
        number = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException as error:
        if error.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            return "has an unknown country code"
        return _NOT_VALID
    if phonenumbers.is_valid_number(number):
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return _POSSIBILITY_REASONS.get(phonenumbers.is_possible_number_with_reason(number), _NOT_VALID)


def _national_prefix(region: str) -> str:
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    return (metadata.national_prefix or "") if metadata else ""


def _kind(value: object) -> str:
    kinds = {list: "a list", tuple: "a list", dict: "an object", bool: "true/false"}
    return kinds.get(type(value), "a decimal number" if isinstance(value, float) else "that")
