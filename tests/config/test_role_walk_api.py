"""Every write endpoint of the API, called as every role: who may, and that a refusal changes
nothing.

The endpoints are enumerated from the OpenAPI schema, so a new one that is missing from
`ENDPOINTS` fails `test_every_write_endpoint_has_an_expectation` until someone decides who may
call it.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.apps import apps
from django.core import serializers
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from contacts.roles import (
    CAMPAIGN_LAUNCHERS_GROUP as LAUNCHERS,
)
from contacts.roles import (
    COMPLIANCE_GROUP as COMPLIANCE,
)
from contacts.roles import (
    DATA_PROTECTION_GROUP as DATA_PROTECTION,
)
from contacts.roles import (
    INTEGRATOR_GROUP as INTEGRATOR,
)
from contacts.roles import (
    MARKETING_GROUP as MARKETING,
)
from tests.config.world import ROLES, World, build_world

pytestmark = pytest.mark.django_db

ANONYMOUS = "anonymous"
WRITE_METHODS = {"post", "put", "patch", "delete"}
ORDER_UPDATE_VALUES = {
    "header.1": "A-77",
    "body.1": "Maria",
    "body.2": "A-77",
    "body.3": "Friday",
    "button.0": "A-77",
}


@dataclass(frozen=True)
class Endpoint:
    """How to call one write operation so that it succeeds for a role that may call it."""

    path: Callable[[World], str]
    allowed: frozenset[str]
    success: int = 200
    body: Callable[[World], Any] | None = None
    multipart: bool = False
    # Read-only operations that happen to be POSTs (a preview, a count): they change nothing
    # even when allowed.
    reads_only: bool = False


def campaign_body(world: World, **overrides: Any) -> dict:
    return {
        "name": "Autumn orders",
        "template": world.template.pk,
        "sender": world.sender.pk,
        "segment": world.segment.pk,
        "variable_mapping": world.draft.variable_mapping,
    } | overrides


def data_source_body(world: World) -> dict:
    return {"name": "orders", "url_template": "http://127.0.0.1:9/orders/{external_id}"}


def subscription_body(world: World) -> dict:
    return {"target_url": "http://127.0.0.1:9/crm", "event_types": ["message.read"]}


def csv_upload(world: World) -> dict:
    upload = io.BytesIO(b"phone,name\n+447911123403,Rui\n")
    upload.name = "contacts.csv"
    return {"file": upload}


AUTHORS = frozenset({MARKETING, INTEGRATOR})
NOBODY: frozenset[str] = frozenset()
READERS = frozenset({MARKETING, COMPLIANCE, INTEGRATOR})

ENDPOINTS: dict[tuple[str, str], Endpoint] = {
    # --- Contacts -------------------------------------------------------------------------
    ("POST", "/api/v1/contacts/"): Endpoint(
        lambda w: "/api/v1/contacts/",
        AUTHORS,
        201,
        lambda w: {"phone": "+447911123401", "name": "Rui"},
    ),
    ("PUT", "/api/v1/contacts/{id}/"): Endpoint(
        lambda w: f"/api/v1/contacts/{w.contact.pk}/",
        AUTHORS,
        body=lambda w: {"phone": w.contact.phone, "name": "Maria Silva"},
    ),
    ("PATCH", "/api/v1/contacts/{id}/"): Endpoint(
        lambda w: f"/api/v1/contacts/{w.contact.pk}/", AUTHORS, body=lambda w: {"name": "M. S."}
    ),
    ("POST", "/api/v1/contacts/{id}/erase/"): Endpoint(
        lambda w: f"/api/v1/contacts/{w.spare_contact.pk}/erase/", frozenset({DATA_PROTECTION})
    ),
    ("POST", "/api/v1/contacts/bulk-upsert/"): Endpoint(
        lambda w: "/api/v1/contacts/bulk-upsert/",
        AUTHORS,
        body=lambda w: {"contacts": [{"phone": "+447911123402", "name": "Joana"}]},
    ),
    ("POST", "/api/v1/contacts/{contact_pk}/consents/"): Endpoint(
        lambda w: f"/api/v1/contacts/{w.contact.pk}/consents/",
        AUTHORS,
        201,
        lambda w: {"action": "opt_out", "scope": "marketing"},
    ),
    ("POST", "/api/v1/segments/"): Endpoint(
        lambda w: "/api/v1/segments/", AUTHORS, 201, lambda w: {"name": "VIPs", "tags_any": ["vip"]}
    ),
    ("PUT", "/api/v1/segments/{id}/"): Endpoint(
        lambda w: f"/api/v1/segments/{w.spare_segment.pk}/",
        AUTHORS,
        body=lambda w: {"name": "Renamed"},
    ),
    ("PATCH", "/api/v1/segments/{id}/"): Endpoint(
        lambda w: f"/api/v1/segments/{w.spare_segment.pk}/",
        AUTHORS,
        body=lambda w: {"description": "Nobody yet"},
    ),
    ("DELETE", "/api/v1/segments/{id}/"): Endpoint(
        lambda w: f"/api/v1/segments/{w.spare_segment.pk}/", AUTHORS, 204
    ),
    ("POST", "/api/v1/segments/preview-count/"): Endpoint(
        lambda w: "/api/v1/segments/preview-count/",
        READERS,
        body=lambda w: {"tags_any": ["vip"]},
        reads_only=True,
    ),
    ("POST", "/api/v1/contact-imports/"): Endpoint(
        lambda w: "/api/v1/contact-imports/", AUTHORS, 201, csv_upload, multipart=True
    ),
    # --- Templates ------------------------------------------------------------------------
    ("POST", "/api/v1/templates/"): Endpoint(
        lambda w: "/api/v1/templates/",
        frozenset({MARKETING}),
        201,
        lambda w: {
            "account": w.template.account_id,
            "name": "order_update",
            "language": "pt_BR",
            "category": "UTILITY",
            "components": w.template.components,
        },
    ),
    ("POST", "/api/v1/templates/{id}/submit/"): Endpoint(
        lambda w: f"/api/v1/templates/{w.draft_template.pk}/submit/", frozenset({MARKETING})
    ),
    ("POST", "/api/v1/templates/sync/"): Endpoint(
        lambda w: "/api/v1/templates/sync/", frozenset({MARKETING})
    ),
    ("POST", "/api/v1/templates/{id}/preview/"): Endpoint(
        lambda w: f"/api/v1/templates/{w.template.pk}/preview/",
        READERS,
        body=lambda w: {"values": {"body.1": "Maria"}},
        reads_only=True,
    ),
    # --- Data sources ---------------------------------------------------------------------
    ("POST", "/api/v1/data-sources/"): Endpoint(
        lambda w: "/api/v1/data-sources/", frozenset({MARKETING}), 201, data_source_body
    ),
    ("PUT", "/api/v1/data-sources/{id}/"): Endpoint(
        lambda w: f"/api/v1/data-sources/{w.data_source.pk}/",
        frozenset({MARKETING}),
        body=data_source_body,
    ),
    ("PATCH", "/api/v1/data-sources/{id}/"): Endpoint(
        lambda w: f"/api/v1/data-sources/{w.data_source.pk}/",
        frozenset({MARKETING}),
        body=lambda w: {"ttl_seconds": 60},
    ),
    ("DELETE", "/api/v1/data-sources/{id}/"): Endpoint(
        lambda w: f"/api/v1/data-sources/{w.data_source.pk}/", frozenset({MARKETING}), 204
    ),
    ("POST", "/api/v1/data-sources/{id}/test/"): Endpoint(
        lambda w: f"/api/v1/data-sources/{w.data_source.pk}/test/",
        frozenset({MARKETING}),
        body=lambda w: {"key": "C-1042"},
        reads_only=True,
    ),
    ("POST", "/api/v1/data-sources/{id}/invalidate/"): Endpoint(
        lambda w: f"/api/v1/data-sources/{w.data_source.pk}/invalidate/",
        frozenset({MARKETING}),
        body=lambda w: {"all": True},
    ),
    # --- Campaigns: authoring, the four-eyes launch, operations ----------------------------
    ("POST", "/api/v1/campaigns/"): Endpoint(
        lambda w: "/api/v1/campaigns/", AUTHORS, 201, campaign_body
    ),
    ("PUT", "/api/v1/campaigns/{id}/"): Endpoint(
        lambda w: f"/api/v1/campaigns/{w.draft.pk}/", AUTHORS, body=campaign_body
    ),
    ("PATCH", "/api/v1/campaigns/{id}/"): Endpoint(
        lambda w: f"/api/v1/campaigns/{w.draft.pk}/", AUTHORS, body=lambda w: {"name": "Renamed"}
    ),
    ("DELETE", "/api/v1/campaigns/{id}/"): Endpoint(
        lambda w: f"/api/v1/campaigns/{w.draft.pk}/", AUTHORS, 204
    ),
    ("POST", "/api/v1/campaigns/{id}/dry-run/"): Endpoint(
        lambda w: f"/api/v1/campaigns/{w.draft.pk}/dry-run/",
        AUTHORS,
        body=lambda w: {"sample_size": 1},
        reads_only=True,
    ),
    ("POST", "/api/v1/campaigns/{id}/test-send/"): Endpoint(
        lambda w: f"/api/v1/campaigns/{w.draft.pk}/test-send/",
        AUTHORS,
        201,
        lambda w: {"contact": w.contact.pk},
    ),
    ("POST", "/api/v1/campaigns/{id}/schedule/"): Endpoint(
        lambda w: f"/api/v1/campaigns/{w.draft.pk}/schedule/", frozenset({LAUNCHERS})
    ),
    ("POST", "/api/v1/campaigns/{id}/start/"): Endpoint(
        lambda w: f"/api/v1/campaigns/{w.draft.pk}/start/", frozenset({LAUNCHERS})
    ),
    ("POST", "/api/v1/campaigns/{id}/resume/"): Endpoint(
        lambda w: f"/api/v1/campaigns/{w.paused.pk}/resume/", frozenset({LAUNCHERS})
    ),
    ("POST", "/api/v1/campaigns/{id}/pause/"): Endpoint(
        lambda w: f"/api/v1/campaigns/{w.running.pk}/pause/", AUTHORS
    ),
    ("POST", "/api/v1/campaigns/{id}/cancel/"): Endpoint(
        lambda w: f"/api/v1/campaigns/{w.running.pk}/cancel/", AUTHORS
    ),
    ("POST", "/api/v1/campaigns/{id}/retry-failed/"): Endpoint(
        lambda w: f"/api/v1/campaigns/{w.completed.pk}/retry-failed/", AUTHORS
    ),
    # --- Conversions: integrators report orders, the others read them ---------------------
    ("POST", "/api/v1/conversions/"): Endpoint(
        lambda w: "/api/v1/conversions/",
        frozenset({INTEGRATOR}),
        201,
        lambda w: {
            "external_id": "C-1043",
            "order_id": "ORD-2",
            "value": "12.50",
            "currency": "EUR",
            "occurred_at": "2026-01-05T10:00:00Z",
        },
    ),
    # --- Outbound event subscriptions -----------------------------------------------------
    ("POST", "/api/v1/subscriptions/"): Endpoint(
        lambda w: "/api/v1/subscriptions/", AUTHORS, 201, subscription_body
    ),
    ("PUT", "/api/v1/subscriptions/{id}/"): Endpoint(
        lambda w: f"/api/v1/subscriptions/{w.subscription.pk}/", AUTHORS, body=subscription_body
    ),
    ("PATCH", "/api/v1/subscriptions/{id}/"): Endpoint(
        lambda w: f"/api/v1/subscriptions/{w.subscription.pk}/",
        AUTHORS,
        body=lambda w: {"description": "CRM timeline"},
    ),
    ("DELETE", "/api/v1/subscriptions/{id}/"): Endpoint(
        lambda w: f"/api/v1/subscriptions/{w.subscription.pk}/", AUTHORS, 204
    ),
    ("POST", "/api/v1/subscriptions/{id}/test/"): Endpoint(
        lambda w: f"/api/v1/subscriptions/{w.subscription.pk}/test/", AUTHORS
    ),
    ("POST", "/api/v1/subscriptions/{id}/rotate-secret/"): Endpoint(
        lambda w: f"/api/v1/subscriptions/{w.subscription.pk}/rotate-secret/", AUTHORS
    ),
    ("POST", "/api/v1/subscriptions/{id}/enable/"): Endpoint(
        lambda w: f"/api/v1/subscriptions/{w.disabled_subscription.pk}/enable/", AUTHORS
    ),
    # --- Transactional messages -----------------------------------------------------------
    ("POST", "/api/v1/messages/"): Endpoint(
        lambda w: "/api/v1/messages/",
        frozenset({INTEGRATOR}),
        201,
        lambda w: {
            "contact_id": w.contact.pk,
            "template": w.template.pk,
            "parameters": ORDER_UPDATE_VALUES,
        },
    ),
}

# A test to a staff number skips the consent check: beyond the endpoint's permission, it needs
# the launch permission, which Marketing and Integrator do not have.
STAFF_TEST_SEND = Endpoint(
    lambda w: f"/api/v1/campaigns/{w.draft.pk}/test-send/",
    NOBODY,
    201,
    lambda w: {"phone": "+44 7911 123999"},
)


def schema_operations() -> set[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
        if method in WRITE_METHODS
    }


def database_state() -> dict[str, str]:
    """Every row of the project's own apps, serialised: equal before and after means unchanged."""
    state = {}
    for label in ("contacts", "templates_app", "campaigns", "webhooks", "subscriptions"):
        for model in apps.get_app_config(label).get_models():
            rows = model._base_manager.order_by("pk")
            state[model._meta.label] = serializers.serialize("json", rows)
    return state


