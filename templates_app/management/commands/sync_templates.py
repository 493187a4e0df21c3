"""`manage.py sync_templates [--waba-id ID ...]`: mirror templates from Meta now."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from templates_app.models import WhatsAppAccount
from templates_app.services import template_sync


class Command(BaseCommand):
    help = "Pull every template of every WhatsApp account (or the given ones) from Meta."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--waba-id",
            action="append",
            dest="waba_ids",
            default=[],
            help="Sync only this WhatsApp Business Account id (repeatable).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        accounts = WhatsAppAccount.objects.order_by("pk")
        if options["waba_ids"]:
            accounts = accounts.filter(waba_id__in=options["waba_ids"])
            missing = set(options["waba_ids"]) - set(accounts.values_list("waba_id", flat=True))
            if missing:
                raise CommandError(f"Unknown WABA id(s): {', '.join(sorted(missing))}")
        failed = 0
        for result in template_sync(accounts=list(accounts)):
            if result.error:
                failed += 1
                self.stderr.write(result.summary())
            else:
                self.stdout.write(result.summary())
        if failed:
            raise CommandError(f"{failed} account(s) could not be synced.")
