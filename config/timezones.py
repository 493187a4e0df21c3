"""Date/times in the admin in the staff member's own timezone.

A few lines of JavaScript on every admin page (config/static/tidings/admin/timezone.js) put the
browser's IANA timezone in the `tidings_timezone` cookie; `StaffTimezoneMiddleware` activates it
for admin requests, so Django shows every date/time (lists, change pages, read-only fields) and
reads every date/time typed into a form in that timezone. Without the cookie, or with a name that
is not a known IANA zone, the admin uses settings.TIME_ZONE. The API is left alone: its output
stays in settings.TIME_ZONE whatever cookie a browser sends.
"""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone

COOKIE_NAME = "tidings_timezone"
MAX_NAME_LENGTH = 64


@functools.cache
def _known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def staff_timezone(name: str | None) -> zoneinfo.ZoneInfo | None:
    """The zone a cookie names, or None for anything that is not a known IANA name."""
    if not name or len(name) > MAX_NAME_LENGTH or name not in _known_zones():
        return None
    return zoneinfo.ZoneInfo(name)


class StaffTimezoneMiddleware:
    """Activate the staff member's timezone (from the cookie) for the admin's requests."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    @functools.cached_property
    def admin_prefix(self) -> str:
        return reverse("admin:index")

    def __call__(self, request: HttpRequest) -> HttpResponse:
        zone = None
        if request.path.startswith(self.admin_prefix):
            zone = staff_timezone(request.COOKIES.get(COOKIE_NAME))
        if zone is None:
            timezone.deactivate()
            return self.get_response(request)
        timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