def call(world: World, role: str, endpoint: Endpoint, method: str) -> Any:
    client = APIClient()
    if role != ANONYMOUS:
        client.credentials(HTTP_AUTHORIZATION=f"Token {world.tokens[role]}")
    body = endpoint.body(world) if endpoint.body else None
    kwargs = {"format": "multipart"} if endpoint.multipart else {"format": "json"}
    return getattr(client, method.lower())(endpoint.path(world), body, **kwargs)


def test_every_write_endpoint_has_an_expectation():
    assert schema_operations() == set(ENDPOINTS)


def test_each_role_holds_a_token_and_only_integrators_are_not_staff():
    world = build_world()

    assert {role: world.users[role].is_staff for role in ROLES} == ROLES


ALLOWED = [
    pytest.param(method, path, role, id=f"{method} {path} as {role}")
    for (method, path), endpoint in ENDPOINTS.items()
    for role in sorted(endpoint.allowed)
]


@pytest.mark.parametrize(("method", "path", "role"), ALLOWED)
def test_a_role_may_call_the_write_endpoints_its_permissions_allow(method, path, role):
    world = build_world()
    endpoint = ENDPOINTS[(method, path)]
    before = database_state()

    response = call(world, role, endpoint, method)

    assert response.status_code == endpoint.success, response.content
    if not endpoint.reads_only:
        assert database_state() != before


