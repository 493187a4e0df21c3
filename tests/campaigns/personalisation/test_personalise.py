"""Personalising a chunk: values in the contact's locale and the fallback chain when the data
source times out, answers 500 or sends bad JSON."""

from __future__ import annotations

import pytest

from campaigns.models import DataSource
from campaigns.personalisation import (
    FetchStats,
    Personalisation,
    personalise_contacts,
    prewarm_contacts,
)

from .factories import ContactFactory

pytestmark = [pytest.mark.django_db, pytest.mark.redis]

NBSP = "\xa0"
MAPPING = {
    "body.1": {"source": "contact", "path": "name", "fallback": "there"},
    "body.2": {"source": "data_source", "path": "loyalty.tier"},
    "body.3": {
        "source": "data_source",
        "path": "loyalty.balance",
        "format": "money",
        "currency": "EUR",
        "fallback": "your balance",
    },
    "body.4": {"source": "attribute", "path": "visits.total", "format": "integer"},
    "body.5": {"source": "data_source", "path": "loyalty.expires", "format": "date"},
    "button.0": {"source": "constant", "path": "spring"},
}
GENERIC = {"body.1": {"source": "contact", "path": "name", "fallback": "there"}}


@pytest.fixture
def anna(crm):
    crm.records["C-1"] = {"tier": "Gold", "balance": 1234.5, "expires": "2026-03-14"}
    return ContactFactory(
        name="Anna", external_id="C-1", language="de_DE", attributes={"visits": {"total": 1200}}
    )


def personalise(contacts, *, fallback_mapping=None, mapping=MAPPING, stats=None):
    return personalise_contacts(
        mapping=mapping, fallback_mapping=fallback_mapping, contacts=contacts, stats=stats
    )


def test_every_variable_is_resolved_and_formatted_in_the_contacts_language(crm, loyalty, anna):
    outcome = personalise([anna], fallback_mapping=GENERIC)

    assert outcome == {
        anna.pk: Personalisation(
            variant="primary",
            values={
                "body.1": "Anna",
                "body.2": "Gold",
                "body.3": f"1.234,50{NBSP}€",
                "body.4": "1.200",
                "body.5": "14. März 2026",
                "button.0": "spring",
            },
            reason="",
        )
    }


def test_each_data_source_is_called_once_per_contact_however_many_variables_use_it(
    crm, loyalty, anna
):
    personalise([anna])

    assert crm.calls_by_key == {"C-1": 1}


def test_a_missing_value_takes_its_own_fallback_and_stays_primary(crm, loyalty, anna):
    crm.records["C-1"] = {"tier": "Gold", "expires": "2026-03-14"}  # no balance

    outcome = personalise([anna], fallback_mapping=GENERIC)[anna.pk]

    assert (outcome.variant, outcome.values["body.3"]) == ("primary", "your balance")


@pytest.mark.parametrize(
    ("failure", "problem"),
    [
        ("timeout", "timed out after 0.2s"),
        ("500", "HTTP 500"),
        ("bad json", "invalid JSON"),
    ],
)
def test_when_the_source_fails_the_fallback_template_is_used_with_the_reason(
    crm, loyalty, anna, failure, problem
):
    loyalty.timeout_seconds = 0.2
    loyalty.save()
    if failure == "timeout":
        crm.slow(2.0, keys=["C-1"])
    elif failure == "500":
        crm.fail_with(500, keys=["C-1"])
    else:
        crm.bad_json(keys=["C-1"])

    outcome = personalise([anna], fallback_mapping=GENERIC)

    assert outcome == {
        anna.pk: Personalisation(
            variant="fallback",
            values={"body.1": "Anna"},
            reason=(
                f"personalisation_failed: body.2 (loyalty) unavailable: {problem}; "
                f"body.5 (loyalty) unavailable: {problem}"
            ),
        )
    }


def test_without_a_fallback_template_the_contact_is_skipped_with_the_reason(crm, loyalty, anna):
    crm.fail_with(500)
    mapping = {"body.2": MAPPING["body.2"], "body.3": MAPPING["body.3"]}

    outcome = personalise([anna], mapping=mapping, fallback_mapping=None)

    assert outcome == {
        anna.pk: Personalisation(
            variant=None,
            values={},
            reason="personalisation_failed: body.2 (loyalty) unavailable: HTTP 500",
        )
    }


