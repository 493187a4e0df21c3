"""`manage.py check_consent`: do the current-consent columns agree with the consent ledger?"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from contacts.models import Contact
from contacts.selectors import consent_states_from_ledger, iter_id_chunks
from contacts.services import contacts_refresh_current_consent


class Command(BaseCommand):
    help = (
        "Verify that every contact's current marketing and utility consent (the columns campaigns "
        "read) is what the consent ledger says. Exits non-zero on any disagreement."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--fix", action="store_true", help="Recompute disagreeing contacts from the ledger."
        )
        parser.add_argument("--chunk-size", type=int, default=1000)

    def handle(self, *args: Any, fix: bool, chunk_size: int, **options: Any) -> None:
        checked = 0
        disagreeing: list[int] = []
        for chunk in iter_id_chunks(Contact.objects.all(), size=chunk_size):
            ledger = consent_states_from_ledger(contact_ids=chunk)
            columns = Contact.objects.filter(pk__in=chunk).values_list(
                "pk", "marketing_consent_id", "utility_consent_id"
            )
            for contact_id, marketing, utility in columns:
                expected = ledger[contact_id]
                if (marketing, utility) != (expected["marketing"], expected["utility"]):
                    disagreeing.append(contact_id)
                    self.stderr.write(
                        f"contact #{contact_id}: columns say marketing={marketing} "
                        f"utility={utility}, the ledger says marketing={expected['marketing']} "
                        f"utility={expected['utility']}"
                    )
            checked += len(chunk)
        if disagreeing and fix:
            contacts_refresh_current_consent(contact_ids=disagreeing)
            self.stdout.write(f"Fixed {len(disagreeing)} of {checked} contacts from the ledger.")
            return
        if disagreeing:
            raise CommandError(
                f"{len(disagreeing)} of {checked} contacts disagree with the consent ledger; "
                "run with --fix to recompute them from the ledger."
            )
        self.stdout.write(f"All {checked} contacts agree with the consent ledger.")
