"""Fail fast, in one readable line, when the environment is misconfigured.

Every entry point (manage.py, WSGI, the Celery app) loads the settings through here so that a
missing or malformed variable stops the process at start-up instead of surfacing as a traceback
deep inside the first request.
"""

from __future__ import annotations

import sys

from django.core.exceptions import ImproperlyConfigured


def load_settings_or_exit() -> None:
    from django.conf import settings

    try:
        settings.INSTALLED_APPS  # noqa: B018 - forces the settings module to load now
    except ImproperlyConfigured as error:
        sys.stderr.write(f"tidings: configuration error: {error}\n")
        raise SystemExit(2) from None
