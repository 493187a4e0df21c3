"""Celery tasks of the templates app: thin wrappers that take ids and call services."""

from __future__ import annotations

import logging

from celery import shared_task

from .models import WhatsAppAccount
from .services import template_sync

logger = logging.getLogger(__name__)


@shared_task(queue="housekeeping", acks_late=True, ignore_result=True)
def sync_templates() -> None:
    """Mirror every account's templates from Meta (run by beat; safe to run twice), with the
    configured sync service's follow-up (campaigns stopped for paused templates)."""
    for result in template_sync():
        logger.info("template sync: %s", result.summary())


@shared_task(queue="housekeeping", acks_late=True, ignore_result=True)
def sync_account_templates(account_id: int) -> None:
    """Mirror one account's templates, e.g. when Meta reports a template not known here yet."""
    account = WhatsAppAccount.objects.filter(pk=account_id).first()
    if account is None:
        return
    for result in template_sync(accounts=[account]):
        logger.info("template sync: %s", result.summary())
