"""Writes and business rules of the templates app: drafts, submission, sync and status changes.

Every status change of a template goes through `_change_status`, so the history
(`TemplateStatusChange`) is complete whatever changed it: a person creating a draft, a
submission, a sync or one of Meta's webhooks.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from whatsapp import ProviderError, RemoteTemplate, WhatsAppProvider, get_provider

from . import placeholders
from .models import (
    TEMPLATE_NAME_PATTERN,
    MessageTemplate,
    TemplateCategory,
    TemplateParameterFormat,
    TemplateQualityScore,
    TemplateStatus,
    TemplateStatusChange,
    WhatsAppAccount,
    normalize_language,
)
from .placeholders import Problem

logger = logging.getLogger(__name__)

# Meta's locales: a language (`es`), optionally a region or script (`en_US`, `zh_HK`).
_LANGUAGE_PATTERN = re.compile(r"^[a-z]{2,3}(_[A-Za-z0-9]{2,4})?$")
_UNSENDABLE_PAUSES = frozenset({TemplateStatus.PAUSED, TemplateStatus.DISABLED})
# Meta's "no reason" value on status webhooks and in `rejected_reason`.
_NO_REASON = {"", "NONE"}


class TemplateError(Exception):
    """A template operation was refused; `message` is meant for the person who asked.

    `problems` lists broken rules by component (for per-field API errors); `provider_error` is
    Meta's answer when Meta refused.
    """

    def __init__(
        self,
        message: str,
        *,
        problems: Sequence[Problem] = (),
        provider_error: ProviderError | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.problems = list(problems)
        self.provider_error = provider_error

    def __str__(self) -> str:
        if not self.problems:
            return self.message
        return f"{self.message} " + " ".join(str(problem) for problem in self.problems)


@dataclass(frozen=True)
class TemplateStatusUpdate:
    """What a status change did, for the apps that react to it (the campaign pause cascade).

    A duplicate (the template already had `new_status`) gives `changed=False` with the same
    statuses. `pauses_campaigns` and `is_sendable` depend only on the new status, so a retried
    webhook still completes a cascade that failed half-way.
    """

    template: MessageTemplate
    old_status: str
    new_status: str
    changed: bool

    @property
    def is_sendable(self) -> bool:
        return self.new_status == TemplateStatus.APPROVED

    @property
    def became_unsendable(self) -> bool:
        return self.old_status == TemplateStatus.APPROVED and not self.is_sendable

    @property
    def became_sendable(self) -> bool:
        return self.old_status != TemplateStatus.APPROVED and self.is_sendable

    @property
    def pauses_campaigns(self) -> bool:
        """PAUSED (low quality) or DISABLED: every running campaign using it must pause."""
        return self.new_status in _UNSENDABLE_PAUSES


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

    def summary(self) -> str:
        if self.error:
            return f"{self.account.name}: sync failed: {self.error}"
        return (
            f"{self.account.name}: {self.created} new, {self.updated} updated, "
            f"{self.deleted} deleted on Meta, {self.unchanged} unchanged"
        )


# --- Drafts -----------------------------------------------------------------------------------


def template_create_draft(
    *,
    account: WhatsAppAccount,
    name: str,
    language: str,
    category: str,
    components: list[dict[str, Any]],
    parameter_format: str = TemplateParameterFormat.POSITIONAL,
    created_by: AbstractBaseUser | None = None,
) -> MessageTemplate:
    """A new local DRAFT, checked against Meta's authoring rules (examples are only required
    on submission). Raises TemplateError listing every problem by component."""
    name = (name or "").strip()
    language = normalize_language(language)
    category = (category or "").strip().upper()
    parameter_format = (parameter_format or "").strip().upper()
    components = _normalized_components(components)
    problems = template_definition_problems(
        name=name,
        language=language,
        category=category,
        parameter_format=parameter_format,
        components=components,
        require_examples=False,
    )
    if not problems and _exists(account, name, language):
        problems.append(_duplicate_problem(account, name, language))
    if problems:
        raise TemplateError("The template is not valid.", problems=problems)
    try:
        with transaction.atomic():
            template = MessageTemplate.objects.create(
                account=account,
                name=name,
                language=language,
                category=category,
                parameter_format=parameter_format,
                components=components,
                status=TemplateStatus.DRAFT,
            )
            _record_change(
                template,
                from_status="",
                to_status=TemplateStatus.DRAFT,
                source=TemplateStatusChange.Source.DRAFT,
                changed_by=created_by,
            )
    except IntegrityError:
        # Someone created the same name and language in between.
        raise TemplateError(
            "The template is not valid.", problems=[_duplicate_problem(account, name, language)]
        ) from None
    return template


def template_update_draft(
    *,
    template: MessageTemplate,
    category: str,
    components: list[dict[str, Any]],
    parameter_format: str,
) -> MessageTemplate:
    """Change a DRAFT's content. Submitted templates are edited on Meta, not here."""
    category = (category or "").strip().upper()
    parameter_format = (parameter_format or "").strip().upper()
    components = _normalized_components(components)
    problems = template_definition_problems(
        name=template.name,
        language=template.language,
        category=category,
        parameter_format=parameter_format,
        components=components,
        require_examples=False,
    )
    if problems:
        raise TemplateError("The template is not valid.", problems=problems)
    with transaction.atomic():
        updated = MessageTemplate.objects.filter(
            pk=template.pk, status=TemplateStatus.DRAFT
        ).update(
            category=category,
            parameter_format=parameter_format,
            components=components,
            updated_at=timezone.now(),
        )
    if not updated:
        raise TemplateError(f"Only drafts can be edited; {template} has been submitted to Meta.")
    template.refresh_from_db()
    return template


