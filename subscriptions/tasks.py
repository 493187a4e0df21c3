"""Celery tasks of the subscriptions app: thin wrappers that take ids and call services.

All run on the `subscriptions` queue, so a slow receiver never holds up Meta's webhooks or
dispatch, and all are safe to run twice (the feed locks its cursors and inserts idempotently; a
delivery is claimed by a conditional update before it is attempted).
"""

from __future__ import annotations

from celery import shared_task

from . import services
from .feed import feed_run


@shared_task(queue="subscriptions")
def run_feed() -> dict[str, int]:
    """Beat, every 2 s: turn new rows of the source tables into events and deliveries."""
    results = feed_run()
    return {name: result.deliveries for name, result in results.items()}


@shared_task(queue="subscriptions", acks_late=True)
def deliver_event(delivery_id: int) -> str:
    """One attempt of one delivery, if it is still due."""
    return services.delivery_attempt(delivery_id=delivery_id).state


@shared_task(queue="subscriptions")
def enqueue_due_deliveries() -> dict[str, int]:
    """Beat, every 5 s: retries whose backoff has passed, and deliveries whose worker was lost."""
    return services.deliveries_enqueue_due()


@shared_task(queue="housekeeping")
def purge_events() -> int:
    """Beat, hourly: events and delivery logs past their retention."""
    return services.events_purge()
