"""The operators' endpoints: `/metrics` for Prometheus and the admin's landing page."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .access import metrics_access_refusal
from .dashboard import dashboard_context
from .metrics import REGISTRY


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus' text format, for a caller with the token or from an allowed address."""
    refusal = metrics_access_refusal(request)
    if refusal is not None:
        return refusal
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)


def _dashboard(request: HttpRequest) -> HttpResponse:
    return admin.site.index(request, extra_context={"dashboard": dashboard_context(request.user)})


# The admin's own login and staff checks, in front of the index it extends.
dashboard = admin.site.admin_view(_dashboard)
