"""The data-source cache on a real Redis: hits, misses, TTLs, invalidation, one MGET per chunk,
and bounded concurrency for the misses."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from campaigns.models import DataSource
from campaigns.personalisation import FetchStats, invalidate
from campaigns.personalisation.sources import (
    NOT_FOUND_MARKER,
    SourceResult,
    cache_key,
    fetch_for_contacts,
)

from .factories import ContactFactory, DataSourceFactory

pytestmark = [pytest.mark.django_db, pytest.mark.redis]


def fetch(source: DataSource, contacts, stats: FetchStats | None = None):
    source.refresh_from_db()  # the cache version may have moved
    return fetch_for_contacts(sources=[source], contacts=contacts, stats=stats)["loyalty"]


@pytest.fixture
def customers(crm):
    contacts = [ContactFactory(external_id=f"C-{n}") for n in range(1, 4)]
    crm.records.update({f"C-{n}": {"tier": f"tier {n}"} for n in range(1, 4)})
    return contacts


def test_a_cold_chunk_calls_the_source_once_per_contact_and_caches_the_answers(
    crm, loyalty, customers
):
    stats = FetchStats()

    results = fetch(loyalty, customers, stats)

    assert results == {
        contact.pk: SourceResult({"tier": f"tier {n}"})
        for n, contact in enumerate(customers, start=1)
    }
    assert crm.calls_by_key == {"C-1": 1, "C-2": 1, "C-3": 1}
    assert stats.as_dict() == {
        "lookups": 3,
        "hits": 0,
        "misses": 3,
        "calls": 3,
        "failures": 0,
        "not_found": 0,
        "short_circuited": 0,
    }
    assert cache.get(cache_key(loyalty, "C-2")) == {"tier": "tier 2"}


def test_a_warm_chunk_is_served_from_the_cache_without_calling_the_source(crm, loyalty, customers):
    fetch(loyalty, customers)
    crm.reset_counts()
    stats = FetchStats()

    results = fetch(loyalty, customers, stats)

    assert results[customers[0].pk] == SourceResult({"tier": "tier 1"})
    assert crm.calls == 0
    assert (stats.hits, stats.misses, stats.calls) == (3, 0, 0)


def test_a_chunk_is_looked_up_with_exactly_one_mget_whatever_its_size(crm, loyalty, monkeypatch):
    contacts = ContactFactory.create_batch(50)
    crm.default_record = lambda key: {"tier": "gold"}
    second = DataSourceFactory(name="orders", url_template=crm.url_template("phone"))
    fetch_for_contacts(sources=[loyalty, second], contacts=contacts)  # warm both sources
    redis_client = cache.client.get_client(write=False)
    calls = {"mget": 0, "get": 0}
    real_mget, real_get = redis_client.mget, redis_client.get

    def counting_mget(*args, **kwargs):
        calls["mget"] += 1
        return real_mget(*args, **kwargs)

    def counting_get(*args, **kwargs):
        calls["get"] += 1
        return real_get(*args, **kwargs)

    monkeypatch.setattr(redis_client, "mget", counting_mget)
    monkeypatch.setattr(redis_client, "get", counting_get)

    results = fetch_for_contacts(sources=[loyalty, second], contacts=contacts)

    assert calls == {"mget": 1, "get": 0}
    assert all(result.data == {"tier": "gold"} for result in results["orders"].values())
    assert len(results["loyalty"]) == len(results["orders"]) == 50


def test_values_are_stored_with_the_sources_ttl(crm, loyalty, customers):
    loyalty.ttl_seconds = 300
    loyalty.save()

    fetch(loyalty, customers)

    assert cache.ttl(cache_key(loyalty, "C-1")) in (299, 300)


def test_an_expired_value_is_fetched_again(crm, loyalty, customers):
    fetch(loyalty, customers)
    crm.records["C-1"] = {"tier": "platinum"}
    crm.reset_counts()

    cache.expire(cache_key(loyalty, "C-1"), 0)  # what Redis does when the TTL runs out
    results = fetch(loyalty, customers)

    assert crm.calls_by_key == {"C-1": 1}
    assert results[customers[0].pk] == SourceResult({"tier": "platinum"})


def test_a_404_is_cached_briefly_as_not_found(crm, loyalty):
    stranger = ContactFactory(external_id="C-404")
    stats = FetchStats()

    first = fetch(loyalty, [stranger], stats)
    second = fetch(loyalty, [stranger], stats)

    assert first == second == {stranger.pk: SourceResult(None, "not found")}
    assert crm.calls == 1
    assert (stats.not_found, stats.hits) == (1, 1)
    assert cache.get(cache_key(loyalty, "C-404")) == NOT_FOUND_MARKER
    assert cache.ttl(cache_key(loyalty, "C-404")) in (59, 60)


@pytest.mark.parametrize("failure", ["500", "bad json", "not an object", "401"])
def test_failures_are_not_cached_so_the_next_chunk_asks_again(crm, loyalty, customers, failure):
    if failure == "500":
        crm.fail_with(500, keys=["C-1"])
    elif failure == "bad json":
        crm.bad_json(keys=["C-1"])
    elif failure == "not an object":
        crm.respond(200, ["gold"], keys=["C-1"])
    else:
        crm.respond(401, {"error": "who are you"}, keys=["C-1"])

    fetch(loyalty, customers)
    fetch(loyalty, customers)

    assert crm.calls_by_key == {"C-1": 2, "C-2": 1, "C-3": 1}
    assert cache.get(cache_key(loyalty, "C-1")) is None


def test_invalidating_keys_refetches_only_those_contacts(crm, loyalty, customers):
    fetch(loyalty, customers)
    crm.records["C-2"] = {"tier": "platinum"}
    crm.reset_counts()

    outcome = invalidate(source_name="loyalty", keys=["C-2", "C-3"])
    results = fetch(loyalty, customers)

    assert (outcome.keys, outcome.all_keys) == (2, False)
    assert crm.calls_by_key == {"C-2": 1, "C-3": 1}
    assert results[customers[1].pk] == SourceResult({"tier": "platinum"})


def test_invalidating_all_bumps_the_version_and_refetches_everyone(crm, loyalty, customers):
    fetch(loyalty, customers)
    crm.reset_counts()

    outcome = invalidate(source_name="loyalty", keys=None)
    fetch(loyalty, customers)

    loyalty.refresh_from_db()
    assert (outcome.all_keys, outcome.cache_version, loyalty.cache_version) == (True, 2, 2)
    assert crm.calls_by_key == {"C-1": 1, "C-2": 1, "C-3": 1}


def test_misses_are_fetched_concurrently_but_never_above_max_concurrency(crm, loyalty):
    contacts = ContactFactory.create_batch(12)
    crm.default_record = lambda key: {"tier": "gold"}
    crm.latency = 0.2

    fetch(loyalty, contacts)

    assert crm.calls == 12
    assert crm.max_in_flight == loyalty.max_concurrency == 4


def test_the_auth_header_is_read_from_the_named_environment_variable(crm, loyalty, monkeypatch):
    monkeypatch.setenv("DATASOURCE_LOYALTY_TOKEN", "Bearer s3cret")
    crm.required_headers = {"Authorization": "Bearer s3cret"}
    crm.records["C-9"] = {"tier": "gold"}
    loyalty.auth_env_var = "DATASOURCE_LOYALTY_TOKEN"
    loyalty.save()
    contact = ContactFactory(external_id="C-9")

    results = fetch(loyalty, [contact])

    assert results == {contact.pk: SourceResult({"tier": "gold"})}
    assert crm.received_headers[0]["authorization"] == "Bearer s3cret"


def test_a_source_whose_secret_is_not_set_is_not_called(crm, loyalty, monkeypatch):
    monkeypatch.delenv("DATASOURCE_LOYALTY_TOKEN", raising=False)
    loyalty.auth_env_var = "DATASOURCE_LOYALTY_TOKEN"
    loyalty.save()
    contact = ContactFactory(external_id="C-9")
    stats = FetchStats()

    results = fetch(loyalty, [contact], stats)

    assert results == {
        contact.pk: SourceResult(None, "environment variable DATASOURCE_LOYALTY_TOKEN is not set")
    }
    assert crm.calls == 0
    assert stats.short_circuited == 1


def test_a_contact_without_the_key_field_is_not_looked_up(crm, loyalty):
    contact = ContactFactory(external_id=None)

    results = fetch(loyalty, [contact])

    assert results == {contact.pk: SourceResult(None, "contact has no external_id")}
    assert crm.calls == 0


def test_phone_keys_are_sent_url_encoded(crm, loyalty):
    loyalty.key_field = DataSource.KeyField.PHONE
    loyalty.url_template = crm.url_template("phone")
    loyalty.save()
    contact = ContactFactory(phone="+447700900123")
    crm.records["+447700900123"] = {"tier": "silver"}

    results = fetch(loyalty, [contact])

    assert results == {contact.pk: SourceResult({"tier": "silver"})}
    assert crm.calls_by_key == {"+447700900123": 1}


def test_an_inactive_source_is_not_called(crm, loyalty, customers):
    loyalty.is_active = False
    loyalty.save()

    results = fetch(loyalty, customers)

    assert set(results.values()) == {SourceResult(None, "inactive")}
    assert crm.calls == 0
