"""The data source admin: validated forms, a cache version bump on a new URL, the test and
forget actions, and deletion refused while a campaign still uses the source."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

import campaigns.admin_data_sources  # noqa: F401  (registers the admin until campaigns.admin does)
from campaigns.models import DataSource
from tests.campaigns.factories import CampaignFactory

from .factories import ContactFactory, DataSourceFactory

pytestmark = [pytest.mark.django_db, pytest.mark.redis]

ADD_URL = reverse("admin:campaigns_datasource_add")
LIST_URL = reverse("admin:campaigns_datasource_changelist")


def form_data(**overrides) -> dict:
    return {
        "name": "loyalty",
        "is_active": "on",
        "url_template": "https://crm.example.com/v1/customers/{external_id}",
        "key_field": "external_id",
        "auth_header": "Authorization",
        "auth_env_var": "DATASOURCE_LOYALTY_TOKEN",
        "timeout_seconds": "2",
        "ttl_seconds": "3600",
        "max_concurrency": "16",
        **overrides,
    }


def message_texts(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_adding_a_data_source(admin_client):
    response = admin_client.post(ADD_URL, form_data())

    assert response.status_code == 302
    source = DataSource.objects.get()
    assert (source.name, source.auth_env_var, source.cache_version) == (
        "loyalty",
        "DATASOURCE_LOYALTY_TOKEN",
        1,
    )


def test_the_form_refuses_a_url_without_the_key_fields_placeholder(admin_client):
    response = admin_client.post(ADD_URL, form_data(url_template="https://crm.example.com/x"))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "url_template": [
            "The URL must contain {external_id} exactly once: it is replaced by each contact's "
            "external_id."
        ]
    }
    assert DataSource.objects.count() == 0


def test_a_new_url_bumps_the_cache_version(admin_client):
    source = DataSourceFactory(name="loyalty")
    url = reverse("admin:campaigns_datasource_change", args=[source.pk])

    admin_client.post(url, form_data(url_template="https://crm2.example.com/{external_id}"))

    source.refresh_from_db()
    assert (source.url_template, source.cache_version) == (
        "https://crm2.example.com/{external_id}",
        2,
    )


def test_the_test_action_shows_what_the_source_answers(admin_client, crm, loyalty):
    ContactFactory(external_id="C-1")
    crm.records["C-1"] = {"tier": "gold"}

    response = admin_client.post(
        LIST_URL, {"action": "test_fetch", "_selected_action": [loyalty.pk]}, follow=True
    )

    [text] = message_texts(response)
    assert text.startswith(f"loyalty: {crm.base_url}/customers/C-1 answered in ")
    assert text.endswith(' ms: {"tier": "gold"}')


def test_the_test_action_shows_the_error(admin_client, crm, loyalty):
    ContactFactory(external_id="C-1")
    crm.fail_with(500)

    response = admin_client.post(
        LIST_URL, {"action": "test_fetch", "_selected_action": [loyalty.pk]}, follow=True
    )

    assert message_texts(response) == [f"loyalty: {crm.base_url}/customers/C-1 failed: HTTP 500"]


def test_forgetting_cached_values_bumps_the_version(admin_client):
    source = DataSourceFactory(name="loyalty")

    response = admin_client.post(
        LIST_URL,
        {"action": "forget_cached_values", "_selected_action": [source.pk]},
        follow=True,
    )

    source.refresh_from_db()
    assert source.cache_version == 2
    assert message_texts(response) == ["Cached values forgotten for 1 data source(s): loyalty."]


def test_deleting_a_source_a_campaign_still_uses_is_refused(admin_client):
    source = DataSourceFactory(name="loyalty")
    CampaignFactory(
        name="Spring sale",
        variable_mapping={"body.1": {"source": "data_source", "path": "loyalty.tier"}},
    )
    url = reverse("admin:campaigns_datasource_delete", args=[source.pk])

    page = admin_client.get(url)
    admin_client.post(url, {"post": "yes"})

    assert "Campaign &#x27;Spring sale&#x27; maps variables to data source" in page.text
    assert DataSource.objects.count() == 1


def test_a_source_taken_into_use_while_the_bulk_delete_was_confirmed_stays_with_a_message(
    admin_client, monkeypatch
):
    from campaigns import admin_data_sources
    from campaigns.personalisation.data_sources import DataSourceInUse

    source = DataSourceFactory(name="loyalty")

    def taken_into_use(*, data_source):
        raise DataSourceInUse(["Spring sale"])

    monkeypatch.setattr(admin_data_sources, "data_source_delete", taken_into_use)

    response = admin_client.post(
        LIST_URL,
        {"action": "delete_selected", "_selected_action": [source.pk], "post": "yes"},
        follow=True,
    )

    assert response.status_code == 200
    assert message_texts(response) == [
        "This data source is used by campaign(s) that can still send: Spring sale. Change "
        "their mapping first, or switch the source off."
    ]
    assert DataSource.objects.count() == 1
