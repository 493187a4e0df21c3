"""Settings for the test suite.

The database and Redis are real servers the suite starts on loopback (see tests/conftest.py);
the placeholders below are rewritten in place once those servers are up.
"""

from __future__ import annotations

import os

os.environ.setdefault("SECRET_KEY", "test-only-not-secret")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ["DATABASE_URL"] = "postgres://postgres@127.0.0.1:1/tidings"
for _name in ("REDIS_URL", "CELERY_BROKER_URL", "WHATSAPP_PROVIDER", "WHATSAPP_ACCESS_TOKEN_FILE"):
    os.environ.pop(_name, None)

from .base import *  # noqa: E402,F403
from .base import STORAGES  # noqa: E402

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
CELERY_BROKER_URL = "memory://"
CELERY_BROKER_TRANSPORT_OPTIONS = {}
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
WHATSAPP_SANDBOX_STATUS_DELAY_SECONDS = 0.01
WHATSAPP_APP_SECRET = "test-app-secret"
WHATSAPP_VERIFY_TOKEN = "test-verify-token"
WHATSAPP_ACCESS_TOKEN = "test-access-token"
WHATSAPP_ACCESS_TOKEN_FILE = ""

# Serve static files from the apps without a collectstatic step.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
WHATSAPP_SANDBOX_WEBHOOK_URL = ""
# The receivers of the outbound event tests listen on 127.0.0.1.
TIDINGS_SUBSCRIPTION_ALLOW_PRIVATE_URLS = True
# No request budget by default: the suite makes thousands of API calls from one address; the
# throttling tests set their own rates.
TIDINGS_API_THROTTLE_RATE = None
TIDINGS_API_ANON_THROTTLE_RATE = None
