from __future__ import annotations

from django.apps import AppConfig


class SubscriptionsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "subscriptions"
    verbose_name = "Event subscriptions"

    def ready(self) -> None:
        from contacts.erasure import register_erasure_step

        from .services import events_erase_for_contact

        register_erasure_step(events_erase_for_contact)
