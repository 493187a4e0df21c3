"""A campaign's variable mapping: where each template variable's value comes from.

A mapping is JSON kept on the campaign, one entry per variable key (``body.1``, ``header.media``,
``button.0``)::

    {"source": "contact" | "attribute" | "data_source" | "constant",
     "path": "...", "fallback": "..." | null,
     "format": "text" | "integer" | "money" | "date", "currency": "EUR"}

* ``contact``: `path` is a field of the contact (see `CONTACT_FIELDS`);
* ``attribute``: `path` is a dotted path into the contact's `attributes` JSON (``vip.level``;
  a whole-number part indexes a list);
* ``data_source``: `path` is ``<data source name>.<dotted path into its JSON>`` (``loyalty.tier``);
* ``constant``: `path` is the value itself.

`fallback` is sent as it is when the value cannot be had; `format` defaults to text and
`currency` (an ISO 4217 code) is required by, and only allowed with, money.

Only the entries are checked here; whether the keys fit the template is the campaign's business.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from babel.numbers import get_currency_name
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from campaigns.models import DataSource

from .formatting import FORMATS, MONEY, TEXT, format_value

CONTACT = "contact"
ATTRIBUTE = "attribute"
DATA_SOURCE = "data_source"
CONSTANT = "constant"
SOURCES = (CONTACT, ATTRIBUTE, DATA_SOURCE, CONSTANT)

# The contact fields a variable may show. Consent, erasure and bookkeeping fields are left out on
# purpose: they are not message content.
CONTACT_FIELDS = (
    "id",
    "name",
    "phone",
    "wa_id",
    "whatsapp_user_id",
    "external_id",
    "language",
    "timezone",
)
ENTRY_FIELDS = frozenset({"source", "path", "fallback", "format", "currency"})
MAX_VALUE_LENGTH = 1024  # Meta's body limit; no single parameter can be longer.

_PATH_PART = re.compile(r"^[^.\s]+$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True, slots=True)
class VariableSpec:
    """One parsed mapping entry.

    `path` is as written; `parts` is the path split for reading (for a data source, without the
    source's name, which is in `data_source`).
    """

    key: str
    source: str
    path: str
    fallback: str | None = None
    format: str = TEXT
    currency: str | None = None
    data_source: str | None = None
    parts: tuple[str, ...] = ()

    @property
    def described(self) -> str:
        """Where the value comes from, as skip reasons name it (``contact name``)."""
        if self.source == DATA_SOURCE:
            return self.path
        return f"{self.source} {self.path}"


def parse_mapping(mapping: Any) -> dict[str, VariableSpec]:
    """Parse and check every entry of `mapping`, including that its data sources exist and are
    active.

    Raises `ValidationError` whose `message_dict` is keyed by variable key, e.g.
    ``{"body.2": ["Unknown data source 'crm'."]}`` (``__all__`` when the mapping is not an object).
    """
    specs, errors = _parse(mapping)
    names = {spec.data_source for spec in specs.values() if spec.data_source}
    if names:
        active = dict(DataSource.objects.filter(name__in=names).values_list("name", "is_active"))
        for spec in specs.values():
            if spec.data_source is None:
                continue
            if spec.data_source not in active:
                errors.setdefault(spec.key, []).append(f"Unknown data source '{spec.data_source}'.")
            elif not active[spec.data_source]:
                errors.setdefault(spec.key, []).append(
                    f"Data source '{spec.data_source}' is inactive."
                )
    if errors:
        raise ValidationError(errors)
    return specs


def parse_mapping_structure(mapping: Any) -> dict[str, VariableSpec]:
    """Like `parse_mapping` without the database: for sending, where a source deleted or switched
    off since authoring must make its values unavailable, not stop the campaign."""
    specs, errors = _parse(mapping)
    if errors:
        raise ValidationError(errors)
    return specs


def _parse(mapping: Any) -> tuple[dict[str, VariableSpec], dict[str, list[str]]]:
    if not isinstance(mapping, Mapping):
        return {}, {NON_FIELD_ERRORS: ["The variable mapping must be an object keyed by variable."]}
    specs: dict[str, VariableSpec] = {}
    errors: dict[str, list[str]] = {}
    for key, entry in mapping.items():
        problems: list[str] = []
        spec = _parse_entry(str(key), entry, problems)
        if problems:
            errors[str(key)] = problems
        elif spec is not None:
            specs[spec.key] = spec
    return specs, errors


def _parse_entry(key: str, entry: Any, problems: list[str]) -> VariableSpec | None:
    if not isinstance(entry, Mapping):
        problems.append('Must be an object such as {"source": "contact", "path": "name"}.')
        return None
    unknown = sorted(set(map(str, entry)) - ENTRY_FIELDS)
    if unknown:
        problems.append(
            f"Unknown setting(s) {', '.join(unknown)}: use source, path, fallback, format and "
            "currency."
        )

    source = entry.get("source")
    if source not in SOURCES:
        problems.append(
            f"Unknown source {source!r}: use contact, attribute, data_source or constant."
        )
    path = entry.get("path")
    if not isinstance(path, str) or not path.strip():
        problems.append("A path is required (for a constant, the value itself).")
        path = None

    fallback = entry.get("fallback")
    if fallback is not None and (not isinstance(fallback, str) or not fallback.strip()):
        problems.append("The fallback must be non-empty text, or null for none.")
    elif fallback is not None:
        problems += _value_problems(fallback, "The fallback")

    value_format = entry.get("format") or TEXT
    if value_format not in FORMATS:
        problems.append(f"Unknown format {value_format!r}: use text, integer, money or date.")

    currency = entry.get("currency")
    if value_format == MONEY:
        if not isinstance(currency, str) or not _CURRENCY.match(currency):
            problems.append('Money needs a currency: a three-letter ISO code such as "EUR".')
        elif get_currency_name(currency, locale="en") == currency:
            # Babel answers with the code itself for a currency it does not know.
            problems.append(f"Unknown currency {currency!r}.")
    elif currency is not None:
        problems.append("A currency only applies to the money format.")

    data_source: str | None = None
    parts: tuple[str, ...] = ()
    if path is not None and source in SOURCES:
        data_source, parts = _parse_path(source, path, problems)
    if source == CONSTANT and path is not None and value_format in FORMATS and not problems:
        # A constant never changes, so a value its format cannot show is an authoring error.
        if format_value(path, value_format=value_format, locale=None, currency=currency) is None:
            problems.append(f"The constant {path!r} cannot be shown as {value_format}.")
        problems += _value_problems(path, "The constant")

    if problems:
        return None
    return VariableSpec(
        key=key,
        source=source,
        path=path,
        fallback=fallback,
        format=value_format,
        currency=currency if value_format == MONEY else None,
        data_source=data_source,
        parts=parts,
    )


def _parse_path(source: str, path: str, problems: list[str]) -> tuple[str | None, tuple[str, ...]]:
    if source == CONSTANT:
        return None, ()
    if source == CONTACT:
        if path not in CONTACT_FIELDS:
            problems.append(
                f"Unknown contact field {path!r}: use one of {', '.join(CONTACT_FIELDS)}."
            )
        return None, (path,)
    parts = tuple(path.split("."))
    if not all(_PATH_PART.match(part) for part in parts):
        problems.append(
            f"Invalid path {path!r}: write dotted names without spaces, like 'vip.level'."
        )
        return None, ()
    if source == ATTRIBUTE:
        return None, parts
    if len(parts) < 2:
        problems.append(
            f"Invalid data source path {path!r}: write <data source>.<field>, like 'loyalty.tier'."
        )
        return None, ()
    return parts[0], parts[1:]


def _value_problems(value: str, label: str) -> list[str]:
    problems = []
    if len(value) > MAX_VALUE_LENGTH:
        problems.append(f"{label} is longer than {MAX_VALUE_LENGTH} characters.")
    if re.search(r"[\n\r\t]| {5,}", value):
        # Meta refuses parameters with these; better to hear it while authoring than at send.
        problems.append(
            f"{label} cannot contain new lines, tabs or more than four spaces in a row."
        )
    return problems
