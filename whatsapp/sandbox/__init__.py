"""A local stand-in for Meta's Cloud API: validates sends, answers with wamids, and delivers
signed status and template webhooks to the app. See `provider.SandboxProvider`."""

from __future__ import annotations

from whatsapp.sandbox.catalogue import BUILTIN_TEMPLATES, SandboxTemplate
from whatsapp.sandbox.delivery import WebhookDeliverer, WebhookSink, WebhookTarget
from whatsapp.sandbox.provider import SandboxProvider, new_wamid

__all__ = [
    "BUILTIN_TEMPLATES",
    "SandboxProvider",
    "SandboxTemplate",
    "WebhookDeliverer",
    "WebhookSink",
    "WebhookTarget",
    "new_wamid",
]
