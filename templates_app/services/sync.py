"""Mirroring Meta's templates: every account, every page, deletions kept as DELETED.

Every entry point (beat, `manage.py sync_templates`, `POST /api/v1/templates/sync/`, the admin)
runs `template_sync`, which hands the work to the service the project configures in
`TIDINGS_TEMPLATE_SYNC_SERVICE`. Apps depend one way (templates_app <- campaigns), yet a sync
that finds a template paused must stop the campaigns using it: so the campaigns app provides a
service that wraps `template_sync_accounts` and reacts to its `status_updates`, and the project's
settings, which know every app, name it. Without the setting (templates_app without campaigns)
the plain sync runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from whatsapp import ProviderError, RemoteTemplate, WhatsAppProvider, get_provider

from ..models import (
    MessageTemplate,
    TemplateQualityScore,
    TemplateStatus,
    TemplateStatusChange,
    WhatsAppAccount,
    normalize_language,
)
from .status import (
    TemplateStatusUpdate,
    category_from_meta,
    change_status,
    parameter_format_from_meta,
    quality_from_meta,
    reason_text,
    record_change,
    status_from_meta,
    status_reason,
)

logger = logging.getLogger(__name__)


@dataclass
class AccountSyncResult:
    """The outcome of syncing one account; `error` is set (and nothing written) when Meta could
    not be read."""

    account: WhatsAppAccount
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    error: str | None = None
    status_updates: list[TemplateStatusUpdate] = field(default_factory=list)
    # What the configured sync service did about the status updates (e.g. campaigns stopped).
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.error:
            return f"{self.account.name}: sync failed: {self.error}"
        counts = (
            f"{self.account.name}: {self.created} new, {self.updated} updated, "
            f"{self.deleted} deleted on Meta, {self.unchanged} unchanged"
        )
        return "; ".join([counts, *self.notes])


SyncService = Callable[..., list[AccountSyncResult]]


def template_sync(
    *,
    accounts: Iterable[WhatsAppAccount] | None = None,
    provider: WhatsAppProvider | None = None,
) -> list[AccountSyncResult]:
    """Sync `accounts` (every account when None) through the configured sync service, so every
    entry point has the same consequences (see the module docstring)."""
    return sync_service()(accounts=accounts, provider=provider)


def sync_service() -> SyncService:
    """`TIDINGS_TEMPLATE_SYNC_SERVICE` (a dotted path), or the plain `template_sync_accounts`."""
    path = getattr(settings, "TIDINGS_TEMPLATE_SYNC_SERVICE", "")
    return import_string(path) if path else template_sync_accounts


def template_sync_accounts(
    *,
    accounts: Iterable[WhatsAppAccount] | None = None,
    provider: WhatsAppProvider | None = None,
) -> list[AccountSyncResult]:
    """Sync `accounts` (every account when None) and nothing more; one account failing does not
    stop the others. Sync services configured for `template_sync` build on this."""
    provider = provider or get_provider()
    if accounts is None:
        accounts = WhatsAppAccount.objects.order_by("pk")
    return [template_sync_account(account=account, provider=provider) for account in accounts]


def template_sync_all(*, provider: WhatsAppProvider | None = None) -> list[AccountSyncResult]:
    """Sync every account, without the configured service's follow-up (see `template_sync`)."""
    return template_sync_accounts(provider=provider)


def template_sync_account(
    *, account: WhatsAppAccount, provider: WhatsAppProvider | None = None
) -> AccountSyncResult:
    """Mirror every template Meta lists for `account` (all pages).

    New templates are created, changed ones updated (status, components, category, quality,
    rejection reason), and templates Meta no longer lists are marked DELETED, never removed: the
    messages already sent with them still point at them. Local drafts are left alone.

    The whole list is read before anything is written, so a paging failure half-way never marks
    the unread rest as deleted; syncs of one account are serialised by a lock on the account row.
    """
    provider = provider or get_provider()
    result = AccountSyncResult(account=account)
    try:
        remote_templates = list(provider.list_templates(account.waba_id))
    except ProviderError as error:
        logger.warning("template sync of %s failed: %r", account, error)
        result.error = error.readable_message
        return result

    now = timezone.now()
    with transaction.atomic():
        WhatsAppAccount.objects.select_for_update().filter(pk=account.pk).first()
        existing = {
            (template.name, template.language): template
            for template in MessageTemplate.objects.select_for_update().filter(account=account)
        }
        seen: set[tuple[str, str]] = set()
        for remote in remote_templates:
            key = (remote.name, normalize_language(remote.language))
            # Every template Meta lists has an id; one without cannot be matched or mirrored.
            if not remote.id or not remote.name or not key[1] or key in seen:
                continue
            seen.add(key)
            template = existing.get(key)
            if template is None:
                template = _create_from_meta(account, remote, now)
                result.created += 1
                result.status_updates.append(
                    TemplateStatusUpdate(template, "", template.status, changed=True)
                )
                continue
            update = _apply_remote(template, remote, now)
            if update is None:
                result.unchanged += 1
            else:
                result.updated += 1
                if update.changed:
                    result.status_updates.append(update)

        for key, template in existing.items():
            if key in seen or template.status in (TemplateStatus.DRAFT, TemplateStatus.DELETED):
                continue
            template.last_synced_at = now
            template.save(update_fields=["last_synced_at", "updated_at"])
            result.status_updates.append(
                change_status(
                    template,
                    TemplateStatus.DELETED,
                    source=TemplateStatusChange.Source.SYNC,
                    reason="No longer listed by Meta.",
                )
            )
            result.deleted += 1
    return result


def _create_from_meta(
    account: WhatsAppAccount, remote: RemoteTemplate, now: Any
) -> MessageTemplate:
    status = status_from_meta(remote.status)
    template = MessageTemplate.objects.create(
        account=account,
        name=remote.name,
        language=normalize_language(remote.language),
        category=category_from_meta(remote.category, None),
        parameter_format=parameter_format_from_meta(remote.parameter_format),
        components=remote.components,
        status=status,
        rejection_reason=reason_text(remote.rejected_reason),
        quality_score=quality_from_meta(remote.quality_score) or TemplateQualityScore.UNKNOWN,
        meta_template_id=remote.id,
        last_synced_at=now,
    )
    record_change(
        template,
        from_status="",
        to_status=status,
        source=TemplateStatusChange.Source.SYNC,
        reason=status_reason(status, remote.rejected_reason, remote.status),
    )
    return template


def _apply_remote(
    template: MessageTemplate, remote: RemoteTemplate, now: Any
) -> TemplateStatusUpdate | None:
    """Update `template` from Meta's listing; None when nothing but the sync time changed."""
    wanted = {
        "category": category_from_meta(remote.category, template.category),
        "parameter_format": parameter_format_from_meta(remote.parameter_format),
        "components": remote.components,
        "rejection_reason": reason_text(remote.rejected_reason),
        "quality_score": quality_from_meta(remote.quality_score) or template.quality_score,
        "meta_template_id": remote.id or template.meta_template_id,
    }
    changed_fields = [name for name, value in wanted.items() if getattr(template, name) != value]
    for name in changed_fields:
        setattr(template, name, wanted[name])
    template.last_synced_at = now
    template.save(update_fields=[*changed_fields, "last_synced_at", "updated_at"])
    status = status_from_meta(remote.status)
    update = change_status(
        template,
        status,
        source=TemplateStatusChange.Source.SYNC,
        reason=status_reason(status, remote.rejected_reason, remote.status),
    )
    if not changed_fields and not update.changed:
        return None
    return update
