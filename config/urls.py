"""Top-level URL configuration. The paths here are a contract; keep them."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from campaigns.views import tracked_link_redirect
from config import health
from operations import views as operations_views

api_v1 = [
    path("", include("contacts.api.urls")),
    path("", include("templates_app.api.urls")),
    path("", include("campaigns.api.urls")),
    path("", include("subscriptions.api.urls")),
]

urlpatterns = [
    # The admin's landing page is the operations dashboard (the admin's index, extended).
    path("admin/", operations_views.dashboard, name="admin-dashboard"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("webhooks/", include("webhooks.urls")),
    path("r/<str:token>", tracked_link_redirect, name="tracked-link"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", operations_views.metrics, name="metrics"),
]

# Unknown URLs under /api/ answer in the API's error format; elsewhere Django's usual pages.
handler404 = "config.api.errors.not_found"
handler500 = "config.api.errors.server_error"

admin.site.site_header = "Tidings"
admin.site.site_title = "Tidings"
admin.site.index_title = "WhatsApp messaging"
admin.site.index_template = "admin/operations/dashboard.html"
