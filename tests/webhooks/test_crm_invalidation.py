"""`POST /webhooks/crm/invalidate/`: signed by the CRM, forgets cached data-source values."""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache

from campaigns.models import DataSource
from campaigns.personalisation.sources import cache_key
from tests.campaigns.personalisation.factories import DataSourceFactory
from whatsapp.signatures import sign

pytestmark = [pytest.mark.django_db, pytest.mark.redis]

URL = "/webhooks/crm/invalidate/"
SECRET = "crm-shared-secret"


@pytest.fixture(autouse=True)
def _secret(settings) -> None:
    settings.TIDINGS_CRM_WEBHOOK_SECRET = SECRET


@pytest.fixture
def loyalty() -> DataSource:
    source = DataSourceFactory(name="loyalty")
    cache.set_many(
        {cache_key(source, key): {"tier": key} for key in ("C-1", "C-2", "C-3")}, timeout=3600
    )
    return source


def post(client, body, *, signature: str | None = "valid", secret: str = SECRET):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {}
    if signature == "valid":
        headers["HTTP_X_TIDINGS_SIGNATURE"] = sign(raw, secret)
    elif signature is not None:
        headers["HTTP_X_TIDINGS_SIGNATURE"] = signature
    return client.post(URL, data=raw, content_type="application/json", **headers)


def cached_keys(source: DataSource) -> list[str]:
    source.refresh_from_db()
    return [key for key in ("C-1", "C-2", "C-3") if cache.get(cache_key(source, key))]


def test_signed_keys_are_forgotten_and_the_others_kept(client, loyalty):
    response = post(client, {"source": "loyalty", "keys": ["C-1", "C-2"]})

    assert response.status_code == 200
    assert response.json() == {
        "source": "loyalty",
        "all": False,
        "invalidated": 2,
        "cache_version": 1,
    }
    assert cached_keys(loyalty) == ["C-3"]


def test_all_bumps_the_cache_version_so_nothing_cached_is_used(client, loyalty):
    response = post(client, {"source": "loyalty", "all": True})

    assert response.status_code == 200
    assert response.json() == {
        "source": "loyalty",
        "all": True,
        "invalidated": 0,
        "cache_version": 2,
    }
    assert cached_keys(loyalty) == []


def test_a_request_without_a_signature_is_refused_with_401(client, loyalty):
    response = post(client, {"source": "loyalty", "all": True}, signature=None)

    assert response.status_code == 401
    assert response.json() == {
        "type": "client_error",
        "errors": [
            {
                "code": "not_authenticated",
                "detail": "Missing X-Tidings-Signature header.",
                "attr": None,
            }
        ],
    }
    assert cached_keys(loyalty) == ["C-1", "C-2", "C-3"]


@pytest.mark.parametrize(
    "signature",
    [
        sign(b'{"source": "loyalty", "all": true}', "another-secret"),
        "sha256=" + "0" * 64,
        "sha1=abc",
        "garbage",
    ],
)
def test_a_wrong_signature_is_refused_with_403_and_changes_nothing(client, loyalty, signature):
    response = post(client, b'{"source": "loyalty", "all": true}', signature=signature)

    assert response.status_code == 403
    assert response.json()["errors"][0]["detail"] == "Invalid signature."
    assert cached_keys(loyalty) == ["C-1", "C-2", "C-3"]
    assert loyalty.cache_version == 1


def test_a_signature_over_another_body_is_refused(client, loyalty):
    signed_for_one_key = sign(b'{"source": "loyalty", "keys": ["C-1"]}', SECRET)

    response = post(client, {"source": "loyalty", "all": True}, signature=signed_for_one_key)

    assert response.status_code == 403
    assert cached_keys(loyalty) == ["C-1", "C-2", "C-3"]


def test_without_a_configured_secret_everything_is_refused(client, loyalty, settings):
    settings.TIDINGS_CRM_WEBHOOK_SECRET = ""

    response = post(client, {"source": "loyalty", "all": True}, secret="")

    assert response.status_code == 403
    assert response.json()["errors"][0]["detail"] == "CRM invalidation is not configured."
    assert cached_keys(loyalty) == ["C-1", "C-2", "C-3"]


@pytest.mark.parametrize(
    ("body", "detail", "attr"),
    [
        (b"{not json", "The body is not valid JSON.", None),
        (
            ["loyalty"],
            'The body must be a JSON object such as {"source": "loyalty", "keys": [...]}.',
            None,
        ),
        ({"keys": ["C-1"]}, "Give the data source's name.", "source"),
        ({"source": "loyalty"}, 'Give either "keys" (a list of keys) or "all": true.', "keys"),
        (
            {"source": "loyalty", "keys": ["C-1"], "all": True},
            'Give either "keys" (a list of keys) or "all": true.',
            "keys",
        ),
        ({"source": "loyalty", "all": False}, '"all" can only be true.', "all"),
        ({"source": "loyalty", "keys": []}, '"keys" must be a non-empty list.', "keys"),
        ({"source": "loyalty", "keys": "C-1"}, '"keys" must be a non-empty list.', "keys"),
        (
            {"source": "loyalty", "keys": ["C-1", None]},
            "Every key must be a non-empty string or an integer; got None.",
            "keys",
        ),
        ({"source": "loyalty", "keys": ["C-1"], "why": "x"}, "Unknown field(s): why.", "why"),
        ({"source": "crm", "keys": ["C-1"]}, "Unknown data source 'crm'.", "source"),
    ],
)
def test_a_bad_body_is_refused_with_400_naming_the_problem(client, loyalty, body, detail, attr):
    response = post(client, body)

    assert response.status_code == 400
    assert response.json()["type"] == "validation_error"
    assert [(e["detail"], e["attr"]) for e in response.json()["errors"]] == [(detail, attr)]
    assert cached_keys(loyalty) == ["C-1", "C-2", "C-3"]
    assert loyalty.cache_version == 1


def test_only_post_is_allowed(client, loyalty):
    assert client.get(URL).status_code == 405