def template_submit(
    *,
    template: MessageTemplate,
    submitted_by: AbstractBaseUser | None = None,
    provider: WhatsAppProvider | None = None,
) -> MessageTemplate:
    """Submit a DRAFT to Meta for review and store Meta's id, status and category.

    The row stays locked during Meta's answer so that two people submitting the same draft at
    once create it on Meta only once (the second sees it is no longer a draft). If Meta accepted
    but this transaction fails, the draft stays a draft and Meta reports a duplicate on the next
    attempt; the next sync links the two.

    Raises TemplateError with the rule problems, or with Meta's readable message when Meta refuses
    (bad name, duplicate, invalid example...). Nothing is stored in either case.
    """
    provider = provider or get_provider()
    with transaction.atomic():
        locked = (
            MessageTemplate.objects.select_for_update(of=("self",))
            .select_related("account")
            .get(pk=template.pk)
        )
        if locked.status != TemplateStatus.DRAFT:
            raise TemplateError(
                f"Only drafts can be submitted; {locked} is {locked.get_status_display()}."
            )
        problems = template_definition_problems(
            name=locked.name,
            language=locked.language,
            category=locked.category,
            parameter_format=locked.parameter_format,
            components=locked.components,
            require_examples=True,
        )
        if problems:
            raise TemplateError("The template cannot be submitted yet.", problems=problems)
        try:
            created = provider.create_template(
                locked.account.waba_id,
                name=locked.name,
                language=locked.language,
                category=locked.category,
                components=locked.components,
                parameter_format=locked.parameter_format,
            )
        except ProviderError as error:
            logger.info("Meta refused template %s: %r", locked, error)
            raise TemplateError(
                f"Meta refused the template: {error.readable_message}", provider_error=error
            ) from error
        locked.meta_template_id = created.id
        if created.category in TemplateCategory.values:
            locked.category = created.category
        locked.save(update_fields=["meta_template_id", "category", "updated_at"])
        _change_status(
            locked,
            _status_from_meta(created.status),
            source=TemplateStatusChange.Source.SUBMIT,
            changed_by=submitted_by,
        )
    return locked


# --- Sync -------------------------------------------------------------------------------------


