"""REST API routes of the templates app, mounted under /api/v1/."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter

from .views import MessageTemplateViewSet

router = SimpleRouter()
router.register("templates", MessageTemplateViewSet, basename="template")

urlpatterns = router.urls
