"""Create the demo data `make run` shows a newcomer. Safe to run any number of times.

A sender number, the sandbox's approved templates (synced as from Meta, in several languages),
about fifty contacts with consent records (and a few without, or opted out, so the dry run has
exclusions to explain), a segment and a draft campaign ready for a dry run and a start.
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
from pathlib import Path

import phonenumbers
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.services import campaign_create
from contacts.models import ConsentScope, ConsentSource, Contact, Segment
from contacts.services import (
    consent_record_opt_in,
    consent_record_opt_out,
    contact_create,
    segment_create,
)
from templates_app.models import MessageTemplate, SenderNumber, WhatsAppAccount

DEMO_ADMIN_USERNAME = "admin"
DEMO_WABA_ID = "100000000000001"  # the sandbox's WhatsApp Business Account
DEMO_PHONE_NUMBER_ID = "100000000000002"
DEMO_DISPLAY_NUMBER = "+1 555 000 1234"
DEMO_SEGMENT = "Demo customers"
DEMO_CAMPAIGN = "Order update (demo)"
DEMO_CONTACT_COUNT = 50

# (mobile number prefix, digits that follow it, language, timezone)
DEMO_MARKETS = [
    ("+447400", 6, "en_US", "Europe/London"),
    ("+55119", 8, "pt_BR", "America/Sao_Paulo"),
    ("+346", 8, "es_ES", "Europe/Madrid"),
]
FIRST_NAMES = [
    "Ana", "Bruno", "Carla", "Diego", "Elena", "Farah", "Gabriel", "Hana", "Igor", "Julia",
    "Kofi", "Lucia", "Mateo", "Nadia", "Omar", "Paula", "Quentin", "Rosa", "Samir", "Tamara",
]  # fmt: skip


def _valid_number(rng: random.Random, prefix: str, digits: int) -> str:
    """A number that passes the same validation real contacts do (allocated ranges only)."""
    while True:
        candidate = f"{prefix}{rng.randrange(10 ** (digits - 1), 10**digits)}"
        if phonenumbers.is_valid_number(phonenumbers.parse(candidate)):
            return candidate


class Command(BaseCommand):
    help = "Create the demo superuser and demo data (idempotent)."

    def handle(self, *args: object, **options: object) -> None:
        password = self._ensure_superuser()
        with transaction.atomic():
            account, _ = WhatsAppAccount.objects.get_or_create(
                waba_id=DEMO_WABA_ID, defaults={"name": "Tidings Demo"}
            )
            sender, _ = SenderNumber.objects.get_or_create(
                phone_number_id=DEMO_PHONE_NUMBER_ID,
                defaults={
                    "account": account,
                    "display_phone_number": DEMO_DISPLAY_NUMBER,
                    "verified_name": "Tidings Demo",
                    "throughput_per_second": 80,
                    "messaging_limit_tier": SenderNumber.MessagingLimitTier.TIER_UNLIMITED,
                },
            )
        templates = self._sync_templates(account)
        contacts = self._ensure_contacts()
        campaign = self._ensure_campaign(sender)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo ready: {templates} templates, {contacts} contacts, campaign "
                f"'{campaign.name}' ({campaign.get_status_display().lower()}). "
                f"Admin login: {DEMO_ADMIN_USERNAME} / {password}"
            )
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

    def _sync_templates(self, account: WhatsAppAccount) -> int:
        """Approved templates, as Meta (here the sandbox) lists them."""
        if settings.WHATSAPP_PROVIDER == "sandbox":
            from templates_app.services import template_sync_account

            template_sync_account(account=account)
        return MessageTemplate.objects.filter(account=account).count()

    def _ensure_contacts(self) -> int:
        existing = Contact.objects.filter(external_id__startswith="DEMO-").count()
        if existing >= DEMO_CONTACT_COUNT:
            return existing
        rng = random.Random(20261123)
        captured = timezone.now() - dt.timedelta(days=30)
        for index in range(DEMO_CONTACT_COUNT):
            external_id = f"DEMO-{index + 1:03d}"
            if Contact.objects.filter(external_id=external_id).exists():
                continue
            prefix, digits, language, tz = DEMO_MARKETS[index % len(DEMO_MARKETS)]
            phone = _valid_number(rng, prefix, digits)
            with transaction.atomic():
                contact = contact_create(
                    phone=phone,
                    name=f"{FIRST_NAMES[index % len(FIRST_NAMES)]} {chr(65 + index % 26)}.",
                    external_id=external_id,
                    language=language,
                    timezone=tz,
                    attributes={
                        "last_order": f"A-{1000 + index}",
                        "points": rng.randrange(100, 5000),
                        "tier": rng.choice(["bronze", "silver", "gold"]),
                    },
                    tags=["demo", rng.choice(["newsletter", "vip", "app"])],
                )
                if index % 10 == 7:
                    continue  # never opted in: the dry run explains why they are left out
                consent_record_opt_in(
                    contact=contact,
                    scope=ConsentScope.ALL,
                    source=ConsentSource.WEB_FORM,
                    evidence=f"demo signup form, submission {index + 1}",
                    captured_at=captured + dt.timedelta(hours=index),
                    policy_version="2026-01",
                )
                if index % 10 == 9:
                    consent_record_opt_out(
                        contact=contact,
                        scope=ConsentScope.MARKETING,
                        source=ConsentSource.INBOUND_KEYWORD,
                        evidence="demo: replied STOP",
                        captured_at=captured + dt.timedelta(days=10),
                    )
        return Contact.objects.filter(external_id__startswith="DEMO-").count()

    def _ensure_campaign(self, sender: SenderNumber) -> Campaign:
        existing = Campaign.objects.filter(name=DEMO_CAMPAIGN).first()
        if existing is not None:
            return existing
        segment = Segment.objects.filter(name=DEMO_SEGMENT).first() or segment_create(
            name=DEMO_SEGMENT, tags_all=["demo"]
        )
        template = MessageTemplate.objects.get(
            account=sender.account, name="order_update", language="en_US"
        )
        return campaign_create(
            name=DEMO_CAMPAIGN,
            sender=sender,
            template=template,
            default_language="en_US",
            segment=segment,
            variable_mapping={
                "body.1": {"source": "contact", "path": "name", "fallback": "there"},
                "body.2": {
                    "source": "attribute",
                    "path": "last_order",
                    "fallback": "your order",
                },
            },
            purpose="Order status updates",
            lawful_basis="contract",
            created_by=get_user_model().objects.get(username=DEMO_ADMIN_USERNAME),
        )
