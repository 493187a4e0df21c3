"""The Celery application; configuration comes from Django settings (CELERY_* names).

Importing this module (it is imported by the `config` package, hence by every entry point) does
not choose a settings module: the WSGI entry point defaults to production and manage.py to local,
and a default set here first would override theirs. Only when Celery itself first reads its
configuration does the `celery` command fall back to production settings, like the WSGI entry
point: a worker is a deployment, and one started without DJANGO_SETTINGS_MODULE must not quietly
run the sandbox with development secrets. `make run` names the local settings in Procfile.dev.
"""

from __future__ import annotations

import os

from celery import Celery
from celery.fixups.django import DjangoFixup

DEFAULT_SETTINGS = "config.settings.production"


def _django_fixup(app: Celery) -> DjangoFixup:
    # Celery installs its Django fixup only when DJANGO_SETTINGS_MODULE is already set when the
    # app is created; install it regardless, since the default is chosen later (see above).
    return DjangoFixup(app).install()


app = Celery("tidings", fixups=[f"{__name__}:_django_fixup"])
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_configure.connect
def _load_settings_before_celery_reads_them(**kwargs: object) -> None:
    """Runs just before Celery reads its configuration (in a worker or beat: while the command
    line is parsed), so a misconfigured variable stops it with one line, not a traceback."""
    from config.startup import load_settings_or_exit

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", DEFAULT_SETTINGS)
    load_settings_or_exit()
