"""Webhook routes, mounted under /webhooks/. `/webhooks/whatsapp/` is Meta's callback URL."""

from __future__ import annotations

from django.urls import path

from . import crm, views

app_name = "webhooks"

urlpatterns = [
    path("whatsapp/", views.WhatsAppWebhookView.as_view(), name="whatsapp"),
    path("crm/invalidate/", crm.CRMInvalidationView.as_view(), name="crm-invalidate"),
]
