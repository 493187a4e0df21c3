"""Retention: message contents go after a set time; the metadata stays for the audit.

Contents are the rendered parameters and, for tracked URL buttons, the per-message target
address (it carries a rendered value such as an order id). That address is cut back to the
campaign's base address (scheme, host and the path before the value), so an old link still
leads somewhere useful and the click is still counted.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import Message, TrackedLink

PURGE_BATCH = 5000
VALUE_PLACEHOLDER = "{value}"


def purge_message_parameters(*, older_than_days: int | None = None) -> int:
    """Clear rendered parameters (and tracked-link targets) of messages older than the
    retention period, in batches; returns how many messages were purged."""
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
        with transaction.atomic():
            purged += Message.objects.filter(id__in=ids).update(
                parameters={}, parameters_purged_at=timezone.now()
            )
            _reduce_tracked_links(ids)


def tracked_link_base(target: str, patterns: Iterable[str]) -> str:
    """`target` without the rendered value: the scheme, host and path before `{value}` of the
    pattern it was made from (query and fragment dropped), else the target's scheme and host."""
    for pattern in sorted(patterns, key=len, reverse=True):
        if pattern == target:
            return target  # a fixed address carries nothing personal
        prefix = pattern.split(VALUE_PLACEHOLDER, 1)[0]
        if VALUE_PLACEHOLDER in pattern and target.startswith(prefix):
            parts = urlsplit(prefix)
            return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", "", ""))
    parts = urlsplit(target)
    return urlunsplit((parts.scheme, parts.netloc, "/", "", ""))


def _reduce_tracked_links(message_ids: Sequence[int]) -> None:
    rows = TrackedLink.objects.filter(message_id__in=message_ids).values_list(
        "id",
        "target_url",
        "message__campaign__tracked_links",
        "message__test_of_campaign__tracked_links",
    )
    by_base: dict[str, list[int]] = defaultdict(list)
    for link_id, target, campaign_patterns, test_patterns in rows:
        patterns = (campaign_patterns or test_patterns or {}).values()
        base = tracked_link_base(target, patterns)
        if base != target:
            by_base[base].append(link_id)
    for base, link_ids in by_base.items():
        TrackedLink.objects.filter(id__in=link_ids).update(target_url=base)
