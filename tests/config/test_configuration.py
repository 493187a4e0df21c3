"""Start-up configuration: embedded defaults, and one clear line for a misconfigured variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONTRACT_VARIABLES = (
    "DATABASE_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "WHATSAPP_PROVIDER",
    "WHATSAPP_API_BASE_URL",
    "WHATSAPP_API_VERSION",
    "WHATSAPP_ACCESS_TOKEN",
    "WHATSAPP_APP_SECRET",
    "WHATSAPP_VERIFY_TOKEN",
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
)


def run_python(code: str, settings_module: str, **environment: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in CONTRACT_VARIABLES}
    env.update(environment, DJANGO_SETTINGS_MODULE=settings_module)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def run_manage(*args: str, settings_module: str, **environment: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in CONTRACT_VARIABLES}
    env.update(environment, DJANGO_SETTINGS_MODULE=settings_module)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


PRINT_EMBEDDED = """
import django
from django.conf import settings
print(settings.DATABASES["default"]["ENGINE"])
print(settings.DATABASES["default"]["NAME"])
print(settings.CACHES["default"]["BACKEND"])
print(settings.CELERY_BROKER_URL)
print(settings.WHATSAPP_PROVIDER)
"""


def test_embedded_defaults_need_no_server():
    result = run_python(PRINT_EMBEDDED, "config.settings.local")

    assert result.returncode == 0, result.stderr
    engine, name, cache, broker, provider = result.stdout.split()
    assert engine == "django.db.backends.sqlite3"
    assert name == str(ROOT / "var" / "tidings.sqlite3")
    assert cache == "django.core.cache.backends.locmem.LocMemCache"
    assert broker == "filesystem://"
    assert provider == "sandbox"


def test_production_variables_select_postgres_redis_and_the_cloud_api():
    result = run_python(
        PRINT_EMBEDDED,
        "config.settings.production",
        SECRET_KEY="x" * 50,
        ALLOWED_HOSTS="tidings.example.com",
        DATABASE_URL="postgres://tidings:pw@db.internal:5432/tidings",
        REDIS_URL="redis://cache.internal:6379/0",
        CELERY_BROKER_URL="redis://broker.internal:6379/0",
        WHATSAPP_PROVIDER="cloud",
        WHATSAPP_ACCESS_TOKEN="token",
        WHATSAPP_APP_SECRET="secret",
        WHATSAPP_VERIFY_TOKEN="verify",
    )

    assert result.returncode == 0, result.stderr
    engine, name, cache, broker, provider = result.stdout.split()
    assert engine == "django.db.backends.postgresql"
    assert name == "tidings"
    assert cache == "django_redis.cache.RedisCache"
    assert broker == "redis://broker.internal:6379/0"
    assert provider == "cloud"


@pytest.mark.parametrize(
    "missing", ["WHATSAPP_ACCESS_TOKEN", "WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN"]
)
def test_cloud_provider_without_a_secret_stops_startup_naming_it(missing):
    secrets = {
        "WHATSAPP_ACCESS_TOKEN": "token",
        "WHATSAPP_APP_SECRET": "secret",
        "WHATSAPP_VERIFY_TOKEN": "verify",
    }
    del secrets[missing]

    result = run_manage(
        "check", settings_module="config.settings.local", WHATSAPP_PROVIDER="cloud", **secrets
    )

    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert missing in result.stderr
    assert "Traceback" not in result.stderr


def test_production_without_secret_key_stops_startup_naming_it():
    result = run_manage("check", settings_module="config.settings.production", ALLOWED_HOSTS="x")

    assert result.returncode == 2
    assert "SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_provider_stops_startup_naming_the_variable():
    result = run_manage("check", settings_module="config.settings.local", WHATSAPP_PROVIDER="meta")

    assert result.returncode == 2
    assert "WHATSAPP_PROVIDER" in result.stderr
    assert "Traceback" not in result.stderr


def test_malformed_database_url_stops_startup_naming_it():
    result = run_manage(
        "check", settings_module="config.settings.local", DATABASE_URL="not-a-database-url"
    )

    assert result.returncode == 2
    assert "DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr
