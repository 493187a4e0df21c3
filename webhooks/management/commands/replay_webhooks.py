"""`manage.py replay_webhooks`: process stored webhook deliveries again, e.g. after a fix.

    manage.py replay_webhooks --id 42 --id 43
    manage.py replay_webhooks --status failed --status quarantined
    manage.py replay_webhooks --since 2026-05-01 --until 2026-05-02T12:00
    manage.py replay_webhooks --unmatched          # statuses kept as unmatched

Processing is idempotent, so replaying a delivery that was already applied changes nothing. By
default the deliveries are processed here, one after the other, with a line per delivery;
`--enqueue` hands them to the Celery workers instead.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from webhooks import services
from webhooks.models import DeliveryStatus


def _moment(value: str) -> dt.datetime:
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise CommandError(f"{value!r} is not a date (2026-05-01) or a date and time.")
        moment = dt.datetime.combine(day, dt.time.min)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


class Command(BaseCommand):
    help = "Process stored webhook deliveries again (by id, status or date range)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--id", action="append", dest="ids", type=int, default=[])
        parser.add_argument(
            "--status",
            action="append",
            dest="statuses",
            default=[],
            choices=[choice for choice in DeliveryStatus.values if choice != "processing"],
        )
        parser.add_argument("--since", help="Received at or after (date or ISO date-time).")
        parser.add_argument("--until", help="Received before (date or ISO date-time).")
        parser.add_argument(
            "--unmatched",
            action="store_true",
            help="Also try every status kept as unmatched (or only that, without other filters).",
        )
        parser.add_argument(
            "--enqueue", action="store_true", help="Queue for the Celery workers instead."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        filters = {
            "ids": options["ids"],
            "statuses_in": options["statuses"],
            "received_from": _moment(options["since"]) if options["since"] else None,
            "received_until": _moment(options["until"]) if options["until"] else None,
        }
        selected = any(filters.values())
        if not selected and not options["unmatched"]:
            raise CommandError(
                "Name what to replay: --id, --status, --since/--until or --unmatched."
            )
        if selected:
            self._replay(services.webhook_deliveries_select(**filters), options["enqueue"])
        if options["unmatched"]:
            outcome = services.unmatched_statuses_retry(include_given_up=True)
            self.stdout.write(
                f"Unmatched statuses: {outcome.applied} applied, "
                f"{len(outcome.remaining_ids)} still unmatched."
            )

    def _replay(self, delivery_ids: list[int], enqueue: bool) -> None:
        if enqueue:
            count = services.webhook_deliveries_replay(delivery_ids=delivery_ids)
            self.stdout.write(f"{count} deliveries queued for processing.")
            return
        counts: dict[str, int] = {}
        for delivery_id in delivery_ids:
            outcome = services.webhook_delivery_process(delivery_id=delivery_id, replay=True)
            if outcome is None:
                self.stdout.write(f"delivery {delivery_id}: being processed elsewhere, skipped")
                continue
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
            detail = ", ".join(f"{kind} {count}" for kind, count in sorted(outcome.counts.items()))
            self.stdout.write(f"delivery {delivery_id}: {outcome.status} ({detail or 'no events'})")
            for error in outcome.errors:
                self.stderr.write(f"  {error}")
        summary = ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))
        self.stdout.write(f"Replayed {len(delivery_ids)} deliveries: {summary or 'none'}.")
