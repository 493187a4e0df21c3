"""Liveness and readiness probes, against the real database, cache and broker."""

from __future__ import annotations

import pytest
from django.core.cache import caches

from config.celery import app as celery_app


def test_healthz_answers_without_touching_dependencies(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.fixture
def broker_on_real_redis(redis_cache):
    original = celery_app.conf.broker_url
    celery_app.conf.broker_url = f"{redis_cache.url}/1"
    yield
    celery_app.conf.broker_url = original


@pytest.mark.django_db
def test_readyz_is_ok_when_database_cache_and_broker_answer(client, broker_on_real_redis):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "cache": "ok", "broker": "ok"},
    }


@pytest.mark.django_db
def test_readyz_names_the_cache_when_redis_is_unreachable(client, settings, broker_on_real_redis):
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["cache"]
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"] == "ok"
    caches["default"].close()


@pytest.mark.django_db
def test_readyz_names_the_broker_when_it_is_unreachable(client, redis_cache):
    # Publishing uses the write URL, which Celery may already have resolved from broker_url.
    names = ("broker_url", "broker_write_url")
    originals = {name: celery_app.conf[name] for name in names}
    celery_app.conf.update(dict.fromkeys(names, "redis://127.0.0.1:1/0"))
    try:
        response = client.get("/readyz")
    finally:
        celery_app.conf.update(originals)

    assert response.status_code == 503
    assert response.json()["failing"] == ["broker"]


def test_readyz_names_the_database_when_it_is_unreachable(client, settings, monkeypatch):
    from django.db import connection

    def refuse(*args, **kwargs):
        raise ConnectionRefusedError("connection refused")

    monkeypatch.setattr(connection, "cursor", refuse)

    response = client.get("/readyz")

    assert response.status_code == 503
    assert "database" in response.json()["failing"]
