"""TIDINGS_MESSAGE_RATES and TIDINGS_CONVERSION_ATTRIBUTION_HOURS: read exactly, or start-up stops
with one line naming the variable."""

from __future__ import annotations

import pytest

from tests.config.test_configuration import assert_stopped_with, run_manage, run_python

PRINT_RATES = (
    "from django.conf import settings; "
    "print(sorted((k, str(v)) for k, v in settings.TIDINGS_MESSAGE_RATES.items()))"
)


def test_the_default_rate_table_prices_every_template_category_in_usd():
    result = run_python(PRINT_RATES, "config.settings.local")

    assert result.stdout.strip() == str(
        [
            ("authentication", "0.004"),
            ("currency", "USD"),
            ("marketing", "0.025"),
            ("service", "0"),
            ("utility", "0.004"),
        ]
    )


def test_a_rate_table_is_read_as_exact_decimals_with_normalised_names():
    result = run_python(
        PRINT_RATES,
        "config.settings.local",
        TIDINGS_MESSAGE_RATES='{"currency": "eur", "Marketing": 0.0591, '
        '"authentication-international": 0.1, "utility": 1e-3}',
    )

    assert result.stdout.strip() == str(
        [
            ("authentication_international", "0.1"),
            ("currency", "EUR"),
            ("marketing", "0.0591"),
            ("utility", "0.001"),
        ]
    )


@pytest.mark.parametrize(
    ("value", "line"),
    [
        ("", "TIDINGS_MESSAGE_RATES is set but empty"),
        (
            "marketing=0.02",
            "TIDINGS_MESSAGE_RATES must be a JSON object: Expecting value: line 1 column 1 "
            "(char 0)",
        ),
        (
            "[0.02]",
            'TIDINGS_MESSAGE_RATES must be a JSON object such as {"currency": "USD", '
            '"marketing": 0.025, "utility": 0.004}',
        ),
        (
            '{"marketing": 0.02}',
            'TIDINGS_MESSAGE_RATES needs a "currency": a three-letter ISO 4217 code such as "USD"',
        ),
        (
            '{"currency": "DEM", "marketing": 0.02}',
            'TIDINGS_MESSAGE_RATES needs a "currency": a three-letter ISO 4217 code such as "USD"',
        ),
        (
            '{"currency": "USD", "marketing": -0.02}',
            "TIDINGS_MESSAGE_RATES: the rate of 'marketing' must be a number of at least 0, "
            "not -0.02",
        ),
        (
            '{"currency": "USD", "marketing": "0.02"}',
            "TIDINGS_MESSAGE_RATES: the rate of 'marketing' must be a number of at least 0, "
            'not "0.02"',
        ),
        (
            '{"currency": "USD", "marketing": NaN}',
            "TIDINGS_MESSAGE_RATES must hold plain numbers, not NaN",
        ),
    ],
)
def test_a_malformed_rate_table_stops_startup_naming_it(value, line):
    result = run_manage(
        "check", settings_module="config.settings.local", TIDINGS_MESSAGE_RATES=value
    )

    assert_stopped_with(result, line)


@pytest.mark.parametrize(
    ("value", "line"),
    [
        ("week", "TIDINGS_CONVERSION_ATTRIBUTION_HOURS must be a whole number, not 'week'"),
        ("0", "TIDINGS_CONVERSION_ATTRIBUTION_HOURS must be at least 1, not 0"),
    ],
)
def test_a_malformed_attribution_window_stops_startup_naming_it(value, line):
    result = run_manage(
        "check",
        settings_module="config.settings.local",
        TIDINGS_CONVERSION_ATTRIBUTION_HOURS=value,
    )

    assert_stopped_with(result, line)
