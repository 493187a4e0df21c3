"""Progress counters: kept by the database, folded by the beat, checked against the messages.

On PostgreSQL, triggers (migration 0003) append a `CampaignProgressCount` row for every counter a
statement on the message or tracked-link table changed, in the same transaction, whichever code
made the change (dispatch, the status ledger, planning, cancel, retries…). Reading a campaign's
progress then sums a handful of small rows instead of counting its messages. Here:

* `progress_counts_fold` (every beat tick) folds the appended rows into one row per counter;
* `campaign_progress_counts_check` recounts one campaign from its messages and, if a counter
  disagrees, replaces the counters with the recount (logged: it means a change bypassed the
  triggers, such as a raw import with triggers disabled).

Both take one advisory lock, so a fold and a recount never interleave. On SQLite there are no
counters: progress is counted from the messages, which is cheap at the scale SQLite serves.
"""

from __future__ import annotations

import logging

from django.db import connection, transaction

from .models import Campaign, CampaignStatus

logger = logging.getLogger(__name__)

_LOCK = (0x7469_6402, 1)  # pg_advisory_xact_lock key of folds and recounts

_RECOUNT = """
    SELECT m.campaign_id, k.kind, k.key, count(*)
    FROM campaigns_message m, LATERAL campaigns_message_progress_keys(
        m.status, m.reason, m.error_code, m.sent_at, m.delivered_at, m.read_at, m.replied_at
    ) k
    WHERE m.campaign_id = %(campaign)s
    GROUP BY 1, 2, 3
    UNION ALL
    SELECT m.campaign_id, 'funnel', 'clicked', count(*)
    FROM campaigns_trackedlink t JOIN campaigns_message m ON m.id = t.message_id
    WHERE m.campaign_id = %(campaign)s AND t.first_clicked_at IS NOT NULL
        AND m.sent_at IS NOT NULL
    GROUP BY 1
"""


def progress_counters_enabled() -> bool:
    return connection.vendor == "postgresql"


def _lock(cursor) -> None:
    cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", list(_LOCK))


def progress_counts_fold() -> int:
    """Fold each counter's appended rows into one (only counters with more than one row are
    touched); returns how many rows were folded away."""
    if not progress_counters_enabled():
        return 0
    with transaction.atomic(), connection.cursor() as cursor:
        _lock(cursor)
        cursor.execute(
            """
            WITH unfolded AS (
                SELECT campaign_id, kind, key FROM campaigns_campaignprogresscount
                GROUP BY 1, 2, 3 HAVING count(*) > 1 OR sum(count) = 0
            ), folded AS (
                DELETE FROM campaigns_campaignprogresscount c USING unfolded u
                WHERE c.campaign_id = u.campaign_id AND c.kind = u.kind AND c.key = u.key
                RETURNING c.campaign_id, c.kind, c.key, c.count
            ), summed AS (
                INSERT INTO campaigns_campaignprogresscount (campaign_id, kind, key, count)
                SELECT campaign_id, kind, key, sum(count) FROM folded
                GROUP BY 1, 2, 3 HAVING sum(count) <> 0
                RETURNING 1
            )
            SELECT (SELECT count(*) FROM folded) - (SELECT count(*) FROM summed)
            """
        )
        return int(cursor.fetchone()[0])


def campaign_progress_counts_check(*, campaign_id: int) -> bool:
    """Recount one campaign from its messages; True if the counters agreed, else they are
    replaced by the recount (the recount and the replacement see the same snapshot, so changes
    committed meanwhile are neither lost nor counted twice)."""
    if not progress_counters_enabled():
        return True
    with transaction.atomic(), connection.cursor() as cursor:
        _lock(cursor)
        cursor.execute(
            f"""
            WITH recount AS ({_RECOUNT}),
            kept AS (
                SELECT campaign_id, kind, key, sum(count) AS count
                FROM campaigns_campaignprogresscount WHERE campaign_id = %(campaign)s
                GROUP BY 1, 2, 3 HAVING sum(count) <> 0
            )
            SELECT count(*) FROM recount r FULL JOIN kept k USING (campaign_id, kind, key)
            WHERE r.count IS DISTINCT FROM k.count
            """,  # noqa: S608 - no user input in the statement's text
            {"campaign": campaign_id},
        )
        disagreements = int(cursor.fetchone()[0])
        if not disagreements:
            return True
        logger.warning(
            "campaign %s: %s progress counters disagreed with its messages; recounted",
            campaign_id,
            disagreements,
        )
        cursor.execute(
            f"""
            WITH dropped AS (
                DELETE FROM campaigns_campaignprogresscount WHERE campaign_id = %(campaign)s
            )
            INSERT INTO campaigns_campaignprogresscount (campaign_id, kind, key, count)
            {_RECOUNT}
            """,  # noqa: S608 - no user input in the statement's text
            {"campaign": campaign_id},
        )
    return False


def progress_counts_check_active() -> dict[str, int]:
    """Check the counters of every running or paused campaign (the beat runs this now and
    then: it counts their messages once, instead of once per page view)."""
    checked = repaired = 0
    active = Campaign.objects.filter(status__in=[CampaignStatus.RUNNING, CampaignStatus.PAUSED])
    for campaign_id in active.values_list("id", flat=True):
        checked += 1
        if not campaign_progress_counts_check(campaign_id=campaign_id):
            repaired += 1
    return {"checked": checked, "repaired": repaired}
