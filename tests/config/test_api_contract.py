"""The API's public contract: schema, docs, authentication and the error format."""

from __future__ import annotations

import pytest
import yaml
from django.core.management import call_command
from drf_spectacular.generators import SchemaGenerator


@pytest.mark.django_db
def test_openapi_schema_is_served(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "Tidings API"


@pytest.mark.django_db
def test_swagger_ui_is_served(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    assert b"swagger" in response.content.lower()


def test_the_schema_generates_without_a_warning_and_validates_as_openapi_3(tmp_path):
    """`manage.py spectacular --validate --fail-on-warn`: any warning fails the build."""
    target = tmp_path / "schema.yaml"

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))

    schema = yaml.safe_load(target.read_text())
    assert schema["openapi"].startswith("3.")


def test_the_main_calls_carry_examples():
    schema = SchemaGenerator().get_schema(request=None, public=True)

    def request_examples(path: str, method: str) -> list[str]:
        content = schema["paths"][path][method]["requestBody"]["content"]
        return sorted(next(iter(content.values())).get("examples", {}))

    assert request_examples("/api/v1/contacts/", "post") == ["AContact"]
    assert request_examples("/api/v1/contacts/bulk-upsert/", "post") == [
        "TwoContacts,OneWithAnOpt-in"
    ]
    assert request_examples("/api/v1/contacts/{contact_pk}/consents/", "post") == [
        "AnOpt-inToMarketing",
        "AnOpt-outOfEverything",
    ]
    assert request_examples("/api/v1/campaigns/", "post") == ["ADraft"]
    assert request_examples("/api/v1/campaigns/{id}/dry-run/", "post") == ["ThreeSamples"]
    assert request_examples("/api/v1/messages/", "post") == ["AnOrderUpdateToAContactByItsCRMId"]
    assert request_examples("/api/v1/templates/{id}/preview/", "post") == [
        "GivenValues,TheRestFromTheTemplate'sExamples"
    ]
    start = schema["paths"]["/api/v1/campaigns/{id}/start/"]["post"]["responses"]
    assert "Running" in start["200"]["content"]["application/json"]["examples"]
    messages = schema["paths"]["/api/v1/messages/"]["post"]
    assert [p["name"] for p in messages["parameters"]] == ["Idempotency-Key"]
    assert "409" in messages["responses"]
