"""Celery tasks of the contacts app: thin wrappers that take ids and call services."""

from __future__ import annotations

from celery import shared_task

from contacts import services


@shared_task(acks_late=True, time_limit=60 * 60, soft_time_limit=58 * 60)
def contact_import_run(contact_import_id: int) -> None:
    """Import an uploaded CSV file. Safe to run twice: an import is claimed before it runs, and
    re-importing rows changes nothing, so a redelivered task after a lost worker is harmless.
    """
    services.contact_import_process(contact_import_id=contact_import_id)