def template_sync_all(*, provider: WhatsAppProvider | None = None) -> list[AccountSyncResult]:
    """Sync every account; one account failing does not stop the others."""
    provider = provider or get_provider()
    return [
        template_sync_account(account=account, provider=provider)
        for account in WhatsAppAccount.objects.order_by("pk")
    ]


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
            if not remote.name or not key[1] or key in seen:
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
                _change_status(
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
    status = _status_from_meta(remote.status)
    template = MessageTemplate.objects.create(
        account=account,
        name=remote.name,
        language=normalize_language(remote.language),
        category=_category_from_meta(remote.category, None),
        parameter_format=_parameter_format_from_meta(remote.parameter_format),
        components=remote.components,
        status=status,
        rejection_reason=_reason(remote.rejected_reason),
        quality_score=_quality_from_meta(remote.quality_score) or TemplateQualityScore.UNKNOWN,
        meta_template_id=remote.id,
        last_synced_at=now,
    )
    _record_change(
        template,
        from_status="",
        to_status=status,
        source=TemplateStatusChange.Source.SYNC,
        reason=_status_reason(status, remote.rejected_reason, remote.status),
    )
    return template


def _apply_remote(
    template: MessageTemplate, remote: RemoteTemplate, now: Any
) -> TemplateStatusUpdate | None:
    """Update `template` from Meta's listing; None when nothing but the sync time changed."""
    wanted = {
        "category": _category_from_meta(remote.category, template.category),
        "parameter_format": _parameter_format_from_meta(remote.parameter_format),
        "components": remote.components,
        "rejection_reason": _reason(remote.rejected_reason),
        "quality_score": _quality_from_meta(remote.quality_score) or template.quality_score,
        "meta_template_id": remote.id or template.meta_template_id,
    }
    changed_fields = [name for name, value in wanted.items() if getattr(template, name) != value]
    for name in changed_fields:
        setattr(template, name, wanted[name])
    template.last_synced_at = now
    template.save(update_fields=[*changed_fields, "last_synced_at", "updated_at"])
    status = _status_from_meta(remote.status)
    update = _change_status(
        template,
        status,
        source=TemplateStatusChange.Source.SYNC,
        reason=_status_reason(status, remote.rejected_reason, remote.status),
    )
    if not changed_fields and not update.changed:
        return None
    return update


# --- Status changes reported by Meta ----------------------------------------------------------


def template_record_status_change(
    *,
    waba_id: str,
    name: str,
    language: str,
    new_status: str,
    reason: str | None = None,
    source: str = TemplateStatusChange.Source.WEBHOOK,
    meta_template_id: str | int | None = None,
    quality_score: str | None = None,
) -> TemplateStatusUpdate | None:
    """Record a status Meta reported (a `message_template_status_update` webhook) and say what
    changed, so the caller can pause the campaigns that use a template that became unsendable.

    The template is found by Meta's id when given, else by name and language, with `en-US` and
    `en_US` treated alike (Meta uses both). `new_status` is Meta's event (APPROVED, PAUSED...);
    a value Tidings does not know is stored as UNKNOWN with the raw value in the history reason.
    `reason` is Meta's reason (REJECTED templates keep it as their rejection reason).

    Idempotent: a duplicate leaves the history alone and returns `changed=False`. Returns None
    when the template is not known here yet (a sync will bring it).
    """
    with transaction.atomic():
        template = _locked_template(
            waba_id=waba_id, name=name, language=language, meta_template_id=meta_template_id
        )
        if template is None:
            logger.info(
                "status %s for unknown template %s (%s) of WABA %s",
                new_status,
                name,
                language,
                waba_id,
            )
            return None
        update_fields = []
        quality = _quality_from_meta(quality_score)
        if quality and quality != template.quality_score:
            template.quality_score = quality
            update_fields.append("quality_score")
        status = _status_from_meta(new_status)
        if status == TemplateStatus.REJECTED and _reason(reason) != template.rejection_reason:
            template.rejection_reason = _reason(reason)
            update_fields.append("rejection_reason")
        if update_fields:
            template.save(update_fields=[*update_fields, "updated_at"])
        return _change_status(
            template,
            status,
            source=source,
            reason=_status_reason(status, reason, new_status),
        )


def template_record_quality_update(
    *,
    waba_id: str,
    name: str,
    language: str,
    quality_score: str,
    meta_template_id: str | int | None = None,
) -> MessageTemplate | None:
    """Store a quality score Meta reported (`message_template_quality_update`). Returns the
    template, or None when it is not known here yet. A RED score is followed by Meta's own
    PAUSED status update, which is what pauses campaigns."""
    quality = _quality_from_meta(quality_score) or TemplateQualityScore.UNKNOWN
    with transaction.atomic():
        template = _locked_template(
            waba_id=waba_id, name=name, language=language, meta_template_id=meta_template_id
        )
        if template is not None and template.quality_score != quality:
            template.quality_score = quality
            template.save(update_fields=["quality_score", "updated_at"])
    return template


def _locked_template(
    *, waba_id: str, name: str, language: str, meta_template_id: str | int | None
) -> MessageTemplate | None:
    templates = MessageTemplate.objects.select_for_update(of=("self",)).filter(
        account__waba_id=str(waba_id)
    )
    if meta_template_id not in (None, ""):
        by_id = templates.filter(meta_template_id=str(meta_template_id)).first()
        if by_id is not None:
            return by_id
    return (
        templates.filter(name=name, language__iexact=normalize_language(language))
        .order_by("pk")
        .first()
    )


# --- Helpers ----------------------------------------------------------------------------------


def _change_status(
    template: MessageTemplate,
    status: str,
    *,
    source: str,
    reason: str = "",
    changed_by: AbstractBaseUser | None = None,
) -> TemplateStatusUpdate:
    """Set `status` if it differs and record the change; the row must be locked by the caller."""
    old = template.status
    if old == status:
        return TemplateStatusUpdate(template, old, status, changed=False)
    template.status = status
    if status != TemplateStatus.REJECTED and template.rejection_reason:
        template.rejection_reason = ""
    template.save(update_fields=["status", "rejection_reason", "updated_at"])
    _record_change(
        template,
        from_status=old,
        to_status=status,
        source=source,
        reason=reason,
        changed_by=changed_by,
    )
    return TemplateStatusUpdate(template, old, status, changed=True)


def _record_change(
    template: MessageTemplate,
    *,
    from_status: str,
    to_status: str,
    source: str,
    reason: str = "",
    changed_by: AbstractBaseUser | None = None,
) -> TemplateStatusChange:
    return TemplateStatusChange.objects.create(
        template=template,
        from_status=from_status,
        to_status=to_status,
        source=source,
        reason=reason[:500],
        changed_by=changed_by if changed_by is not None and changed_by.is_authenticated else None,
    )


def _status_from_meta(value: str | None) -> str:
    status = (value or "").strip().upper()
    if status in TemplateStatus.values and status != TemplateStatus.DRAFT:
        return status
    return TemplateStatus.UNKNOWN


def _status_reason(status: str, reason: str | None, raw_status: str | None) -> str:
    if status == TemplateStatus.UNKNOWN and raw_status:
        prefix = f"Meta status {raw_status!r}"
        return f"{prefix}: {_reason(reason)}" if _reason(reason) else prefix
    return _reason(reason)


def _reason(value: str | None) -> str:
    text = (value or "").strip()
    return "" if text.upper() in _NO_REASON else text[:500]


def _category_from_meta(value: str | None, current: str | None) -> str:
    category = (value or "").strip().upper()
    if category in TemplateCategory.values:
        return category
    if current:
        return current
    # An unknown category is treated as marketing: it needs the strictest consent.
    logger.warning("unknown template category %r from Meta; using MARKETING", value)
    return TemplateCategory.MARKETING


def _parameter_format_from_meta(value: str | None) -> str:
    fmt = (value or "").strip().upper()
    return fmt if fmt in TemplateParameterFormat.values else TemplateParameterFormat.POSITIONAL


def _quality_from_meta(value: str | None) -> str | None:
    quality = (value or "").strip().upper()
    return quality if quality in TemplateQualityScore.values else None


def _exists(account: WhatsAppAccount, name: str, language: str) -> bool:
    return MessageTemplate.objects.filter(
        account=account, name=name, language__iexact=language
    ).exists()


def _duplicate_problem(account: WhatsAppAccount, name: str, language: str) -> Problem:
    return Problem("name", f"{account.name} already has a template {name} in {language}.")


def template_definition_problems(
    *,
    name: str,
    language: str,
    category: str,
    parameter_format: str,
    components: Any,
    require_examples: bool,
) -> list[Problem]:
    """Every rule a template definition breaks (name, language, category, format, components);
    the same check drafts and submissions go through, for forms that want to show it early."""
    problems = []
    if not re.match(TEMPLATE_NAME_PATTERN, name):
        problems.append(
            Problem(
                "name",
                "Use 1 to 512 lowercase letters, digits and underscores, like order_update.",
            )
        )
    if not _LANGUAGE_PATTERN.match(language):
        problems.append(
            Problem("language", "Use one of Meta's language codes, like en_US, pt_BR or es.")
        )
    if category not in TemplateCategory.values:
        problems.append(Problem("category", "Choose MARKETING, UTILITY or AUTHENTICATION."))
    if parameter_format not in TemplateParameterFormat.values:
        problems.append(Problem("parameter_format", "Choose POSITIONAL or NAMED."))
        return problems
    problems += placeholders.validate_components(
        components,
        parameter_format,
        category=category,
        require_examples=require_examples,
    )
    return problems


def _normalized_components(components: Any) -> Any:
    """Meta's listing shape: component `type`, header `format` and button `type` in uppercase."""
    if not isinstance(components, list):
        return components
    normalized = copy.deepcopy(components)
    for component in normalized:
        if not isinstance(component, dict):
            continue
        for key in ("type", "format"):
            if isinstance(component.get(key), str):
                component[key] = component[key].strip().upper()
        for button in component.get("buttons") or []:
            if isinstance(button, dict) and isinstance(button.get("type"), str):
                button["type"] = button["type"].strip().upper()
    return normalized
