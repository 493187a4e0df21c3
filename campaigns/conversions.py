"""Conversions: integrators report orders, each attributed to the campaign message that led to it.

A report is idempotent on the order id: the same order reported again with the same body returns
the original conversion, with another body it is a conflict. Concurrent duplicates collapse into
one row through the unique order id rather than a check-then-insert. The attribution is decided
once, when the conversion is recorded (see `conversion_attributable_message`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from config.env import is_iso_currency
from contacts.models import Contact

from .errors import CampaignError
from .models import Conversion
from .results import attribution_window, campaign_results_forget, conversion_attributable_message

# Order systems' clocks drift a little; an order much further ahead is a mistake in the report.
CLOCK_SKEW = dt.timedelta(minutes=5)


class ConversionConflict(CampaignError):
    """The order was already reported with a different body."""


@dataclass(frozen=True)
class ConversionResult:
    conversion: Conversion
    created: bool


def conversion_replay(*, order_id: str, fingerprint: str) -> Conversion | None:
    """The conversion an earlier report of this order made, if any; a conflict if that report had
    another body. Checked before anything else, so a retry costs one lookup."""
    existing = Conversion.objects.filter(order_id=order_id).first()
    if existing is None:
        return None
    return _replay(existing, fingerprint).conversion


def conversion_record(
    *,
    contact: Contact,
    order_id: str,
    value: Decimal,
    currency: str,
    occurred_at: dt.datetime,
    fingerprint: str,
    reported_by: Any = None,
) -> ConversionResult:
    """Record a conversion attributed to the contact's latest campaign message within the
    attribution window before it (or unattributed); or return the original report's."""
    existing = Conversion.objects.filter(order_id=order_id).first()
    if existing is not None:
        return _replay(existing, fingerprint)
    _check(contact=contact, value=value, currency=currency, occurred_at=occurred_at)
    window = attribution_window()
    message = conversion_attributable_message(
        contact_id=contact.pk, occurred_at=occurred_at, window=window
    )
    try:
        with transaction.atomic():
            conversion = Conversion.objects.create(
                contact=contact,
                order_id=order_id,
                value=value,
                currency=currency.upper(),
                occurred_at=occurred_at,
                message=message,
                campaign_id=message.campaign_id if message else None,
                attribution_window_hours=int(window.total_seconds() // 3600),
                request_fingerprint=fingerprint,
                reported_by=reported_by if getattr(reported_by, "pk", None) else None,
            )
    except IntegrityError:
        # A concurrent report of the same order won the race: answer as its replay.
        winner = Conversion.objects.filter(order_id=order_id).first()
        if winner is None:
            raise
        return _replay(winner, fingerprint)
    if conversion.campaign_id is not None:
        campaign_id = conversion.campaign_id
        transaction.on_commit(lambda: campaign_results_forget(campaign_id))
    return ConversionResult(conversion, True)


def _replay(conversion: Conversion, fingerprint: str) -> ConversionResult:
    if conversion.request_fingerprint != fingerprint:
        raise ConversionConflict(
            f"Order {conversion.order_id!r} was already reported with a different body.",
            field_errors={"order_id": ["This order was already reported with a different body."]},
        )
    return ConversionResult(conversion, False)


def _check(*, contact: Contact, value: Decimal, currency: str, occurred_at: dt.datetime) -> None:
    errors: dict[str, list[str]] = {}
    if contact.erased_at is not None:
        errors["contact_id"] = ["This contact was erased."]
    if value < 0:
        errors["value"] = ["A conversion's value cannot be negative."]
    if not is_iso_currency(currency):
        errors["currency"] = [f'{currency!r} is not an ISO 4217 currency code such as "EUR".']
    if occurred_at > timezone.now() + CLOCK_SKEW:
        errors["occurred_at"] = ["A conversion cannot be in the future."]
    if errors:
        raise CampaignError("The conversion cannot be recorded as it is.", field_errors=errors)
