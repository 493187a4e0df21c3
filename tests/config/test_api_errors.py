"""One error format for every 4xx of the API: `{"type", "errors": [{"code", "detail", "attr"}]}`,
whether DRF, a view, a service, Django's request handling or the URL router raised it."""

from __future__ import annotations

import io
import json

import pytest
from django.core.cache import cache
from django.test import RequestFactory
from rest_framework.test import APIClient

from campaigns.models import Message
from config.api import errors
from contacts.models import Contact, ContactImport
from tests.config.world import World, build_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world() -> World:
    return build_world()


def client_as(world: World, role: str | None) -> APIClient:
    client = APIClient()
    if role is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {world.tokens[role]}")
    return client


def error_of(response, status: int) -> tuple[str, list[tuple[str, str | None]]]:
    """The error's type and its (code, attr) pairs, once the status and shape are checked."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"type", "errors"}
    for error in body["errors"]:
        assert set(error) == {"code", "detail", "attr"}
        assert isinstance(error["detail"], str) and error["detail"]
    return body["type"], [(error["code"], error["attr"]) for error in body["errors"]]


def test_400_for_a_field_a_serializer_refuses(world):
    response = client_as(world, "Marketing").post(
        "/api/v1/contacts/", {"tags": "not-a-list"}, format="json"
    )

    assert error_of(response, 400) == ("validation_error", [("not_a_list", "tags")])


def test_400_for_a_business_rule_a_service_refuses(world):
    response = client_as(world, "Marketing").post(
        f"/api/v1/campaigns/{world.running.pk}/retry-failed/"
    )

    assert error_of(response, 400) == ("validation_error", [("invalid", None)])


def test_400_for_a_body_that_is_not_json(world):
    response = client_as(world, "Marketing").post(
        "/api/v1/contacts/", "{not json", content_type="application/json"
    )

    assert error_of(response, 400) == ("client_error", [("parse_error", None)])


def test_400_errors_of_list_items_name_the_item_by_index(world):
    response = client_as(world, "Marketing").post(
        "/api/v1/contacts/bulk-upsert/",
        {"contacts": [{"phone": "+447911123401"}, {"phone": 7}, {"tags": 5}]},
        format="json",
    )

    assert error_of(response, 400) == ("validation_error", [("invalid", "contacts.2.tags")])


def test_401_without_credentials_and_with_a_wrong_token(world):
    anonymous = client_as(world, None).get("/api/v1/contacts/")
    wrong = APIClient()
    wrong.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    assert error_of(anonymous, 401) == ("client_error", [("not_authenticated", None)])
    assert anonymous["WWW-Authenticate"] == "Token"
    assert error_of(wrong.get("/api/v1/contacts/"), 401) == (
        "client_error",
        [("authentication_failed", None)],
    )


def test_403_from_the_permission_classes_and_from_inside_a_view(world):
    compliance = client_as(world, "Compliance").post(
        "/api/v1/contacts/", {"phone": "+447911123401"}, format="json"
    )
    staff_test = client_as(world, "Marketing").post(
        f"/api/v1/campaigns/{world.draft.pk}/test-send/", {"phone": "+447911123999"}, format="json"
    )

    assert error_of(compliance, 403) == ("client_error", [("permission_denied", None)])
    assert error_of(staff_test, 403) == ("client_error", [("permission_denied", None)])
    assert "launch campaigns" in staff_test.json()["errors"][0]["detail"]
    assert not Message.objects.filter(test_of_campaign=world.draft).exists()


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/contacts/999999/",
        "/api/v1/contacts/abc/",
        "/api/v1/no-such-resource/",
        "/api/v1/contacts/999999/consents/",
        "/api/schema/nothing-here/",
    ],
)
def test_404_for_unknown_objects_and_unknown_api_urls(world, path):
    response = client_as(world, "Marketing").get(path)

    assert error_of(response, 404) == ("client_error", [("not_found", None)])


def test_a_404_outside_the_api_stays_a_page():
    response = APIClient().get("/no-such-page/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_405_for_a_verb_the_resource_does_not_have(world):
    response = client_as(world, "Marketing").delete(f"/api/v1/contacts/{world.contact.pk}/")

    assert error_of(response, 405) == ("client_error", [("method_not_allowed", None)])
    assert Contact.objects.filter(pk=world.contact.pk).exists()


def test_406_for_a_representation_the_api_cannot_give(world):
    response = client_as(world, "Marketing").get("/api/v1/contacts/", HTTP_ACCEPT="text/csv")

    assert error_of(response, 406) == ("client_error", [("not_acceptable", None)])


def test_409_for_an_idempotency_key_reused_with_another_body(world):
    client = client_as(world, "Integrator")
    body = {
        "contact_id": world.contact.pk,
        "template": world.template.pk,
        "parameters": {
            "header.1": "A-77",
            "body.1": "Maria",
            "body.2": "A-77",
            "body.3": "Friday",
            "button.0": "A-77",
        },
    }
    first = client.post("/api/v1/messages/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    changed = body | {"parameters": body["parameters"] | {"body.1": "Ana"}}

    response = client.post("/api/v1/messages/", changed, format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    assert first.status_code == 201
    assert error_of(response, 409) == ("client_error", [("conflict", None)])
    assert Message.objects.filter(campaign=None, test_of_campaign=None).count() == 1


def test_413_for_a_body_over_the_upload_limit(world, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    items = [{"phone": f"+4479111{index:05d}", "name": "x" * 50} for index in range(50)]

    response = client_as(world, "Marketing").post(
        "/api/v1/contacts/bulk-upsert/", {"contacts": items}, format="json"
    )

    assert error_of(response, 413) == ("client_error", [("request_too_large", None)])
    assert Contact.objects.count() == 2


def test_413_for_an_import_file_over_the_import_limit(world, settings):
    settings.TIDINGS_IMPORT_MAX_FILE_BYTES = 100
    upload = io.BytesIO(b"phone,name\n" + b"+447911123401,Someone with a long name\n" * 20)
    upload.name = "big.csv"

    response = client_as(world, "Marketing").post(
        "/api/v1/contact-imports/", {"file": upload}, format="multipart"
    )

    assert error_of(response, 413) == ("client_error", [("request_too_large", None)])
    assert "larger than" in response.json()["errors"][0]["detail"]
    assert ContactImport.objects.count() == 1  # the world's own


def test_415_for_a_body_in_a_media_type_the_endpoint_does_not_read(world):
    response = client_as(world, "Marketing").post(
        "/api/v1/contacts/", "phone=+447911123401", content_type="text/plain"
    )

    assert error_of(response, 415) == ("client_error", [("unsupported_media_type", None)])


def test_429_per_token_with_retry_after_and_the_same_format(world, settings):
    settings.TIDINGS_API_THROTTLE_RATE = "2/minute"
    cache.clear()
    integrator, marketing = client_as(world, "Integrator"), client_as(world, "Marketing")

    answers = [integrator.get("/api/v1/contacts/").status_code for _ in range(3)]
    other_token = marketing.get("/api/v1/contacts/")

    assert answers == [200, 200, 429]
    throttled = integrator.get("/api/v1/contacts/")
    assert error_of(throttled, 429) == ("client_error", [("throttled", None)])
    assert 1 <= int(throttled["Retry-After"]) <= 60
    assert other_token.status_code == 200


def test_429_for_anonymous_requests_by_address(settings):
    """Requests without credentials get a 401 before any budget counts; what anonymous
    visitors may read (the schema, the docs) is limited per address."""
    settings.TIDINGS_API_ANON_THROTTLE_RATE = "1/hour"
    cache.clear()
    anonymous = APIClient()

    first = anonymous.get("/api/schema/", HTTP_ACCEPT="application/json", REMOTE_ADDR="203.0.113.9")
    second = anonymous.get(
        "/api/schema/", HTTP_ACCEPT="application/json", REMOTE_ADDR="203.0.113.9"
    )
    elsewhere = anonymous.get(
        "/api/schema/", HTTP_ACCEPT="application/json", REMOTE_ADDR="198.51.100.4"
    )

    assert first.status_code == 200
    assert error_of(second, 429) == ("client_error", [("throttled", None)])
    assert int(second["Retry-After"]) > 60
    assert elsewhere.status_code == 200


def test_the_throttle_keeps_token_keys_out_of_the_cache(world, settings):
    settings.TIDINGS_API_THROTTLE_RATE = "5/minute"
    cache.clear()

    client_as(world, "Integrator").get("/api/v1/contacts/")

    keys = list(cache._cache.keys())  # the test suite's in-process cache
    assert keys
    assert not any(world.tokens["Integrator"] in key for key in keys)


def test_every_documented_error_response_uses_the_one_format():
    """The schema promises the format too: every 4xx response of every operation."""
    schema = json.loads(
        APIClient()
        .get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
        .content.decode()
    )
    components = schema["components"]["schemas"]

    def properties(reference: dict) -> set[str]:
        name = reference["$ref"].rsplit("/", 1)[-1]
        return set(components[name]["properties"])

    shapes = {
        frozenset(properties(response["content"]["application/json"]["schema"]))
        for operations in schema["paths"].values()
        for operation in operations.values()
        for status, response in operation["responses"].items()
        if status.startswith("4")
    }
    assert shapes == {frozenset({"type", "errors"})}


def test_a_500_outside_drf_is_json_under_the_api_and_a_page_elsewhere():
    api = errors.server_error(RequestFactory().get("/api/v1/contacts/"))
    page = errors.server_error(RequestFactory().get("/admin/"))

    assert api.status_code == page.status_code == 500
    assert json.loads(api.content) == {
        "type": "server_error",
        "errors": [{"code": "error", "detail": "Server Error (500)", "attr": None}],
    }
    assert not page["Content-Type"].startswith("application/json")
