"""Production: every secret and host comes from the environment, with no default.

The provider defaults to Meta's Cloud API here. The sandbox may still be chosen explicitly (a
staging site without a Meta account), but never with the public sandbox-only webhook secrets:
anyone could sign webhooks with them.
"""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

os.environ.setdefault("WHATSAPP_PROVIDER", "cloud")

from .base import *  # noqa: F403
from .base import (
    ALLOWED_HOSTS,
    SANDBOX_ONLY_SECRETS,
    SECRET_KEY,
    SUBSCRIPTION_SIGNING_KEY_DEVELOPMENT,
    TIDINGS_SUBSCRIPTION_SIGNING_KEY,
    WHATSAPP_APP_SECRET,
    WHATSAPP_VERIFY_TOKEN,
    env,
)

# Values that are in this repository, hence known to everyone.
_PUBLIC_SECRET_KEYS = {"local-development-only-not-secret", "test-only-not-secret"}
if SECRET_KEY in _PUBLIC_SECRET_KEYS:
    raise ImproperlyConfigured("SECRET_KEY is a public development value; set a secret one")
if not [host for host in ALLOWED_HOSTS if host.strip()]:
    raise ImproperlyConfigured("ALLOWED_HOSTS is empty; list the host names Tidings serves")
for _name, _value in (
    ("WHATSAPP_APP_SECRET", WHATSAPP_APP_SECRET),
    ("WHATSAPP_VERIFY_TOKEN", WHATSAPP_VERIFY_TOKEN),
):
    # With the cloud provider base.py already refused these; this covers an explicit sandbox.
    if not _value.strip() or _value == SANDBOX_ONLY_SECRETS[_name]:
        raise ImproperlyConfigured(
            f"Set the {_name} environment variable (production refuses the public sandbox-only "
            "value: anyone could sign webhooks with it)"
        )

if not os.environ.get("TIDINGS_SUBSCRIPTION_SIGNING_KEY", "").strip() or (
    TIDINGS_SUBSCRIPTION_SIGNING_KEY == SUBSCRIPTION_SIGNING_KEY_DEVELOPMENT
):
    raise ImproperlyConfigured(
        "Set the TIDINGS_SUBSCRIPTION_SIGNING_KEY environment variable (a long random value: "
        "every event subscription's signing secret is derived from it)"
    )

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