@pytest.mark.parametrize("role", [*ROLES, ANONYMOUS])
def test_a_role_is_refused_every_other_write_endpoint_and_nothing_changes(role):
    world = build_world()
    before = database_state()
    expected_status, expected_code = (
        (401, "not_authenticated") if role == ANONYMOUS else (403, "permission_denied")
    )

    answers = {}
    for (method, path), endpoint in ENDPOINTS.items():
        if role in endpoint.allowed:
            continue
        response = call(world, role, endpoint, method)
        body = response.json()
        answers[f"{method} {path}"] = (
            response.status_code,
            body["type"],
            tuple(error["code"] for error in body["errors"]),
        )

    assert answers
    assert set(answers.values()) == {(expected_status, "client_error", (expected_code,))}, answers
    assert database_state() == before


@pytest.mark.parametrize("role", [*ROLES, ANONYMOUS])
def test_a_test_send_to_a_staff_number_needs_the_launch_permission_on_top(role):
    world = build_world()
    before = database_state()

    response = call(world, role, STAFF_TEST_SEND, "POST")

    assert response.status_code == (401 if role == ANONYMOUS else 403), response.content
    assert database_state() == before


def test_a_launcher_who_may_also_author_sends_a_test_to_a_staff_number():
    world = build_world()
    approver = world.users[MARKETING]
    approver.groups.add(world.users[LAUNCHERS].groups.get())

    response = call(world, MARKETING, STAFF_TEST_SEND, "POST")

    assert response.status_code == 201, response.content
    assert response.json()["test_of_campaign"] == world.draft.pk


