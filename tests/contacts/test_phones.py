"""Phone numbers become E.164 whatever way people write them, or are refused with a reason."""

from __future__ import annotations

import pytest

from contacts.phones import InvalidPhoneNumber, normalise_phone, normalise_wa_id


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+1 (415) 555-0100", None, "+14155550100"),
        ("0044 20 7946 0958", None, "+442079460958"),
        ("+44 (0) 7911 123456", None, "+447911123456"),
        ("07911 123456", None, "+447911123456"),
        ("07911-123-456", "GB", "+447911123456"),
        ("447911123456", None, "+447911123456"),  # a wa_id
        ("14155550100", None, "+14155550100"),  # a US wa_id read with a GB default region
        ("4155550100", "US", "+14155550100"),  # national, in region US (+41 5555 0100 is not)
        ("14155550100", "US", "+14155550100"),  # a wa_id: the trunk prefix and country code agree
        ("011 44 7911 123456", "US", "+447911123456"),  # US international prefix
        ("447911123456.0", None, "+447911123456"),  # a spreadsheet turned it into a float
        ("\u00a0+55 (11) 9 1234-5678 ", None, "+5511912345678"),
        ("tel:+4915112345678", None, "+4915112345678"),
        ("+1.415.555.0100", None, "+14155550100"),
    ],
)
def test_numbers_written_in_different_ways_normalise_to_e164(raw, region, expected):
    assert normalise_phone(raw, default_region=region) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("call me", "contains characters other than digits"),
        ("+1 800 FLOWERS", "contains characters other than digits"),
        ("4.47911123456E+11", "scientific notation"),
        ("+44 7911", "is not a valid phone number"),
        ("+999 1234 5678", "has an unknown country code"),
        ("+44 7700 900123", "is not a valid phone number"),  # Ofcom's range for drama
        ("+447911123456789012", "is too long"),
    ],
)
def test_invalid_numbers_are_refused_with_a_human_reason(raw, reason):
    with pytest.raises(InvalidPhoneNumber) as error:
        normalise_phone(raw)

    assert reason in error.value.reason
    assert isinstance(error.value, ValueError)


def test_the_default_region_comes_from_settings(settings):
    settings.TIDINGS_DEFAULT_PHONE_REGION = "US"

    assert normalise_phone("(415) 555-0100") == "+14155550100"


def test_an_explicit_region_wins_over_the_setting(settings):
    settings.TIDINGS_DEFAULT_PHONE_REGION = "US"

    assert normalise_phone("07911 123456", default_region="gb") == "+447911123456"


def test_an_unknown_region_is_a_configuration_error_not_a_bad_number():
    with pytest.raises(ValueError, match="XX"):
        normalise_phone("+447911123456", default_region="XX")


def test_a_wa_id_is_read_as_country_code_and_number():
    assert normalise_wa_id("447911123456") == "+447911123456"
    with pytest.raises(InvalidPhoneNumber):
        normalise_wa_id("US.13491208655302741918")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # Each of these is also a valid number read with a country code: +20 (Egypt),
        # +65 (Singapore), +43 (Austria). Written nationally, they are American.
        ("(203) 740-6812", "+12037406812"),
        ("(656) 555-0134", "+16565550134"),
        ("(431) 555-0134", "+14315550134"),
        ("203-740-6812", "+12037406812"),
        ("656 555 0134", "+16565550134"),
        ("1 (203) 740-6812", "+12037406812"),
    ],
)
def test_nationally_written_us_numbers_stay_american_in_region_us(raw, expected):
    assert normalise_phone(raw, default_region="US") == expected


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("07911 123456", "GB", "+447911123456"),
        ("0044 20 7946 0958", "GB", "+442079460958"),
        ("0044 20 7946 0958", "US", "+442079460958"),
        ("+1 (415) 555-0100", "GB", "+14155550100"),
        ("+1 (415) 555-0100", "US", "+14155550100"),
        ("14155550100", "GB", "+14155550100"),  # a wa_id, not valid as a UK number
        ("447911123456", "US", "+447911123456"),  # a wa_id, not valid as a US number
        ("20 3 7406812", "US", "+2037406812"),  # the first group is Egypt's country code
    ],
)
def test_international_numbers_are_read_as_international_whatever_the_region(raw, region, expected):
    assert normalise_phone(raw, default_region=region) == expected


@pytest.mark.parametrize("raw", ["2037406812", "6565550134", "4315550134"])
def test_bare_digits_valid_both_nationally_and_with_a_country_code_are_refused(raw):
    with pytest.raises(InvalidPhoneNumber) as error:
        normalise_phone(raw, default_region="US")

    assert error.value.reason.startswith("is ambiguous: it is +1" + raw)
    assert f"but +{raw} read as a number with its country code" in error.value.reason


def test_a_wa_id_is_read_with_its_country_code_whatever_the_default_region():
    assert normalise_wa_id("14155550100") == "+14155550100"
    assert normalise_wa_id("2037406812") == "+2037406812"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (["+447911123456"], "must be text, not a list"),
        ({"number": "+447911123456"}, "must be text, not an object"),
        (True, "must be text, not true/false"),
        (4.47911123456e11, "must be text, not a decimal number"),
        (None, "is empty"),
    ],
)
def test_values_that_are_not_text_are_refused_with_a_reason(raw, reason):
    with pytest.raises(InvalidPhoneNumber) as error:
        normalise_phone(raw)

    assert error.value.reason == reason


def test_a_whole_number_is_read_like_its_digits():
    assert normalise_phone(447911123456) == "+447911123456"
