from __future__ import annotations

from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "campaigns"
    verbose_name = "Campaigns"

    def ready(self) -> None:
        from contacts.erasure import register_erasure_step

        from .erasure import messages_erase_contents_for_contact

        register_erasure_step(messages_erase_contents_for_contact)
