"""The Celery application; configuration comes from Django settings (CELERY_* names)."""

from __future__ import annotations

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("tidings")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.user_preload_options.connect
def _fail_fast_on_bad_configuration(**kwargs: object) -> None:
    """Runs once the `celery` command line is parsed, before a worker or beat starts."""
    from config.startup import load_settings_or_exit

    load_settings_or_exit()