# Who reads each resource (every GET under it, lists and details).
READABLE_BY = {
    "campaigns": READERS | {LAUNCHERS},
    "contacts": READERS | {DATA_PROTECTION},
    "contact-imports": READERS,
    "conversions": READERS,
    "data-sources": READERS,
    "messages": READERS,
    "segments": READERS,
    "subscriptions": READERS,
    "templates": READERS,
}
# Reads narrower than their resource's: a subscription's signing secret is for who manages it.
READABLE_BY_PATH = {"/api/v1/subscriptions/{id}/secret/": AUTHORS}


def concrete_path(path: str, world: World) -> str:
    resource = path.removeprefix("/api/v1/").split("/", 1)[0]
    objects = {
        "campaigns": world.draft,
        "contacts": world.contact,
        "contact-imports": world.contact_import,
        "conversions": world.conversion,
        "data-sources": world.data_source,
        "messages": world.failed_message,
        "segments": world.segment,
        "subscriptions": world.subscription,
        "templates": world.template,
    }
    return path.replace("{id}", str(objects[resource].pk)).replace(
        "{contact_pk}", str(world.contact.pk)
    )


@pytest.mark.parametrize("role", [*ROLES, ANONYMOUS])
def test_every_read_endpoint_answers_the_roles_that_read_its_resource(role):
    world = build_world()
    schema = SchemaGenerator().get_schema(request=None, public=True)
    reads = [path for path, operations in schema["paths"].items() if "get" in operations]
    client = APIClient()
    if role != ANONYMOUS:
        client.credentials(HTTP_AUTHORIZATION=f"Token {world.tokens[role]}")

    answers = {path: client.get(concrete_path(path, world)).status_code for path in reads}

    def expected(path: str) -> int:
        if role == ANONYMOUS:
            return 401
        resource = path.removeprefix("/api/v1/").split("/", 1)[0]
        readers = READABLE_BY_PATH.get(path, READABLE_BY[resource])
        return 200 if role in readers else 403

    assert answers == {path: expected(path) for path in reads}
