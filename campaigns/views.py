"""Public, unauthenticated views of the campaigns app."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.views.decorators.http import require_GET

from .links import tracked_link_click


@require_GET
def tracked_link_redirect(request: HttpRequest, token: str) -> HttpResponseRedirect:
    """Where a tracked URL button leads: count the click, then go to the real address."""
    target = tracked_link_click(token=token)
    if target is None:
        raise Http404("Unknown link")
    return HttpResponseRedirect(target)
