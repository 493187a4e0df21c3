"""`/api/v1/data-sources/`: CRUD with validation errors in the standard format, `test` and
`invalidate`, and model permissions per verb."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.cache import cache
from rest_framework.test import APIClient

from campaigns.models import CampaignStatus, DataSource
from campaigns.personalisation.sources import cache_key
from tests.campaigns.factories import CampaignFactory

from .factories import ContactFactory, DataSourceFactory

pytestmark = [pytest.mark.django_db, pytest.mark.redis]

URL = "/api/v1/data-sources/"
ALL_PERMISSIONS = ("view", "add", "change", "delete")


def client_with(*actions: str) -> APIClient:
    user = get_user_model().objects.create_user(username=f"user-{'-'.join(actions) or 'none'}")
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="campaigns",
            codename__in=[f"{action}_datasource" for action in actions],
        )
    )
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def api() -> APIClient:
    return client_with(*ALL_PERMISSIONS)


def payload(**overrides) -> dict:
    return {
        "name": "loyalty",
        "url_template": "https://crm.example.com/v1/customers/{external_id}",
        "key_field": "external_id",
        "auth_header": "Authorization",
        "auth_env_var": "DATASOURCE_LOYALTY_TOKEN",
        "timeout_seconds": 2.0,
        "ttl_seconds": 86400,
        "max_concurrency": 16,
        "is_active": True,
        **overrides,
    }


def errors(response) -> list[tuple[str, str, str | None]]:
    assert response.status_code == 400, response.content
    assert response.json()["type"] == "validation_error"
    return [(e["attr"], e["code"], e["detail"]) for e in response.json()["errors"]]


def test_creating_a_data_source_returns_it_with_its_cache_version(api):
    response = api.post(URL, payload(), format="json")

    assert response.status_code == 201
    body = response.json()
    assert {key: body[key] for key in (*payload(), "cache_version", "circuit_open")} == {
        **payload(),
        "cache_version": 1,
        "circuit_open": False,
    }
    assert DataSource.objects.get().auth_env_var == "DATASOURCE_LOYALTY_TOKEN"


def test_listing_and_retrieving(api):
    source = DataSourceFactory(name="loyalty")
    DataSourceFactory(name="deliveries")

    listed = api.get(URL)
    retrieved = api.get(f"{URL}{source.pk}/")

    assert [item["name"] for item in listed.json()["results"]] == ["deliveries", "loyalty"]
    assert retrieved.json()["name"] == "loyalty"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"url_template": "https://crm.example.com/v1/customers"},
            [
                (
                    "url_template",
                    "invalid",
                    "The URL must contain {external_id} exactly once: it is replaced by each "
                    "contact's external_id.",
                )
            ],
        ),
        (
            {"url_template": "https://crm.example.com/{external_id}/{external_id}"},
            [
                (
                    "url_template",
                    "invalid",
                    "The URL must contain {external_id} exactly once: it is replaced by each "
                    "contact's external_id.",
                )
            ],
        ),
        (
            {"url_template": "https://crm.example.com/{phone}", "key_field": "external_id"},
            [
                (
                    "url_template",
                    "invalid",
                    "The URL must contain {external_id} exactly once: it is replaced by each "
                    "contact's external_id.",
                ),
                (
                    "url_template",
                    "invalid",
                    "Unknown placeholder {phone}: the only placeholder is {external_id} (the key "
                    "field).",
                ),
            ],
        ),
        (
            {"auth_env_var": "loyalty token"},
            [
                (
                    "auth_env_var",
                    "invalid",
                    "Give the name of an environment variable in capitals, digits and "
                    "underscores, starting with DATASOURCE_, e.g. DATASOURCE_CRM_TOKEN (the "
                    "name, never the secret itself).",
                )
            ],
        ),
        (
            {"auth_env_var": "SECRET_KEY"},
            [
                (
                    "auth_env_var",
                    "invalid",
                    "Give the name of an environment variable in capitals, digits and "
                    "underscores, starting with DATASOURCE_, e.g. DATASOURCE_CRM_TOKEN (the "
                    "name, never the secret itself).",
                )
            ],
        ),
        (
            {"auth_header": ""},
            [
                (
                    "auth_header",
                    "invalid",
                    "Give the header that carries the secret, e.g. Authorization.",
                )
            ],
        ),
        (
            {"auth_header": "X Api Key"},
            [("auth_header", "invalid", "'X Api Key' is not a valid HTTP header name.")],
        ),
        (
            {"timeout_seconds": 60},
            [
                (
                    "timeout_seconds",
                    "max_value",
                    "Ensure this value is less than or equal to 30.",
                )
            ],
        ),
        (
            {"max_concurrency": 0},
            [
                (
                    "max_concurrency",
                    "min_value",
                    "Ensure this value is greater than or equal to 1.",
                )
            ],
        ),
        (
            {"name": "loyalty.tier"},
            [
                (
                    "name",
                    "invalid",
                    'Enter a valid "slug" consisting of letters, numbers, underscores or hyphens.',
                )
            ],
        ),
    ],
)
def test_invalid_data_sources_are_refused_field_by_field(api, overrides, expected):
    response = api.post(URL, payload(**overrides), format="json")

    assert errors(response) == expected
    assert DataSource.objects.count() == 0


def test_a_duplicate_name_is_refused(api):
    DataSourceFactory(name="loyalty")

    response = api.post(URL, payload(), format="json")

    assert errors(response) == [("name", "unique", "data source with this name already exists.")]


def test_the_key_field_placeholder_follows_the_key_field(api):
    source = DataSourceFactory(name="loyalty")

    response = api.patch(
        f"{URL}{source.pk}/",
        {"key_field": "phone", "url_template": "https://crm.example.com/by-phone/{phone}"},
        format="json",
    )
    refused = api.patch(f"{URL}{source.pk}/", {"key_field": "id"}, format="json")

    assert response.status_code == 200
    assert errors(refused)[0][0] == "url_template"
    source.refresh_from_db()
    assert source.key_field == "phone"


def test_changing_the_url_bumps_the_cache_version_and_other_changes_keep_it(api):
    source = DataSourceFactory(name="loyalty")

    renamed = api.patch(f"{URL}{source.pk}/", {"ttl_seconds": 60}, format="json")
    moved = api.patch(
        f"{URL}{source.pk}/",
        {"url_template": "https://crm2.example.com/{external_id}"},
        format="json",
    )

    assert (renamed.json()["cache_version"], moved.json()["cache_version"]) == (1, 2)


def test_cache_version_cannot_be_written(api):
    source = DataSourceFactory(name="loyalty")

    api.patch(f"{URL}{source.pk}/", {"cache_version": 99}, format="json")

    source.refresh_from_db()
    assert source.cache_version == 1


def test_deleting_an_unused_data_source(api):
    source = DataSourceFactory(name="loyalty")

    response = api.delete(f"{URL}{source.pk}/")

    assert response.status_code == 204
    assert DataSource.objects.count() == 0


def test_the_test_action_shows_one_contacts_data(api, crm, loyalty):
    crm.records["C-1"] = {"tier": "gold"}

    response = api.post(f"{URL}{loyalty.pk}/test/", {"key": "C-1"}, format="json")

    body = response.json()
    assert response.status_code == 200
    assert {key: body[key] for key in ("ok", "status_code", "data", "error", "url")} == {
        "ok": True,
        "status_code": 200,
        "data": {"tier": "gold"},
        "error": "",
        "url": f"{crm.base_url}/customers/C-1",
    }
    assert cache.get(cache_key(loyalty, "C-1")) is None  # a test is never cached


def test_the_test_action_accepts_a_contact_and_shows_the_error(api, crm, loyalty):
    contact = ContactFactory(external_id="C-2")
    crm.fail_with(502)

    response = api.post(f"{URL}{loyalty.pk}/test/", {"contact": contact.pk}, format="json")

    assert response.status_code == 200
    assert (response.json()["ok"], response.json()["error"]) == (False, "HTTP 502")


def test_the_test_action_needs_a_key_or_a_contact(api, loyalty):
    response = api.post(f"{URL}{loyalty.pk}/test/", {}, format="json")

    assert errors(response) == [("non_field_errors", "invalid", 'Give either "key" or "contact".')]


def test_the_invalidate_action_forgets_keys(api, loyalty):
    cache.set(cache_key(loyalty, "C-1"), {"tier": "gold"})

    response = api.post(f"{URL}{loyalty.pk}/invalidate/", {"keys": ["C-1"]}, format="json")

    assert response.json() == {
        "source": "loyalty",
        "keys": 1,
        "all_keys": False,
        "cache_version": 1,
    }
    assert cache.get(cache_key(loyalty, "C-1")) is None


def test_a_reader_sees_data_sources_but_cannot_change_test_or_invalidate_them(loyalty):
    reader = client_with("view")

    assert reader.get(URL).status_code == 200
    assert reader.post(URL, payload(name="other"), format="json").status_code == 403
    assert reader.post(f"{URL}{loyalty.pk}/test/", {"key": "C-1"}, format="json").status_code == 403
    assert (
        reader.post(f"{URL}{loyalty.pk}/invalidate/", {"all": True}, format="json").status_code
        == 403
    )
    loyalty.refresh_from_db()
    assert (DataSource.objects.count(), loyalty.cache_version) == (1, 1)


def test_without_the_view_permission_nothing_is_listed(loyalty):
    assert client_with().get(URL).status_code == 403


def test_a_data_source_a_campaign_can_still_use_cannot_be_deleted(api):

    source = DataSourceFactory(name="loyalty")
    CampaignFactory(
        name="Spring sale",
        variable_mapping={"body.1": {"source": "data_source", "path": "loyalty.tier"}},
    )

    response = api.delete(f"{URL}{source.pk}/")

    assert errors(response) == [
        (
            None,
            "in_use",
            "This data source is used by campaign(s) that can still send: Spring sale. Change "
            "their mapping first, or switch the source off.",
        )
    ]
    assert DataSource.objects.count() == 1


def test_finished_campaigns_do_not_keep_a_data_source_alive(api):

    source = DataSourceFactory(name="loyalty")
    CampaignFactory(
        status=CampaignStatus.COMPLETED,
        variable_mapping={"body.1": {"source": "data_source", "path": "loyalty.tier"}},
    )

    assert api.delete(f"{URL}{source.pk}/").status_code == 204
