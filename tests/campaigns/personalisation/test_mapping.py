"""Checking a campaign's variable mapping, entry by entry, each error naming its variable."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from campaigns.personalisation import VariableSpec, parse_mapping

from .factories import DataSourceFactory

pytestmark = pytest.mark.django_db


def errors_of(mapping) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as raised:
        parse_mapping(mapping)
    return raised.value.message_dict


def test_a_valid_mapping_parses_into_one_spec_per_variable():
    DataSourceFactory(name="loyalty")

    specs = parse_mapping(
        {
            "body.1": {"source": "contact", "path": "name", "fallback": "there"},
            "body.2": {"source": "data_source", "path": "loyalty.tier", "fallback": None},
            "body.3": {
                "source": "data_source",
                "path": "loyalty.balance.amount",
                "format": "money",
                "currency": "EUR",
            },
            "body.4": {"source": "attribute", "path": "vip.level", "format": "integer"},
            "button.0": {"source": "constant", "path": "spring-sale"},
        }
    )

    assert specs == {
        "body.1": VariableSpec(
            key="body.1", source="contact", path="name", fallback="there", parts=("name",)
        ),
        "body.2": VariableSpec(
            key="body.2",
            source="data_source",
            path="loyalty.tier",
            data_source="loyalty",
            parts=("tier",),
        ),
        "body.3": VariableSpec(
            key="body.3",
            source="data_source",
            path="loyalty.balance.amount",
            format="money",
            currency="EUR",
            data_source="loyalty",
            parts=("balance", "amount"),
        ),
        "body.4": VariableSpec(
            key="body.4",
            source="attribute",
            path="vip.level",
            format="integer",
            parts=("vip", "level"),
        ),
        "button.0": VariableSpec(key="button.0", source="constant", path="spring-sale"),
    }


def test_an_empty_mapping_is_valid_and_needs_no_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert parse_mapping({}) == {}


def test_a_mapping_that_is_not_an_object_is_refused_as_a_whole():
    assert errors_of(["body.1"]) == {
        "__all__": ["The variable mapping must be an object keyed by variable."]
    }


def test_an_unknown_data_source_is_named_on_its_variable():
    assert errors_of({"body.2": {"source": "data_source", "path": "crm.tier"}}) == {
        "body.2": ["Unknown data source 'crm'."]
    }


def test_an_inactive_data_source_is_refused():
    DataSourceFactory(name="loyalty", is_active=False)

    assert errors_of({"body.2": {"source": "data_source", "path": "loyalty.tier"}}) == {
        "body.2": ["Data source 'loyalty' is inactive."]
    }


def test_a_data_source_path_needs_a_field_after_the_source_name():
    DataSourceFactory(name="loyalty")

    assert errors_of({"body.1": {"source": "data_source", "path": "loyalty"}}) == {
        "body.1": [
            "Invalid data source path 'loyalty': write <data source>.<field>, like 'loyalty.tier'."
        ]
    }


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("name", 'Must be an object such as {"source": "contact", "path": "name"}.'),
        (
            {"source": "crm", "path": "tier"},
            "Unknown source 'crm': use contact, attribute, data_source or constant.",
        ),
        ({"source": "contact"}, "A path is required (for a constant, the value itself)."),
        (
            {"source": "contact", "path": "  "},
            "A path is required (for a constant, the value itself).",
        ),
        (
            {"source": "contact", "path": "email"},
            "Unknown contact field 'email': use one of id, name, phone, wa_id, whatsapp_user_id, "
            "external_id, language, timezone.",
        ),
        (
            {"source": "attribute", "path": "vip..level"},
            "Invalid path 'vip..level': write dotted names without spaces, like 'vip.level'.",
        ),
        (
            {"source": "contact", "path": "name", "fallback": ""},
            "The fallback must be non-empty text, or null for none.",
        ),
        (
            {"source": "contact", "path": "name", "fallback": 7},
            "The fallback must be non-empty text, or null for none.",
        ),
        (
            {"source": "contact", "path": "name", "fallback": "dear\ncustomer"},
            "The fallback cannot contain new lines, tabs or more than four spaces in a row.",
        ),
        (
            {"source": "contact", "path": "name", "format": "percent"},
            "Unknown format 'percent': use text, integer, money or date.",
        ),
        (
            {"source": "attribute", "path": "balance", "format": "money"},
            'Money needs a currency: a three-letter ISO code such as "EUR".',
        ),
        (
            {"source": "attribute", "path": "balance", "format": "money", "currency": "eur"},
            'Money needs a currency: a three-letter ISO code such as "EUR".',
        ),
        (
            {"source": "attribute", "path": "balance", "format": "money", "currency": "XQZ"},
            "Unknown currency 'XQZ'.",
        ),
        (
            {"source": "attribute", "path": "points", "format": "integer", "currency": "EUR"},
            "A currency only applies to the money format.",
        ),
        (
            {"source": "constant", "path": "lots", "format": "integer"},
            "The constant 'lots' cannot be shown as integer.",
        ),
        (
            {"source": "contact", "path": "name", "default": "x"},
            "Unknown setting(s) default: use source, path, fallback, format and currency.",
        ),
    ],
)
def test_each_broken_entry_is_refused_with_its_variable_named(entry, message):
    assert errors_of({"body.1": {"source": "constant", "path": "ok"}, "body.2": entry}) == {
        "body.2": [message]
    }


def test_every_broken_entry_is_reported_at_once():
    errors = errors_of(
        {
            "header.1": {"source": "contact", "path": "email"},
            "body.1": {"source": "data_source", "path": "crm.tier"},
            "body.2": {"source": "contact", "path": "name"},
        }
    )

    assert sorted(errors) == ["body.1", "header.1"]
