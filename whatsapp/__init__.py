"""Tidings' one integration layer for Meta's WhatsApp Business Cloud API.

A plain package (no models, no imports of project apps). Other apps use:

* `get_provider()` -> the configured `WhatsAppProvider` (setting WHATSAPP_PROVIDER);
* the types in `whatsapp.base` (`TemplateMessage`, `SendAccepted`, `ProviderError`...);
* `whatsapp.errors` for the error table, `whatsapp.signatures` for webhook signatures and
  `whatsapp.payloads` for Meta's JSON shapes.
"""

from __future__ import annotations

from whatsapp.base import (
    SERVICE_WINDOW,
    Backoff,
    ButtonParameter,
    CreatedTemplate,
    ErrorClass,
    MediaHeader,
    ParameterFormat,
    ProviderError,
    RemoteTemplate,
    SendAccepted,
    SendOutcome,
    StopScope,
    TemplateMessage,
    TextHeader,
    WhatsAppProvider,
    service_window_open,
)
from whatsapp.providers import build_provider, get_provider, reset_provider

__all__ = [
    "SERVICE_WINDOW",
    "Backoff",
    "ButtonParameter",
    "CreatedTemplate",
    "ErrorClass",
    "MediaHeader",
    "ParameterFormat",
    "ProviderError",
    "RemoteTemplate",
    "SendAccepted",
    "SendOutcome",
    "StopScope",
    "TemplateMessage",
    "TextHeader",
    "WhatsAppProvider",
    "build_provider",
    "get_provider",
    "reset_provider",
    "service_window_open",
]
