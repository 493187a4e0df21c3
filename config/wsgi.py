"""WSGI entry point (gunicorn config.wsgi)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

from config.startup import load_settings_or_exit

load_settings_or_exit()
django_application = get_wsgi_application()

from webhooks.wsgi import wrap  # noqa: E402 - needs the apps loaded by get_wsgi_application

application = wrap(django_application)
