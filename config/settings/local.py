"""Embedded single-machine defaults: SQLite, no Redis, a file-system broker, the sandbox provider.

`make run` uses this module; every value can still be overridden from the environment.
"""

from __future__ import annotations

import os

os.environ.setdefault("SECRET_KEY", "local-development-only-not-secret")
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")
# Event receivers on the developer's own machine (http://127.0.0.1:...) are fine here.
os.environ.setdefault("TIDINGS_SUBSCRIPTION_ALLOW_PRIVATE_URLS", "true")

from .base import *  # noqa: F403
from .base import STORAGES

# Static files come straight from the apps while developing; no collectstatic step needed.
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Serve static files from the apps without a collectstatic step.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
