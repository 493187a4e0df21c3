"""Sender numbers as Meta reports them changing: quality rating, messaging-limit tier, throughput.

Meta announces these in account-level webhooks (`phone_number_quality_update`, `account_update`,
`business_capability_update`); the webhooks app reads them and calls `sender_numbers_record_update`
so that dispatch paces and budgets with what Meta currently allows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .models import SenderNumber

# Meta's automatic upgrade raises a number from 80 to 1,000 messages per second.
HIGH_THROUGHPUT_PER_SECOND = 1000


@dataclass(frozen=True)
class SenderNumberUpdate:
    """Which numbers a report was about, and what changed (human-readable, for the audit)."""

    number_ids: list[int] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)


def _digits(value: str) -> str:
    return re.sub(r"\D", "", value or "")


def sender_numbers_record_update(
    *,
    waba_id: str,
    display_phone_number: str = "",
    phone_number_id: str = "",
    quality_rating: str | None = None,
    messaging_limit_tier: str | None = None,
    throughput_upgraded: bool = False,
) -> SenderNumberUpdate:
    """Store what Meta reported about a number (or about all numbers of a WABA).

    The number is found by Meta's phone-number id, else by its display number (digits compared,
    since Meta writes ``15550783881`` where we may store ``+1 555-078-3881``). The messaging
    limit belongs to the business portfolio and is shared by all its numbers, so a tier is stored
    on every number of the account; quality and throughput only on the number named. Values
    Tidings does not know are ignored. Idempotent: repeating a report changes nothing.
    """
    accounts_numbers = SenderNumber.objects.filter(account__waba_id=str(waba_id))
    named = _named_number_ids(accounts_numbers, display_phone_number, phone_number_id)
    changes: list[str] = []
    now = timezone.now()
    with transaction.atomic():
        if named and quality_rating in SenderNumber.QualityRating.values:
            changed = (
                accounts_numbers.filter(pk__in=named)
                .exclude(quality_rating=quality_rating)
                .update(quality_rating=quality_rating, updated_at=now)
            )
            changes += [f"quality rating {quality_rating}"] if changed else []
        if named and throughput_upgraded:
            changed = accounts_numbers.filter(
                pk__in=named, throughput_per_second__lt=HIGH_THROUGHPUT_PER_SECOND
            ).update(throughput_per_second=HIGH_THROUGHPUT_PER_SECOND, updated_at=now)
            changes += [f"throughput {HIGH_THROUGHPUT_PER_SECOND}/s"] if changed else []
        if messaging_limit_tier in SenderNumber.MessagingLimitTier.values:
            changed = accounts_numbers.exclude(messaging_limit_tier=messaging_limit_tier).update(
                messaging_limit_tier=messaging_limit_tier, updated_at=now
            )
            changes += [f"messaging limit {messaging_limit_tier}"] if changed else []
    number_ids = named or list(accounts_numbers.values_list("pk", flat=True))
    return SenderNumberUpdate(number_ids=sorted(number_ids), changes=changes)


def _named_number_ids(numbers, display_phone_number: str, phone_number_id: str) -> list[int]:
    if phone_number_id:
        found = list(numbers.filter(phone_number_id=phone_number_id).values_list("pk", flat=True))
        if found:
            return found
    digits = _digits(display_phone_number)
    if not digits:
        return []
    return [
        pk
        for pk, display in numbers.filter(~Q(display_phone_number="")).values_list(
            "pk", "display_phone_number"
        )
        if _digits(display) == digits
    ]
