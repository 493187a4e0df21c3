"""The campaign's status timeline: one `CampaignStatusChange` row per change of status.

Called by every writer of `Campaign.status` inside its own transaction, after the change, so the
timeline holds exactly the changes that were committed (a rolled-back transition leaves none).
Apps further right read the table (the outbound event subscriptions turn each row into a
`campaign.status_changed` event); nothing here knows about them.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.utils import timezone

from .models import CampaignStatusChange


def campaign_status_changes_record(*, changes: Iterable[tuple[int, str, str, str]]) -> int:
    """Append (campaign id, from status, to status, reason) changes; a non-change is skipped.

    Returns how many rows were written.
    """
    now = timezone.now()
    rows = [
        CampaignStatusChange(
            campaign_id=campaign_id,
            from_status=str(before),
            to_status=str(after),
            reason=(reason or "")[:500],
            changed_at=now,
        )
        for campaign_id, before, after, reason in changes
        if str(before) != str(after)
    ]
    CampaignStatusChange.objects.bulk_create(rows)
    return len(rows)