def test_a_field_the_source_does_not_have_is_named_with_its_path(crm, loyalty, anna):
    crm.records["C-1"] = {"balance": 10}

    outcome = personalise([anna], mapping={"body.2": MAPPING["body.2"]})

    assert outcome[anna.pk].reason == "personalisation_failed: body.2 (loyalty.tier) missing"


def test_a_value_that_cannot_take_its_format_is_refused(crm, loyalty, anna):
    crm.records["C-1"] = {"balance": "a lot"}
    mapping = {"body.3": {**MAPPING["body.3"], "fallback": None}}

    outcome = personalise([anna], mapping=mapping)

    assert outcome[anna.pk] == Personalisation(
        None, {}, "personalisation_failed: body.3 (loyalty.balance) cannot be shown as money"
    )


def test_when_the_fallback_fails_too_both_reasons_are_given(crm, loyalty):
    crm.fail_with(503)
    nameless = ContactFactory(name="", external_id="C-7")
    generic = {"body.1": {"source": "contact", "path": "name"}}

    outcome = personalise(
        [nameless], mapping={"body.2": MAPPING["body.2"]}, fallback_mapping=generic
    )

    assert outcome[nameless.pk] == Personalisation(
        None,
        {},
        "personalisation_failed: body.2 (loyalty) unavailable: HTTP 503; "
        "fallback: body.1 (contact name) missing",
    )


def test_a_fallback_template_without_variables_is_a_fallback_too(crm, loyalty, anna):
    crm.fail_with(500)

    outcome = personalise([anna], mapping={"body.2": MAPPING["body.2"]}, fallback_mapping={})

    assert (outcome[anna.pk].variant, outcome[anna.pk].values) == ("fallback", {})


@pytest.mark.parametrize(
    ("change", "problem"), [("delete", "unknown data source"), ("deactivate", "inactive")]
)
def test_a_source_removed_since_authoring_makes_its_values_unavailable(
    crm, loyalty, anna, change, problem
):
    if change == "delete":
        loyalty.delete()
    else:
        DataSource.objects.filter(pk=loyalty.pk).update(is_active=False)

    outcome = personalise([anna], mapping={"body.2": MAPPING["body.2"]})

    assert (
        outcome[anna.pk].reason
        == f"personalisation_failed: body.2 (loyalty) unavailable: {problem}"
    )
    assert crm.calls == 0


def test_one_failing_contact_does_not_affect_the_others_in_the_chunk(crm, loyalty, anna):
    ben = ContactFactory(name="Ben", external_id="C-2")
    crm.fail_with(500, keys=["C-2"])

    outcome = personalise(
        [anna, ben], mapping={"body.2": MAPPING["body.2"]}, fallback_mapping=GENERIC
    )

    assert outcome[anna.pk] == Personalisation("primary", {"body.2": "Gold"})
    assert outcome[ben.pk].variant == "fallback"


def test_a_mapping_without_data_sources_touches_neither_cache_nor_network(
    crm, loyalty, anna, django_assert_num_queries
):
    stats = FetchStats()

    with django_assert_num_queries(0):
        outcome = personalise([anna], mapping=GENERIC, stats=stats)

    assert outcome[anna.pk].values == {"body.1": "Anna"}
    assert (stats.lookups, crm.calls) == (0, 0)


def test_prewarming_fills_the_cache_so_the_send_makes_no_calls(crm, loyalty):
    crm.default_record = lambda key: {"tier": f"tier of {key}"}
    contacts = ContactFactory.create_batch(7)

    warmed = prewarm_contacts(mapping=MAPPING, contacts=iter(contacts), chunk_size=3)
    crm.reset_counts()
    stats = FetchStats()
    outcome = personalise(contacts, mapping={"body.2": MAPPING["body.2"]}, stats=stats)

    assert (warmed.lookups, warmed.misses, warmed.calls) == (7, 7, 7)
    assert (stats.hits, stats.calls, crm.calls) == (7, 0, 0)
    assert outcome[contacts[0].pk].values == {"body.2": f"tier of {contacts[0].external_id}"}
