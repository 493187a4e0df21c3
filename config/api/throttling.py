"""Request rate limits of the API: one budget per API token, one per address for anonymous calls.

The rates are read from the settings on every request (DRF's own classes read them once, at
import), so `TIDINGS_API_THROTTLE_RATE` and `TIDINGS_API_ANON_THROTTLE_RATE` apply as configured
and tests can change them. The history lives in the default cache: Redis in production, so all
web processes share one budget per token.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from rest_framework.authtoken.models import Token
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle


class _SettingsRateThrottle(SimpleRateThrottle):
    setting_name = ""

    def get_rate(self) -> str | None:
        return getattr(settings, self.setting_name)


class TokenRateThrottle(_SettingsRateThrottle):
    """Per API token; a session login (admin users trying the API) counts per user."""

    scope = "api"
    setting_name = "TIDINGS_API_THROTTLE_RATE"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if not (request.user and request.user.is_authenticated):
            return None
        if isinstance(request.auth, Token):
            # The key is the credential itself: keep it out of the cache.
            ident = "token-" + hashlib.sha256(request.auth.key.encode()).hexdigest()[:32]
        else:
            ident = f"user-{request.user.pk}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class AnonymousRateThrottle(_SettingsRateThrottle):
    """Per client address, for requests without credentials (they get 401s, and the schema)."""

    scope = "api-anonymous"
    setting_name = "TIDINGS_API_ANON_THROTTLE_RATE"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        if request.user and request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
