"""Date-time filters of every list: any ISO 8601 offset works, and an impossible one is a 400."""

from __future__ import annotations

import datetime as dt

import pytest
from rest_framework.test import APIClient

from tests.config.world import build_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def compliance() -> APIClient:
    world = build_world()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {world.tokens['Compliance']}")
    return client


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/messages/?created_at__gte=",
        "/api/v1/contact-imports/?created_after=",
        "/api/v1/contacts/{contact}/consents/?captured_before=",
    ],
)
def test_an_offset_postgresql_does_not_know_is_read_in_utc(compliance, path):
    """-22:37 is a valid ISO 8601 offset that PostgreSQL refuses (it stops at ±15:59)."""
    contact = compliance.get("/api/v1/contacts/").json()["results"][0]["id"]

    response = compliance.get(path.format(contact=contact) + "2026-03-01T10:00:00-22:37")

    assert response.status_code == 200, response.content


def test_a_date_time_that_leaves_the_calendar_in_utc_is_a_400_naming_the_filter(compliance):
    response = compliance.get("/api/v1/messages/?created_at__lte=9999-12-31T23:00:00-23:00")

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "code": "overflow",
            "detail": "Enter a date and time between the years 1 and 9999.",
            "attr": "created_at__lte",
        }
    ]


def test_the_offset_is_applied_not_dropped(compliance):
    created = compliance.get("/api/v1/messages/").json()["results"][0]["created_at"]
    # One minute after creation in UTC, written as the same instant 10 hours west.
    instant = dt.datetime.fromisoformat(created.replace("Z", "+00:00")) + dt.timedelta(minutes=1)
    west = instant.astimezone(dt.timezone(dt.timedelta(hours=-10))).isoformat()

    before = compliance.get("/api/v1/messages/", {"created_at__lte": west})
    after = compliance.get("/api/v1/messages/", {"created_at__gte": west})

    assert (before.json()["count"], after.json()["count"]) == (1, 0)
