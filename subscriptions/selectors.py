"""Reads of the subscriptions app."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from .models import Delivery, DeliveryAttempt, Subscription
from .signing import subscription_secret


def subscriptions_disabled_automatically() -> QuerySet[Subscription]:
    """Subscriptions the failure limit switched off, newest first: the admin warns about them."""
    return Subscription.objects.filter(active=False, disabled_at__isnull=False).order_by(
        "-disabled_at"
    )


def subscription_deliveries(*, subscription_id: int) -> QuerySet[Delivery]:
    """A subscription's deliveries, newest first, with their events."""
    return (
        Delivery.objects.filter(subscription_id=subscription_id)
        .select_related("event")
        .prefetch_related("attempt_log")
        .order_by("-created_at", "-id")
    )


def delivery_attempts(*, delivery_id: int) -> QuerySet[DeliveryAttempt]:
    return DeliveryAttempt.objects.filter(delivery_id=delivery_id).order_by("number")


def subscription_secret_details(subscription: Subscription) -> dict[str, Any]:
    """The public id, the derived secret, and until when the previous secret still signs."""
    valid_until = None
    if subscription.previous_public_id and subscription.secret_rotated_at:
        until = subscription.secret_rotated_at + dt.timedelta(
            hours=settings.TIDINGS_SUBSCRIPTION_SECRET_ROTATION_HOURS
        )
        valid_until = until if until > timezone.now() else None
    return {
        "public_id": subscription.public_id,
        "secret": subscription_secret(subscription.public_id),
        "previous_secret_valid_until": valid_until,
    }
