"""Create the demo data `make run` shows a newcomer. Safe to run any number of times."""

from __future__ import annotations

import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from templates_app.models import SenderNumber, WhatsAppAccount

DEMO_ADMIN_USERNAME = "admin"
DEMO_WABA_ID = "102290129340398"
DEMO_PHONE_NUMBER_ID = "106540352242922"
DEMO_DISPLAY_NUMBER = "+44 7700 900100"


class Command(BaseCommand):
    help = "Create the demo superuser and demo data (idempotent)."

    def handle(self, *args: object, **options: object) -> None:
        password = self._ensure_superuser()
        with transaction.atomic():
            account, _ = WhatsAppAccount.objects.get_or_create(
                waba_id=DEMO_WABA_ID, defaults={"name": "Tidings Demo"}
            )
            SenderNumber.objects.get_or_create(
                phone_number_id=DEMO_PHONE_NUMBER_ID,
                defaults={
                    "account": account,
                    "display_phone_number": DEMO_DISPLAY_NUMBER,
                    "verified_name": "Tidings Demo",
                    "throughput_per_second": 80,
                },
            )
        self.stdout.write(
            self.style.SUCCESS(f"Demo ready. Admin login: {DEMO_ADMIN_USERNAME} / {password}")
        )

    def _ensure_superuser(self) -> str:
        """The demo password is generated once and kept under var/ so re-runs print the same one."""
        password_file = Path(settings.BASE_DIR) / "var" / "demo-admin-password"
        if password_file.exists():
            password = password_file.read_text().strip()
        else:
            password = secrets.token_urlsafe(12)
            password_file.parent.mkdir(parents=True, exist_ok=True)
            password_file.write_text(password + "\n")
            password_file.chmod(0o600)
        user_model = get_user_model()
        user, created = user_model.objects.get_or_create(
            username=DEMO_ADMIN_USERNAME,
            defaults={"is_staff": True, "is_superuser": True, "email": "admin@example.com"},
        )
        if created or not user.check_password(password):
            user.set_password(password)
            user.save(update_fields=["password"])
        return password
