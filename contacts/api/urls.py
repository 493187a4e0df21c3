"""REST API routes of the contacts app, mounted under /api/v1/."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter

from contacts.api.views import (
    ContactConsentViewSet,
    ContactImportViewSet,
    ContactViewSet,
    SegmentViewSet,
)

router = SimpleRouter()
router.register("contacts", ContactViewSet, basename="contact")
router.register(
    r"contacts/(?P<contact_pk>[0-9]+)/consents", ContactConsentViewSet, basename="contact-consent"
)
router.register("segments", SegmentViewSet, basename="segment")
router.register("contact-imports", ContactImportViewSet, basename="contact-import")

urlpatterns = router.urls
