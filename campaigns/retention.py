"""Retention: message contents go after a set time; the metadata stays for the audit."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone

from .models import Message

PURGE_BATCH = 5000


def purge_message_parameters(*, older_than_days: int | None = None) -> int:
    """Clear rendered parameters of messages older than the retention period, in batches."""
    days = older_than_days or settings.TIDINGS_MESSAGE_CONTENT_RETENTION_DAYS
    cutoff = timezone.now() - dt.timedelta(days=days)
    purged = 0
    while True:
        ids = list(
            Message.objects.filter(created_at__lt=cutoff, parameters_purged_at__isnull=True)
            .order_by("id")
            .values_list("id", flat=True)[:PURGE_BATCH]
        )
        if not ids:
            return purged
        purged += Message.objects.filter(id__in=ids).update(
            parameters={}, parameters_purged_at=timezone.now()
        )
