"""Celery tasks of the campaigns app: thin wrappers that take ids and call services.

Every task is idempotent: planning ignores rows that exist, dispatch only takes what it claims,
the tick only moves things whose time has come.
"""

from __future__ import annotations

import datetime as dt
import logging
import time

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from . import dispatch, planning, progress, reconcile, services
from .models import Campaign, CampaignStatus

logger = logging.getLogger(__name__)


def _start_dispatchers(campaign_id: int) -> None:
    for _ in range(settings.TIDINGS_DISPATCH_PARALLEL_TASKS):
        dispatch_campaign.delay(campaign_id)


@shared_task(acks_late=True, queue="dispatch", bind=True)
def plan_campaign(self, campaign_id: int) -> dict:
    """Plan the audience. Dispatch starts as soon as the first chunk is planned, so a large
    audience is being sent while the rest is still planned (when tasks run eagerly, as in
    tests, dispatch simply follows planning)."""
    overlap = not self.app.conf.task_always_eager
    summary = planning.campaign_plan(
        campaign_id=campaign_id,
        on_first_chunk=(lambda: _start_dispatchers(campaign_id)) if overlap else None,
    )
    _start_dispatchers(campaign_id)
    return {"queued": summary.queued, "skipped": summary.skipped}


PLANNING_POLL_SECONDS = 0.2


def _still_planning(campaign_id: int) -> bool:
    return Campaign.objects.filter(
        pk=campaign_id, status=CampaignStatus.RUNNING, planned_at__isnull=True
    ).exists()


def _dispatch_slot_key(campaign_id: int, slot: int) -> str:
    return f"tidings:dispatch:{campaign_id}:{slot}"


@shared_task(acks_late=True, queue="dispatch")
def dispatch_campaign(campaign_id: int) -> dict:
    """Send a running campaign's due messages, chunk after chunk, for a bounded time.

    At most TIDINGS_DISPATCH_PARALLEL_TASKS of these work on one campaign at once (a slot lock
    in the cache); a task that finds every slot taken exits at once, so duplicate enqueues from
    the beat and from resumes cost nothing.
    """
    budget = settings.TIDINGS_DISPATCH_TASK_SECONDS
    slot_key = None
    for slot in range(settings.TIDINGS_DISPATCH_PARALLEL_TASKS):
        key = _dispatch_slot_key(campaign_id, slot)
        if cache.add(key, "1", timeout=budget + settings.TIDINGS_DISPATCH_LEASE_SECONDS):
            slot_key = key
            break
    if slot_key is None:
        return {"skipped": "all dispatch slots busy"}
    totals = {"claimed": 0, "sent": 0}
    deadline = time.monotonic() + budget
    more = False
    try:
        while time.monotonic() < deadline:
            result = dispatch.dispatch_chunk(campaign_id=campaign_id)
            totals["claimed"] += result.claimed
            totals["sent"] += result.sent
            if result.stopped_reason:
                break
            if result.claimed == 0:
                if not _still_planning(campaign_id):
                    break
                time.sleep(PLANNING_POLL_SECONDS)
        else:
            more = True
    finally:
        cache.delete(slot_key)
    if more:
        dispatch_campaign.delay(campaign_id)
    else:
        services.campaign_complete_if_done(campaign_id=campaign_id)
    return totals


@shared_task(queue="housekeeping")
def tick() -> dict:
    """The beat's heartbeat (every few seconds): start due campaigns, release deferrals,
    reconcile expired leases, fold progress counters, keep running campaigns dispatching,
    complete finished ones."""
    now = timezone.now()
    started = 0
    prewarm_horizon = now + dt.timedelta(minutes=settings.TIDINGS_PREWARM_MINUTES)
    for campaign in Campaign.objects.filter(status=CampaignStatus.SCHEDULED):
        start_at = services.campaign_start_instant(campaign)
        if now < start_at <= prewarm_horizon and cache.add(
            f"tidings:prewarmed:{campaign.pk}", "1", timeout=24 * 3600
        ):
            prewarm_campaign.delay(campaign.pk)
        if start_at <= now:
            try:
                services.campaign_start(campaign_id=campaign.pk)
                started += 1
            except services.CampaignError as error:
                services.campaign_stop(campaign_id=campaign.pk, reason=error.message)
    released = dispatch.release_deferred(now=now)
    reconciled = reconcile.reconcile_expired_leases()
    progress.progress_counts_fold()
    for campaign_id in Campaign.objects.filter(status=CampaignStatus.RUNNING).values_list(
        "id", flat=True
    ):
        if dispatch.due_work_exists(campaign_id):
            dispatch_campaign.delay(campaign_id)
        else:
            services.campaign_complete_if_done(campaign_id=campaign_id)
    from .transactional import due_transactional_message_ids

    for message_id in due_transactional_message_ids():
        send_message.delay(message_id)
    return {"started": started, "released": released, **reconciled}


@shared_task(acks_late=True, queue="dispatch")
def send_message(message_id: int) -> str:
    from .transactional import message_send_now

    return message_send_now(message_id=message_id)


@shared_task(queue="housekeeping")
def check_progress_counts() -> dict:
    return progress.progress_counts_check_active()


@shared_task(queue="housekeeping")
def purge_message_contents() -> int:
    from .retention import purge_message_parameters

    return purge_message_parameters()


@shared_task(queue="housekeeping")
def prewarm_campaign(campaign_id: int) -> dict:
    """Fill the personalisation cache for a campaign's audience shortly before it starts."""
    from .personalisation import prewarm_contacts

    campaign = Campaign.objects.get(pk=campaign_id)
    if campaign.status != CampaignStatus.SCHEDULED or campaign.segment_id is None:
        return {"skipped": campaign.status}
    calls = 0
    for contacts in planning.audience_chunks(campaign):
        calls += prewarm_contacts(mapping=campaign.variable_mapping, contacts=contacts).calls
    return {"calls": calls}
