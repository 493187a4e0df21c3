"""Celery tasks of the webhooks app: thin wrappers that take ids and call services.

All run on the `webhooks` queue (the purge on `housekeeping`) and are safe to run twice:
processing claims a pending delivery with a conditional update and every handler is idempotent;
a consent reply is claimed the same way, so it is sent at most once.
"""

from __future__ import annotations

import random

from celery import shared_task

from . import services

# Transient database errors (deadlock, lost connection): retry the delivery a few times.
PROCESS_RETRIES = 3


@shared_task(bind=True, queue="webhooks", acks_late=True, max_retries=PROCESS_RETRIES)
def process_webhook_deliveries(
    self, delivery_ids: list[int], retrying: bool = False
) -> dict[str, int]:
    """Process stored deliveries: these, and every other pending one, in batches (one task
    applies what many POSTs brought). Deliveries that failed on a transient database error
    (deadlock, lost connection) are tried again a few times with backoff; any other failure stays
    `failed` for a replay after a fix."""
    if retrying:
        outcomes = services.webhook_deliveries_process(
            delivery_ids=delivery_ids, retry_failed=True, drain=False
        )
    else:
        outcomes = services.webhook_deliveries_drain(delivery_ids=delivery_ids)
    transient = [delivery_id for delivery_id, outcome in outcomes.items() if outcome.transient]
    # An eager run (tests, `manage.py` calls) has no broker to wait on: it stays failed for replay.
    if transient and self.request.retries < PROCESS_RETRIES and not self.request.is_eager:
        countdown = 2 ** (self.request.retries + 1) * (0.5 + random.random())
        raise self.retry(kwargs={"delivery_ids": transient, "retrying": True}, countdown=countdown)
    by_status: dict[str, int] = {}
    for outcome in outcomes.values():
        by_status[outcome.status] = by_status.get(outcome.status, 0) + 1
    return by_status


@shared_task(bind=True, queue="webhooks", acks_late=True, max_retries=None)
def retry_unmatched_statuses(self, unmatched_ids: list[int]) -> dict:
    """Match kept statuses again, with backoff, for TIDINGS_WEBHOOK_UNMATCHED_RETRY_SECONDS;
    what is still unmatched after the last attempt is kept for an operator."""
    outcome = services.unmatched_statuses_retry(unmatched_ids=unmatched_ids)
    if not outcome.remaining_ids:
        return {"applied": outcome.applied, "remaining": 0}
    delays = services.unmatched_retry_delays()
    attempt = self.request.retries + 1
    if self.request.is_eager:
        # No broker to wait on: the rows stay `retrying` and the sweep finishes them.
        return {"applied": outcome.applied, "remaining": len(outcome.remaining_ids)}
    if attempt < len(delays):
        countdown = delays[attempt] * (0.8 + 0.4 * random.random())
        raise self.retry(args=[outcome.remaining_ids], countdown=countdown)
    gave_up = services.unmatched_statuses_give_up(unmatched_ids=outcome.remaining_ids)
    return {"applied": outcome.applied, "gave_up": gave_up}


@shared_task(queue="webhooks", acks_late=True)
def send_consent_reply(inbound_message_id: int) -> str:
    """Send the configured reply to a consent keyword (TIDINGS_CONSENT_KEYWORD_REPLY), once."""
    return services.consent_reply_send(inbound_message_id=inbound_message_id)


@shared_task(queue="webhooks")
def sweep_webhooks() -> dict:
    """Beat, every minute: requeue lost or abandoned deliveries, finish expired retries."""
    return services.webhook_deliveries_sweep()


@shared_task(queue="housekeeping")
def purge_webhooks() -> dict:
    """Beat, hourly: delete raw deliveries and records past their retention."""
    return services.webhook_records_purge()
