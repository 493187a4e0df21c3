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


def clean_environment(settings_module: str | None, **environment: str) -> dict[str, str]:
    """This process's environment without anything Tidings reads, plus `environment`."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in CONTRACT_VARIABLES
        and key != "DJANGO_SETTINGS_MODULE"
        and not key.startswith(("WHATSAPP_", "TIDINGS_"))
    }
    if settings_module is not None:
        env["DJANGO_SETTINGS_MODULE"] = settings_module
    env.update(environment)
    return env


def run_command(
    command: list[str], settings_module: str | None, **environment: str
) -> subprocess.CompletedProcess:
    return subprocess.run(
        command,
        cwd=ROOT,
        env=clean_environment(settings_module, **environment),
        capture_output=True,
        text=True,
        timeout=60,
    )


def run_python(code: str, settings_module: str, **environment: str) -> subprocess.CompletedProcess:
    return run_command([sys.executable, "-c", code], settings_module, **environment)


def run_manage(*args: str, settings_module: str, **environment: str) -> subprocess.CompletedProcess:
    return run_command([sys.executable, "manage.py", *args], settings_module, **environment)


def assert_stopped_with(result: subprocess.CompletedProcess, line: str) -> None:
    """Start-up stopped with exit status 2 and exactly this one line on stderr."""
    assert (result.returncode, result.stderr) == (2, f"tidings: configuration error: {line}\n")


# A production environment that starts; tests take one thing away or change it.
PRODUCTION = {
    "SECRET_KEY": "x" * 50,
    "ALLOWED_HOSTS": "tidings.example.com",
    "DATABASE_URL": "postgres://tidings:pw@db.internal:5432/tidings",
    "WHATSAPP_ACCESS_TOKEN": "EAAG-real-token",
    "WHATSAPP_APP_SECRET": "real-app-secret",
    "WHATSAPP_VERIFY_TOKEN": "real-verify-token",
    "TIDINGS_SUBSCRIPTION_SIGNING_KEY": "real-subscription-signing-key",
}
SANDBOX_ONLY = {
    "WHATSAPP_ACCESS_TOKEN": "sandbox-only-not-a-secret-token",
    "WHATSAPP_APP_SECRET": "sandbox-only-not-a-secret-app-secret",
    "WHATSAPP_VERIFY_TOKEN": "sandbox-only-not-a-secret-verify-token",
}
PRINT_WHATSAPP = """
from django.conf import settings
print(settings.WHATSAPP_PROVIDER, settings.WHATSAPP_ACCESS_TOKEN_FILE or "-")
"""


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
        TIDINGS_SUBSCRIPTION_SIGNING_KEY="subscription-signing-key",
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


# --- Production never runs on public secrets ----------------------------------------------


def test_production_defaults_to_the_cloud_provider():
    result = run_python(PRINT_WHATSAPP, "config.settings.production", **PRODUCTION)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["cloud", "-"]


@pytest.mark.parametrize(
    "missing", ["WHATSAPP_ACCESS_TOKEN", "WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN"]
)
def test_production_without_a_whatsapp_secret_stops_startup_naming_it(missing):
    environment = {key: value for key, value in PRODUCTION.items() if key != missing}

    result = run_manage("check", settings_module="config.settings.production", **environment)

    either = " (or WHATSAPP_ACCESS_TOKEN_FILE)" if missing == "WHATSAPP_ACCESS_TOKEN" else ""
    assert_stopped_with(result, f"Set the {missing} environment variable{either}")


@pytest.mark.parametrize("name", sorted(SANDBOX_ONLY))
def test_cloud_provider_refuses_the_public_sandbox_values(name):
    result = run_manage(
        "check",
        settings_module="config.settings.production",
        **{**PRODUCTION, name: SANDBOX_ONLY[name]},
    )

    assert_stopped_with(
        result, f"{name} is the public sandbox-only value; set a real secret from Meta"
    )


@pytest.mark.parametrize("name", ["WHATSAPP_ACCESS_TOKEN", "WHATSAPP_APP_SECRET"])
def test_cloud_provider_refuses_an_empty_secret(name):
    result = run_manage(
        "check", settings_module="config.settings.local", WHATSAPP_PROVIDER="cloud",
        **{**PRODUCTION, name: "  "},
    )  # fmt: skip

    assert result.returncode == 2
    assert result.stderr.startswith(f"tidings: configuration error: Set the {name} ")


@pytest.mark.parametrize("name", ["WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN"])
@pytest.mark.parametrize("value", ["unset", "sandbox-only value"])
def test_production_sandbox_refuses_public_webhook_secrets(name, value):
    # given: someone explicitly chose the sandbox in production (no Meta token needed)
    environment = {**PRODUCTION, "WHATSAPP_PROVIDER": "sandbox"}
    del environment["WHATSAPP_ACCESS_TOKEN"]
    if value == "unset":
        del environment[name]
    else:
        environment[name] = SANDBOX_ONLY[name]

    # when
    result = run_manage("check", settings_module="config.settings.production", **environment)

    # then
    assert_stopped_with(
        result,
        f"Set the {name} environment variable (production refuses the public sandbox-only "
        "value: anyone could sign webhooks with it)",
    )


def test_production_sandbox_with_real_webhook_secrets_starts():
    environment = {**PRODUCTION, "WHATSAPP_PROVIDER": "sandbox"}
    del environment["WHATSAPP_ACCESS_TOKEN"]

    result = run_python(PRINT_WHATSAPP, "config.settings.production", **environment)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["sandbox", "-"]


@pytest.mark.parametrize(
    ("name", "value", "line"),
    [
        ("SECRET_KEY", "", "SECRET_KEY is set but empty"),
        (
            "SECRET_KEY",
            "local-development-only-not-secret",
            "SECRET_KEY is a public development value; set a secret one",
        ),
        ("ALLOWED_HOSTS", "", "ALLOWED_HOSTS is empty; list the host names Tidings serves"),
        ("ALLOWED_HOSTS", " , ", "ALLOWED_HOSTS is empty; list the host names Tidings serves"),
    ],
)
def test_production_refuses_an_empty_or_public_core_setting(name, value, line):
    result = run_manage(
        "check", settings_module="config.settings.production", **{**PRODUCTION, name: value}
    )

    assert_stopped_with(result, line)


def test_wsgi_entry_point_defaults_to_production_settings():
    # given: no DJANGO_SETTINGS_MODULE, as when a WSGI server imports `config.wsgi` bare
    code = "import config.wsgi\nfrom django.conf import settings\nprint(settings.SETTINGS_MODULE)"

    # when
    unconfigured = run_command([sys.executable, "-c", code], None)
    configured = run_command([sys.executable, "-c", code], None, **PRODUCTION)

    # then
    assert_stopped_with(unconfigured, "Set the SECRET_KEY environment variable")
    assert configured.returncode == 0, configured.stderr
    assert configured.stdout.strip() == "config.settings.production"


# --- The access token file ----------------------------------------------------------------


def test_access_token_file_satisfies_the_token_requirement(tmp_path):
    # given
    token_file = tmp_path / "token"
    token_file.write_text("EAAG-token-from-a-file\n")
    environment = {
        key: value for key, value in PRODUCTION.items() if key != "WHATSAPP_ACCESS_TOKEN"
    }

    # when
    result = run_python(
        PRINT_WHATSAPP,
        "config.settings.production",
        WHATSAPP_ACCESS_TOKEN_FILE=str(token_file),
        **environment,
    )

    # then
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["cloud", str(token_file)]


@pytest.mark.parametrize(
    ("content", "line"),
    [
        (None, "WHATSAPP_ACCESS_TOKEN_FILE cannot be read: No such file or directory"),
        ("\n", "WHATSAPP_ACCESS_TOKEN_FILE names an empty file"),
        (
            "sandbox-only-not-a-secret-token",
            "WHATSAPP_ACCESS_TOKEN_FILE holds the public sandbox-only value; "
            "put a real token from Meta in it",
        ),
    ],
    ids=["missing", "empty", "public value"],
)
def test_unusable_access_token_file_stops_startup_naming_it(tmp_path, content, line):
    token_file = tmp_path / "token"
    if content is not None:
        token_file.write_text(content)

    result = run_manage(
        "check",
        settings_module="config.settings.production",
        WHATSAPP_ACCESS_TOKEN_FILE=str(token_file),
        **PRODUCTION,
    )

    assert_stopped_with(result, line)


# --- Strict parsing -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "line"),
    [
        (
            "WHATSAPP_HTTP_CONCURRENCY",
            "abc",
            "WHATSAPP_HTTP_CONCURRENCY must be a whole number, not 'abc'",
        ),
        ("WHATSAPP_HTTP_CONCURRENCY", "0", "WHATSAPP_HTTP_CONCURRENCY must be at least 1, not 0"),
        (
            "TIDINGS_DISPATCH_CHUNK_SIZE",
            "lots",
            "TIDINGS_DISPATCH_CHUNK_SIZE must be a whole number, not 'lots'",
        ),
        (
            "WHATSAPP_HTTP_READ_TIMEOUT",
            "fast",
            "WHATSAPP_HTTP_READ_TIMEOUT must be a number, not 'fast'",
        ),
        (
            "WHATSAPP_HTTP_CONNECT_TIMEOUT",
            "nan",
            "WHATSAPP_HTTP_CONNECT_TIMEOUT must be a finite number, not 'nan'",
        ),
        ("DEBUG", "maybe", "DEBUG must be true or false, not 'maybe'"),
        (
            "WHATSAPP_SANDBOX_FAILURE_RATE",
            "1.5",
            "WHATSAPP_SANDBOX_FAILURE_RATE must be between 0.0 and 1.0, not 1.5",
        ),
        (
            "WHATSAPP_SANDBOX_READ_RATE",
            "-0.1",
            "WHATSAPP_SANDBOX_READ_RATE must be between 0.0 and 1.0, not -0.1",
        ),
        (
            "WHATSAPP_API_BASE_URL",
            "ftp://graph.facebook.com",
            "WHATSAPP_API_BASE_URL must be a http:// or https:// URL with a host, "
            "not 'ftp://graph.facebook.com'",
        ),
        (
            "WHATSAPP_API_BASE_URL",
            "graph.facebook.com",
            "WHATSAPP_API_BASE_URL must be a http:// or https:// URL with a host, "
            "not 'graph.facebook.com'",
        ),
        (
            "WHATSAPP_SANDBOX_WEBHOOK_URL",
            "localhost:8000/webhooks/whatsapp/",
            "WHATSAPP_SANDBOX_WEBHOOK_URL must be a http:// or https:// URL with a host, "
            "not 'localhost:8000/webhooks/whatsapp/'",
        ),
        ("TIDINGS_PORT", "99999", "TIDINGS_PORT must be between 1 and 65535, not 99999"),
        (
            "TIDINGS_API_THROTTLE_RATE",
            "fast",
            "TIDINGS_API_THROTTLE_RATE must be a rate such as 600/minute (per second, minute, "
            "hour or day) or off, not 'fast'",
        ),
        (
            "TIDINGS_API_ANON_THROTTLE_RATE",
            "10/fortnight",
            "TIDINGS_API_ANON_THROTTLE_RATE must be a rate such as 600/minute (per second, "
            "minute, hour or day) or off, not '10/fortnight'",
        ),
        (
            "DATABASE_URL",
            "mysql://tidings:hunter2@db.internal/tidings",
            "DATABASE_URL must be a postgres://user:password@host:5432/name or "
            "sqlite:///path/to/file.sqlite3 URL (got scheme 'mysql')",
        ),
        (
            "DATABASE_URL",
            "postgres://tidings:hunter2@db.internal:5432/",
            "DATABASE_URL must name a database (the path after the host, or the SQLite file)",
        ),
        (
            "DATABASE_URL",
            "sqlite://",
            "DATABASE_URL must name a database (the path after the host, or the SQLite file)",
        ),
        (
            "DATABASE_URL",
            "postgres://tidings:hunter2@db.internal:port/tidings",
            "DATABASE_URL is malformed: Port could not be cast to integer value as 'port'",
        ),
    ],
)
def test_malformed_value_stops_startup_with_one_line_naming_it(name, value, line):
    result = run_manage("check", settings_module="config.settings.local", **{name: value})

    assert_stopped_with(result, line)
    assert "hunter2" not in result.stderr


@pytest.mark.parametrize(
    ("value", "expected"), [("300/Hour", "300/hour"), ("off", "None"), ("", "None")]
)
def test_api_rates_are_counts_per_period_or_off(value, expected):
    result = run_python(
        "from django.conf import settings; print(settings.TIDINGS_API_THROTTLE_RATE)",
        "config.settings.local",
        TIDINGS_API_THROTTLE_RATE=value,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


@pytest.mark.parametrize(("value", "expected"), [("off", "False"), ("YES", "True"), ("0", "False")])
def test_booleans_accept_the_usual_spellings(value, expected):
    result = run_python(
        "from django.conf import settings; print(settings.DEBUG)",
        "config.settings.local",
        DEBUG=value,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def test_sandbox_webhook_url_follows_the_port_make_run_serves_on():
    result = run_python(
        "from django.conf import settings; print(settings.WHATSAPP_SANDBOX_WEBHOOK_URL)",
        "config.settings.local",
        TIDINGS_PORT="8001",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "http://127.0.0.1:8001/webhooks/whatsapp/"


# --- Celery stops with the same line ----------------------------------------------------------


@pytest.mark.parametrize("command", [["worker", "--pool=solo"], ["beat"]], ids=["worker", "beat"])
@pytest.mark.parametrize(
    "settings_module", [None, "config.settings.production"], ids=["default", "production"]
)
def test_celery_without_the_access_token_stops_with_one_line(command, settings_module):
    environment = {
        key: value for key, value in PRODUCTION.items() if key != "WHATSAPP_ACCESS_TOKEN"
    }

    result = run_command(
        [sys.executable, "-m", "celery", "-A", "config", *command],
        settings_module,
        WHATSAPP_PROVIDER="cloud",
        **environment,
    )

    assert_stopped_with(
        result,
        "Set the WHATSAPP_ACCESS_TOKEN environment variable (or WHATSAPP_ACCESS_TOKEN_FILE)",
    )


def test_a_celery_worker_started_without_a_settings_module_runs_on_production_settings():
    # A worker is a deployment: without DJANGO_SETTINGS_MODULE it must not fall back to the
    # development settings (sandbox provider, public secrets); `make run` names them itself.
    result = run_command(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo"],
        None,
        ALLOWED_HOSTS="x",
    )

    assert result.returncode == 2
    assert "SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr
