"""Suite-wide fixtures: real PostgreSQL and Redis on loopback, started once per session.

Tests that use the database (pytest-django's `db`/`transactional_db`, or `django_db`) run against
PostgreSQL; tests marked `redis` (or using the `redis_server` fixture) get the cache, locks and
broker on a real Redis. When a server binary is missing, those tests are skipped with a message
naming the package to install — except in CI (CI=true), where a missing server fails the run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.servers import PostgresServer, RedisServer, ServerUnavailable

pytest_plugins = ["tests.support.meta_api"]

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _unavailable(error: ServerUnavailable) -> None:
    if IN_CI:
        pytest.fail(f"CI requires real servers: {error}", pytrace=False)
    pytest.skip(f"missing server: {error}")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer.start()
    except ServerUnavailable as error:
        _unavailable(error)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def django_db_modify_db_settings(postgres_server: PostgresServer) -> None:
    from django.conf import settings

    # Update in place: Django's connection handler already holds this very dict.
    settings.DATABASES["default"].update(
        {
            "HOST": postgres_server.host,
            "PORT": str(postgres_server.port),
            "USER": postgres_server.user,
            "PASSWORD": "",
        }
    )


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    try:
        server = RedisServer.start()
    except ServerUnavailable as error:
        _unavailable(error)
    yield server
    server.stop()


@pytest.fixture
def redis_cache(redis_server: RedisServer, settings) -> Iterator[RedisServer]:
    """Point Django's cache at the real Redis for one test, and leave it empty afterwards."""
    import redis
    from django.core.cache import caches

    settings.REDIS_URL = f"{redis_server.url}/0"
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": settings.REDIS_URL,
            "KEY_PREFIX": "tidings",
            "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
        }
    }
    yield redis_server
    caches["default"].close()
    redis.Redis.from_url(settings.REDIS_URL).flushdb()


@pytest.fixture(autouse=True)
def _real_redis_for_marked_tests(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("redis"):
        request.getfixturevalue("redis_cache")


@pytest.fixture(autouse=True)
def _sandbox_state_in_tmp(settings, tmp_path) -> None:
    settings.WHATSAPP_SANDBOX_STATE_DIR = str(tmp_path / "sandbox")
