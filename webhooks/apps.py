from __future__ import annotations

from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        from contacts.erasure import register_erasure_step

        from .services.erasure import webhook_records_erase_for_contact

        register_erasure_step(webhook_records_erase_for_contact)
