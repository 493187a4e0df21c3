"""Turning raw values into the strings a template parameter carries, in the contact's locale.

Meta takes every parameter as a string, so each format returns `str`, or None when the value
cannot be shown in that format (a tier name asked for as money): the caller then falls back, it
never sends a made-up value. Locales are Meta's codes (``en_US``, ``pt_BR``, ``de``); numbers and
dates follow CLDR through Babel, so ``1234.5`` EUR is ``€1,234.50`` in en_US and ``1.234,50 €``
in de_DE (Babel's no-break spaces are kept: they stop a line break between amount and symbol).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_currency, format_decimal

TEXT = "text"
INTEGER = "integer"
MONEY = "money"
DATE = "date"
FORMATS = (TEXT, INTEGER, MONEY, DATE)

DEFAULT_LOCALE = "en_US"


@lru_cache(maxsize=512)
def locale_for(code: str | None) -> Locale:
    """Babel's locale for a Meta language code; the language alone when Babel lacks the region,
    and `DEFAULT_LOCALE` when it knows neither (formatting must not fail on an odd code)."""
    candidates = []
    if code:
        normalised = code.strip().replace("-", "_")
        candidates += [normalised, normalised.split("_")[0]]
    candidates.append(DEFAULT_LOCALE)
    for candidate in candidates:
        try:
            return Locale.parse(candidate)
        except (UnknownLocaleError, ValueError, TypeError):
            continue
    raise AssertionError("the default locale is always known")  # pragma: no cover


@lru_cache(maxsize=256)
def _zone(name: str) -> zoneinfo.ZoneInfo | None:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def format_value(
    value: Any,
    *,
    value_format: str,
    locale: str | None,
    currency: str | None = None,
    timezone: str = "",
) -> str | None:
    """`value` as a parameter string in `locale`, or None when it cannot be shown that way.

    * text: strings and numbers; whitespace runs become one space, since Meta refuses new lines,
      tabs and long runs of spaces in parameters;
    * integer: a whole number (numbers and numeric strings, rounded half up) with the locale's
      grouping, ``12,345`` / ``12.345``;
    * money: an amount in `currency` with the locale's symbol placement and decimals;
    * date: an ISO date or date-time (or a date object) in the locale's long style, ``March 14,
      2026`` / ``14. März 2026``; an aware date-time is first moved into `timezone` (the contact's)
      so a delivery at 23:30 UTC is the next day in Tokyo.
    """
    if value is None or isinstance(value, bool):
        return None
    if value_format == TEXT:
        return _text(value)
    if value_format == INTEGER:
        number = _decimal(value)
        if number is None:
            return None
        whole = number.quantize(Decimal(1), rounding=ROUND_HALF_UP)
        return format_decimal(whole, locale=locale_for(locale))
    if value_format == MONEY:
        amount = _decimal(value)
        if amount is None or not currency:
            return None
        return format_currency(amount, currency, locale=locale_for(locale))
    if value_format == DATE:
        day = _date(value, timezone)
        if day is None:
            return None
        return format_date(day, format="long", locale=locale_for(locale))
    return None


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        text = " ".join(value.split())
    elif isinstance(value, int | float | Decimal):
        text = str(value)
    else:
        return None  # objects and lists have no sensible text form
    return text or None


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, int | Decimal):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return None
    else:
        return None
    return number if number.is_finite() else None


def _date(value: Any, timezone: str) -> dt.date | None:
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        return value
    elif isinstance(value, str):
        text = value.strip()
        try:
            if len(text) == 10:
                return dt.date.fromisoformat(text)
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is not None:
        zone = _zone(timezone) if timezone else None
        moment = moment.astimezone(zone or dt.UTC)
    return moment.date()
