"""Fail fast, in one readable line, when the environment is misconfigured.

Every entry point (manage.py, WSGI, the Celery app) loads the settings through here so that a
missing or malformed variable stops the process at start-up instead of surfacing as a traceback
deep inside the first request.
"""

from __future__ import annotations

import os
import sys

from django.core.exceptions import ImproperlyConfigured


def load_settings_or_exit() -> None:
    from django.conf import settings

    try:
        settings.INSTALLED_APPS  # noqa: B018 - forces the settings module to load now
    except (ImproperlyConfigured, ValueError) as error:
        # ValueError: a value a library refused while the settings were being read.
        _exit(str(error))
    except ModuleNotFoundError as error:
        module = os.environ.get("DJANGO_SETTINGS_MODULE", "")
        if not error.name or not (module + ".").startswith(error.name + "."):
            raise  # a missing dependency, not a misnamed settings module
        _exit(f"DJANGO_SETTINGS_MODULE={module!r} is not a settings module that exists")


def _exit(message: str) -> None:
    sys.stderr.write(f"tidings: configuration error: {message}\n")
    raise SystemExit(2) from None
