"""Schemathesis against the served OpenAPI schema: no request, valid or not, gets a 500 or a
response the schema does not describe (status, content type, headers, body).

Every operation is called as an Integrator and as a Marketing member, through Django's WSGI app
in this process, on the suite's PostgreSQL, with a small world of real objects: generated path
ids and foreign keys point at those objects often enough to reach the services, not only the
404s. The number of examples is bounded (FUZZ_EXAMPLES) so the run stays within a few minutes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from contacts.roles import INTEGRATOR_GROUP, MARKETING_GROUP
from tests.config.world import World, build_world

pytestmark = pytest.mark.django_db

# Generated requests per operation and token in the fuzzing phase (more: slower, deeper).
FUZZ_EXAMPLES = int(os.environ.get("TIDINGS_FUZZ_EXAMPLES", "10"))


def fuzz_config(*, coverage: bool) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "generation": {"max-examples": FUZZ_EXAMPLES, "database": "none", "mode": "all"},
            # The coverage phase (boundary and type-confusion values for every parameter, valid
            # and not) costs most of the time; it runs for the integrator's token only.
            "phases": {"coverage": {"enabled": coverage}},
            "checks": {
                # What the schema promises about responses: all of it is checked.
                "not_a_server_error": {"enabled": True},
                "status_code_conformance": {"enabled": True},
                "content_type_conformance": {"enabled": True},
                "response_schema_conformance": {"enabled": True},
                "response_headers_conformance": {"enabled": True},
                "unsupported_method": {"enabled": True},
                # About requests, not responses: a valid-looking body may still break a business
                # rule (a 400 is right), and an empty filter value means "no filter".
                "positive_data_acceptance": {"enabled": False},
                "negative_data_rejection": {"enabled": False},
                # Stateful checks need response links the schema does not declare.
                "use_after_free": {"enabled": False},
                "ensure_resource_availability": {"enabled": False},
            },
        }
    )


integrator_schema = schemathesis.openapi.from_wsgi(
    "/api/schema/", get_wsgi_application(), config=fuzz_config(coverage=True)
)
marketing_schema = schemathesis.openapi.from_wsgi(
    "/api/schema/", get_wsgi_application(), config=fuzz_config(coverage=False)
)

# The world of the running test: hooks read it when Hypothesis draws, after the fixture made it.
CURRENT: dict[str, World] = {}


def _objects(resource: str) -> list[Any]:
    world = CURRENT["world"]
    return {
        "campaigns": [world.draft, world.running, world.paused, world.completed],
        "contacts": [world.contact, world.spare_contact],
        "contact-imports": [world.contact_import],
        "conversions": [world.conversion],
        "data-sources": [world.data_source],
        "messages": [world.failed_message],
        "segments": [world.segment, world.spare_segment],
        "subscriptions": [world.subscription, world.disabled_subscription],
        "templates": [world.template, world.draft_template],
    }[resource]


def _resource(path: str) -> str:
    return path.removeprefix("/api/v1/").split("/", 1)[0]


def before_generate_path_parameters(context: Any, strategy: st.SearchStrategy) -> Any:
    """Half of the ids name an object of the world (in each of its states)."""
    path = context.operation.path
    if "{" not in path:
        return strategy
    resource = _resource(path)

    def existing(index: int) -> dict[str, int]:
        objects = _objects(resource)
        chosen = objects[index % len(objects)].pk
        if "{contact_pk}" in path:
            return {"contact_pk": chosen}
        return {"id": chosen}

    return st.one_of(strategy, st.integers(min_value=0, max_value=7).map(existing))


# Body fields that hold ids, and the world's objects they may point at.
FOREIGN_KEYS = {
    "template": lambda w: [w.template, w.draft_template],
    "fallback_template": lambda w: [w.template],
    "sender": lambda w: [w.sender],
    "segment": lambda w: [w.segment, w.spare_segment],
    "contact": lambda w: [w.contact, w.spare_contact],
    "contact_id": lambda w: [w.contact, w.spare_contact],
    "account": lambda w: [w.template.account],
}


def _with_world_ids(body: Any) -> Any:
    if not isinstance(body, dict):
        return body
    world = CURRENT["world"]
    patched = dict(body)
    for field, objects in FOREIGN_KEYS.items():
        if isinstance(patched.get(field), int):
            choices = objects(world)
            patched[field] = choices[patched[field] % len(choices)].pk
    return patched


def before_generate_body(context: Any, strategy: st.SearchStrategy) -> Any:
    return st.one_of(strategy, strategy.map(_with_world_ids))


for _schema in (integrator_schema, marketing_schema):
    _schema.hook(before_generate_path_parameters)
    _schema.hook(before_generate_body)


def _loopback_only(send: Any) -> Any:
    """Nothing generated may make Tidings call out (a data source's URL is the caller's choice)."""

    def guarded(adapter: Any, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        if urlsplit(request.url).hostname not in {"127.0.0.1", "localhost", "::1"}:
            raise requests.ConnectionError(f"outbound call refused in this test: {request.url}")
        return send(adapter, request, *args, **kwargs)

    return guarded


@pytest.fixture
def api_world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    # Django's test client does the same: the WSGI handler would otherwise close the test's
    # connection (and its transaction) at the end of every request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    monkeypatch.setattr(
        requests.adapters.HTTPAdapter, "send", _loopback_only(requests.adapters.HTTPAdapter.send)
    )
    CURRENT["world"] = build_world()
    try:
        yield CURRENT["world"]
    finally:
        CURRENT.clear()
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


FUZZ_SETTINGS = settings(
    deadline=None,
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)


@integrator_schema.parametrize()
@FUZZ_SETTINGS
def test_the_api_keeps_its_schema_for_an_integrator(case: Any, api_world: World) -> None:
    case.call_and_validate(headers={"Authorization": f"Token {api_world.tokens[INTEGRATOR_GROUP]}"})


@marketing_schema.parametrize()
@FUZZ_SETTINGS
def test_the_api_keeps_its_schema_for_marketing(case: Any, api_world: World) -> None:
    case.call_and_validate(headers={"Authorization": f"Token {api_world.tokens[MARKETING_GROUP]}"})
