"""Status reports: applied to the ledger in one batch; the unmatched ones kept and retried.

A status can arrive before the message it is about can be found — typically when Meta's webhook
beats our own send result (no `biz_opaque_callback_data` match and no wamid yet), or for a message
another application sent from the same number. Such reports are stored as `UnmatchedStatus` rows
at once (never dropped), retried with backoff for TIDINGS_WEBHOOK_UNMATCHED_RETRY_SECONDS, then
kept as `unmatched` for an operator, who can apply them later (admin action or
`manage.py replay_webhooks --unmatched`).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from campaigns.dispatch import message_id_from_callback_data
from campaigns.ledger import message_statuses_apply
from whatsapp.events import StatusEvent, status_from_raw

from ..models import UnmatchedStatus, UnmatchedStatusState
from .records import storable_json

RETRY_FIRST_DELAY_SECONDS = 2.0
RETRY_MAX_DELAY_SECONDS = 120.0
RETRY_BATCH = 1000
# The sweep gives a retrying status this much longer than its window before giving up on it.
SWEEP_GRACE = dt.timedelta(seconds=60)


def unmatched_retry_delays() -> list[float]:
    """Seconds before each attempt to match a status again: 2, 4, 8… capped at two minutes, until
    TIDINGS_WEBHOOK_UNMATCHED_RETRY_SECONDS are covered (about ten attempts in ten minutes)."""
    window = float(settings.TIDINGS_WEBHOOK_UNMATCHED_RETRY_SECONDS)
    delays: list[float] = []
    delay, total = RETRY_FIRST_DELAY_SECONDS, 0.0
    while total < window:
        step = min(delay, window - total)
        delays.append(step)
        total += step
        delay = min(delay * 2, RETRY_MAX_DELAY_SECONDS)
    return delays


def statuses_record(
    *, reports: list[tuple[int | None, StatusEvent]], replay: bool = False
) -> dict[int | None, Counter[str]]:
    """Apply status reports (each with the id of the delivery it came in) as one batch; keep the
    unmatched ones and schedule their retry. Returns the counts per delivery."""
    counts: dict[int | None, Counter[str]] = {}
    delivery_of = {id(report): delivery_id for delivery_id, report in reports}
    with transaction.atomic():
        result = message_statuses_apply(statuses=[report for _, report in reports])
        for report in result.matched:
            counts.setdefault(delivery_of[id(report)], Counter())["status"] += 1
        if result.unmatched:
            for report in result.unmatched:
                counts.setdefault(delivery_of[id(report)], Counter())["status_unmatched"] += 1
            retry_ids = _keep_unmatched(result.unmatched, delivery_of=delivery_of)
            if retry_ids:
                transaction.on_commit(partial(_enqueue_retry, retry_ids))
        if replay and result.matched:
            _mark_applied(result.matched)
    return counts


def _enqueue_retry(unmatched_ids: list[int]) -> None:
    from ..tasks import retry_unmatched_statuses
    from .deliveries import enqueue

    delays = unmatched_retry_delays()
    if not delays:
        unmatched_statuses_give_up(unmatched_ids=unmatched_ids)
        return
    enqueue(retry_unmatched_statuses, unmatched_ids, countdown=delays[0])


def _keep_unmatched(reports: list[StatusEvent], *, delivery_of: dict[int, int | None]) -> list[int]:
    """Store the reports (once per wamid and status); return the ids worth retrying."""
    rows = [
        UnmatchedStatus(
            delivery_id=delivery_of.get(id(report)),
            wamid=report.wamid,
            status=(report.status or "unknown")[:32],
            callback_data=report.biz_opaque_callback_data[:512],
            recipient_id=report.recipient_id[:64],
            waba_id=report.waba_id[:64],
            phone_number_id=report.phone_number_id[:64],
            occurred_at=report.occurred_at,
            payload=storable_json(report.raw),
            # Without a wamid or our id nothing can ever match it: kept, not retried.
            state=UnmatchedStatusState.RETRYING
            if report.wamid or message_id_from_callback_data(report.biz_opaque_callback_data)
            else UnmatchedStatusState.UNMATCHED,
        )
        for report in reports
    ]
    with_wamid = [row for row in rows if row.wamid]
    without_wamid = [row for row in rows if not row.wamid]
    UnmatchedStatus.objects.bulk_create(with_wamid, ignore_conflicts=True)
    UnmatchedStatus.objects.bulk_create(without_wamid)
    retry_ids = [row.pk for row in without_wamid if row.state == UnmatchedStatusState.RETRYING]
    if with_wamid:
        retry_ids += UnmatchedStatus.objects.filter(
            wamid__in={row.wamid for row in with_wamid}, state=UnmatchedStatusState.RETRYING
        ).values_list("pk", flat=True)
    return sorted(retry_ids)


def _mark_applied(reports: Iterable[StatusEvent]) -> None:
    """A replay matched reports that were kept as unmatched before: they are applied now."""
    pairs = {(report.wamid, report.status) for report in reports if report.wamid}
    if not pairs:
        return
    candidates = (
        UnmatchedStatus.objects.filter(wamid__in={wamid for wamid, _ in pairs})
        .exclude(state=UnmatchedStatusState.APPLIED)
        .values_list("pk", "wamid", "status")
    )
    ids = [pk for pk, wamid, status in candidates if (wamid, status) in pairs]
    if ids:
        now = timezone.now()
        UnmatchedStatus.objects.filter(pk__in=ids).update(
            state=UnmatchedStatusState.APPLIED, applied_at=now, last_attempt_at=now
        )


@dataclass
class UnmatchedRetryOutcome:
    applied: int = 0
    remaining_ids: list[int] = field(default_factory=list)


def unmatched_statuses_retry(
    *, unmatched_ids: Iterable[int] | None = None, include_given_up: bool = False
) -> UnmatchedRetryOutcome:
    """Try to match kept statuses again and apply those whose message exists now.

    Takes the given rows (or every retrying row, in batches), or also the ones already given up
    (`include_given_up`, for an operator's replay). Applied rows are marked `applied`; the others
    count an attempt and are returned in `remaining_ids`.
    """
    states = [UnmatchedStatusState.RETRYING]
    if include_given_up:
        states.append(UnmatchedStatusState.UNMATCHED)
    rows = UnmatchedStatus.objects.filter(state__in=states).order_by("pk")
    outcome = UnmatchedRetryOutcome()
    if unmatched_ids is not None:
        ids = sorted(set(unmatched_ids))
        for start in range(0, len(ids), RETRY_BATCH):
            _retry_batch(list(rows.filter(pk__in=ids[start : start + RETRY_BATCH])), outcome)
        return outcome
    last_pk = 0
    while batch := list(rows.filter(pk__gt=last_pk)[:RETRY_BATCH]):
        _retry_batch(batch, outcome)
        last_pk = batch[-1].pk
    return outcome


def _retry_batch(rows: list[UnmatchedStatus], outcome: UnmatchedRetryOutcome) -> None:
    if not rows:
        return
    reports: dict[int, StatusEvent] = {}
    for row in rows:
        report = status_from_raw(
            row.payload, waba_id=row.waba_id, phone_number_id=row.phone_number_id
        )
        if isinstance(report, StatusEvent):
            reports[row.pk] = report
    now = timezone.now()
    with transaction.atomic():
        result = message_statuses_apply(statuses=list(reports.values()))
        matched = {id(report) for report in result.matched}
        applied = [pk for pk, report in reports.items() if id(report) in matched]
        remaining = [row.pk for row in rows if row.pk not in set(applied)]
        UnmatchedStatus.objects.filter(pk__in=applied).update(
            state=UnmatchedStatusState.APPLIED,
            applied_at=now,
            last_attempt_at=now,
            attempts=F("attempts") + 1,
        )
        UnmatchedStatus.objects.filter(pk__in=remaining).update(
            last_attempt_at=now, attempts=F("attempts") + 1
        )
    outcome.applied += len(applied)
    outcome.remaining_ids += remaining


def unmatched_statuses_give_up(*, unmatched_ids: Iterable[int]) -> int:
    """Retrying rows become `unmatched`: kept for an operator, no longer retried."""
    return UnmatchedStatus.objects.filter(
        pk__in=list(unmatched_ids), state=UnmatchedStatusState.RETRYING
    ).update(state=UnmatchedStatusState.UNMATCHED)


def unmatched_statuses_finish_expired(*, now: dt.datetime) -> dict[str, int]:
    """Retrying rows past their window (their retry task was lost): one last try, then give up."""
    window = dt.timedelta(seconds=settings.TIDINGS_WEBHOOK_UNMATCHED_RETRY_SECONDS)
    expired = list(
        UnmatchedStatus.objects.filter(
            state=UnmatchedStatusState.RETRYING, first_seen_at__lt=now - window - SWEEP_GRACE
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:RETRY_BATCH]
    )
    if not expired:
        return {"late_applied": 0, "gave_up": 0}
    outcome = unmatched_statuses_retry(unmatched_ids=expired)
    gave_up = unmatched_statuses_give_up(unmatched_ids=outcome.remaining_ids)
    return {"late_applied": outcome.applied, "gave_up": gave_up}
