"""REST API routes of the campaigns app, mounted under /api/v1/."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter

from .conversions import ConversionViewSet
from .data_sources import DataSourceViewSet
from .views import CampaignViewSet, MessageViewSet

router = SimpleRouter()
router.register("data-sources", DataSourceViewSet, basename="data-source")
router.register("campaigns", CampaignViewSet, basename="campaign")
router.register("messages", MessageViewSet, basename="message")
router.register("conversions", ConversionViewSet, basename="conversion")

urlpatterns = router.urls
