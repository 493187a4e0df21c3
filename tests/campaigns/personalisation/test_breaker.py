"""The per-source circuit breaker: it opens after N failures in a row, stops calling, and lets
one trial call through after the cool-off."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from campaigns.personalisation import FetchStats, personalise_contacts
from campaigns.personalisation import breaker as breaker_module
from campaigns.personalisation.sources import SourceResult, cache_key, fetch_for_contacts

from .factories import ContactFactory

pytestmark = [pytest.mark.django_db, pytest.mark.redis]

MAPPING = {"body.1": {"source": "data_source", "path": "loyalty.tier"}}
GENERIC = {"body.1": {"source": "constant", "path": "friend"}}


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(breaker_module, "now", clock)
    return clock


@pytest.fixture
def sequential_loyalty(loyalty):
    # One call at a time makes "N failures in a row" an exact count of calls.
    loyalty.max_concurrency = 1
    loyalty.save()
    return loyalty


@pytest.fixture
def contacts(crm):
    crm.default_record = lambda key: {"tier": "gold"}
    return ContactFactory.create_batch(6)


def fetch(source, contacts, stats=None):
    return fetch_for_contacts(sources=[source], contacts=contacts, stats=stats)[source.name]


def test_the_breaker_opens_after_n_failures_in_a_row_and_stops_calling_mid_chunk(
    crm, sequential_loyalty, contacts, clock
):
    crm.fail_with(500)
    stats = FetchStats()

    results = fetch(sequential_loyalty, contacts, stats)

    assert crm.calls == 3  # TIDINGS_DATASOURCE_BREAKER_FAILURES
    assert [results[contact.pk].problem for contact in contacts] == [
        "HTTP 500",
        "HTTP 500",
        "HTTP 500",
        "circuit open",
        "circuit open",
        "circuit open",
    ]
    assert (stats.calls, stats.failures, stats.short_circuited) == (3, 3, 3)
    assert breaker_module.is_open(sequential_loyalty)


def test_an_open_breaker_is_shared_and_nothing_is_called_during_the_cool_off(
    crm, sequential_loyalty, contacts, clock
):
    crm.fail_with(500)
    fetch(sequential_loyalty, contacts[:3])
    calls_when_opened = crm.calls
    crm.heal()  # even a recovered source is left alone until the cool-off ends

    clock.now += 29
    results = fetch(sequential_loyalty, contacts[3:])
    outcome = personalise_contacts(mapping=MAPPING, fallback_mapping=GENERIC, contacts=contacts)

    assert crm.calls == calls_when_opened == 3
    assert set(results.values()) == {SourceResult(None, "circuit open")}
    assert {result.variant for result in outcome.values()} == {"fallback"}
    assert outcome[contacts[0].pk].reason == (
        "personalisation_failed: body.1 (loyalty) unavailable: circuit open"
    )


def test_after_the_cool_off_one_trial_call_closes_the_breaker_when_it_succeeds(
    crm, sequential_loyalty, contacts, clock
):
    crm.fail_with(500)
    fetch(sequential_loyalty, contacts[:3])
    crm.heal()
    crm.reset_counts()

    clock.now += 31
    results = fetch(sequential_loyalty, contacts)

    assert crm.calls == 6
    assert list(results.values()) == [SourceResult({"tier": "gold"})] * 6
    assert not breaker_module.is_open(sequential_loyalty)


def test_a_failed_trial_opens_the_breaker_for_another_cool_off(crm, loyalty, contacts, clock):
    crm.fail_with(500)
    loyalty.max_concurrency = 1
    loyalty.save()
    fetch(loyalty, contacts[:3])
    crm.reset_counts()

    clock.now += 31
    loyalty.max_concurrency = 4  # even with room for more, only the trial goes out
    results = fetch(loyalty, contacts)
    clock.now += 29
    fetch(loyalty, contacts)

    assert crm.calls == 1
    assert [results[contact.pk].problem for contact in contacts].count("HTTP 500") == 1
    assert [results[contact.pk].problem for contact in contacts].count("circuit open") == 5
    assert breaker_module.is_open(loyalty)


def test_a_success_resets_the_count_so_scattered_failures_never_open_it(
    crm, sequential_loyalty, clock
):
    healthy, failing = ContactFactory.create_batch(2)
    crm.records[healthy.external_id] = {"tier": "gold"}
    crm.fail_with(500, keys=[failing.external_id])

    for _ in range(4):  # failure, success, failure, success...
        fetch(sequential_loyalty, [failing])
        fetch(sequential_loyalty, [healthy])
        cache.delete(cache_key(sequential_loyalty, healthy.external_id))

    assert crm.calls_for(failing.external_id) == 4
    assert not breaker_module.is_open(sequential_loyalty)


def test_a_404_is_an_answer_not_a_failure(crm, sequential_loyalty, clock):
    strangers = ContactFactory.create_batch(5)  # the stand-in knows none of them

    results = fetch(sequential_loyalty, strangers)

    assert set(results.values()) == {SourceResult(None, "not found")}
    assert crm.calls == 5
    assert not breaker_module.is_open(sequential_loyalty)
