"""Parameter strings in the contact's locale: text, integers, money and dates."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from campaigns.personalisation import format_value

NBSP = "\xa0"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Gold", "Gold"),
        ("  Gold\n member\t", "Gold member"),
        (42, "42"),
        (Decimal("2.50"), "2.50"),
    ],
)
def test_text_is_a_single_line_string(value, expected):
    assert format_value(value, value_format="text", locale="en_US") == expected


@pytest.mark.parametrize("value", [None, "", "   ", True, {"tier": "gold"}, ["gold"]])
def test_text_without_a_showable_value_is_none(value):
    assert format_value(value, value_format="text", locale="en_US") is None


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("en_US", "1,234,567"),
        ("en_GB", "1,234,567"),
        ("de_DE", "1.234.567"),
        ("pt_BR", "1.234.567"),
        ("fr_FR", "1\u202f234\u202f567"),
        ("hi_IN", "12,34,567"),
    ],
)
def test_integers_use_the_locales_thousands_separator(locale, expected):
    assert format_value(1234567, value_format="integer", locale=locale) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("12345", "12,345"), (12345.5, "12,346"), ("12345.49", "12,345"), (-7, "-7")],
)
def test_integers_accept_numeric_strings_and_round_half_up(value, expected):
    assert format_value(value, value_format="integer", locale="en_US") == expected


@pytest.mark.parametrize("value", ["gold", "12,345", "NaN", "Infinity", True, [1]])
def test_what_is_not_a_number_is_not_an_integer(value):
    assert format_value(value, value_format="integer", locale="en_US") is None


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("en_US", "€1,234.50"),
        ("de_DE", f"1.234,50{NBSP}€"),
        ("pt_BR", f"€{NBSP}1.234,50"),
        ("es", f"1.234,50{NBSP}€"),
    ],
)
def test_money_follows_the_locales_symbol_placement_and_decimals(locale, expected):
    result = format_value("1234.5", value_format="money", locale=locale, currency="EUR")
    assert result == expected


def test_money_in_another_currency_uses_its_own_decimals():
    assert format_value(1234, value_format="money", locale="en_US", currency="JPY") == "¥1,234"


def test_money_without_a_number_is_none():
    assert format_value("soon", value_format="money", locale="en_US", currency="EUR") is None


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("en_US", "March 14, 2026"),
        ("en_GB", "14 March 2026"),
        ("de_DE", "14. März 2026"),
        ("pt_BR", "14 de março de 2026"),
    ],
)
def test_dates_are_written_in_the_contacts_language(locale, expected):
    assert format_value("2026-03-14", value_format="date", locale=locale) == expected


def test_an_aware_datetime_is_the_date_in_the_contacts_timezone():
    late_in_utc = "2026-03-14T23:30:00Z"

    in_tokyo = format_value(late_in_utc, value_format="date", locale="en_US", timezone="Asia/Tokyo")
    in_london = format_value(
        late_in_utc, value_format="date", locale="en_US", timezone="Europe/London"
    )

    assert (in_tokyo, in_london) == ("March 15, 2026", "March 14, 2026")


def test_date_objects_and_naive_datetimes_keep_their_date():
    assert format_value(dt.date(2026, 1, 2), value_format="date", locale="en_US") == (
        "January 2, 2026"
    )
    assert format_value("2026-01-02T23:59:00", value_format="date", locale="en_US") == (
        "January 2, 2026"
    )


@pytest.mark.parametrize("value", ["14/03/2026", "tomorrow", 20260314])
def test_what_is_not_an_iso_date_is_not_a_date(value):
    assert format_value(value, value_format="date", locale="en_US") is None


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("de", "1.234"),  # a language alone
        ("de-AT", "1.234"),  # a hyphen instead of Meta's underscore
        ("de_XX", "1.234"),  # a region Babel does not know: the language's format
        ("xx_YY", "1,234"),  # nothing known: en_US
        ("", "1,234"),
        (None, "1,234"),
    ],
)
def test_odd_or_missing_locales_never_fail(locale, expected):
    assert format_value(1234, value_format="integer", locale=locale) == expected
