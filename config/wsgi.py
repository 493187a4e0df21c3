"""WSGI entry point (`config.wsgi:application`, served by granian: see config/web_server.py)."""

from __future__ import annotations

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

from config.startup import load_settings_or_exit

load_settings_or_exit()
django_application = get_wsgi_application()

from webhooks.wsgi import wrap  # noqa: E402 - needs the apps loaded by get_wsgi_application

application = wrap(django_application)

# Everything loaded so far lives as long as the process: keep it out of the garbage collector's
# full collections, which would otherwise walk all of it and stall requests for milliseconds.
gc.freeze()
