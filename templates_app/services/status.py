"""Template statuses: how Meta's values are read, and every status change with its history.

Every status change goes through `change_status`, so the history (`TemplateStatusChange`) is
complete whatever changed the status: a person creating a draft, a submission, a sync or one of
Meta's webhooks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from ..models import (
    MessageTemplate,
    TemplateCategory,
    TemplateParameterFormat,
    TemplateQualityScore,
    TemplateStatus,
    TemplateStatusChange,
    normalize_language,
)

logger = logging.getLogger(__name__)

_UNSENDABLE_PAUSES = frozenset({TemplateStatus.PAUSED, TemplateStatus.DISABLED})
# Meta's "no reason" value on status webhooks and in `rejected_reason`.
_NO_REASON = {"", "NONE"}


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

    @property
    def stops_campaigns(self) -> bool:
        """A known template that can no longer be sent: approved before (now paused, disabled,
        deleted...), or paused or disabled now. A template just created by a sync was never
        sent, so it stops nothing (not even as a paused new variant of a family in use)."""
        return bool(self.old_status) and (self.became_unsendable or self.pauses_campaigns)


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
    when the template is not known here yet, or is a local draft and Meta's id is not given (a
    sync will bring or link it).
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
        if not template.meta_template_id:
            # A local draft that reached Meta some other way: link it, or wait for a sync that can.
            if meta_template_id in (None, ""):
                logger.info(
                    "status %s for draft %s without Meta's id; ignored", new_status, template
                )
                return None
            template.meta_template_id = str(meta_template_id)
            update_fields.append("meta_template_id")
        quality = quality_from_meta(quality_score)
        if quality and quality != template.quality_score:
            template.quality_score = quality
            update_fields.append("quality_score")
        status = status_from_meta(new_status)
        if status == TemplateStatus.REJECTED and reason_text(reason) != template.rejection_reason:
            template.rejection_reason = reason_text(reason)
            update_fields.append("rejection_reason")
        if update_fields:
            template.save(update_fields=[*update_fields, "updated_at"])
        return change_status(
            template,
            status,
            source=source,
            reason=status_reason(status, reason, new_status),
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
    quality = quality_from_meta(quality_score) or TemplateQualityScore.UNKNOWN
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


def change_status(
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
    record_change(
        template,
        from_status=old,
        to_status=status,
        source=source,
        reason=reason,
        changed_by=changed_by,
    )
    return TemplateStatusUpdate(template, old, status, changed=True)


def record_change(
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


def status_from_meta(value: str | None) -> str:
    status = (value or "").strip().upper()
    if status in TemplateStatus.values and status != TemplateStatus.DRAFT:
        return status
    return TemplateStatus.UNKNOWN


def status_reason(status: str, reason: str | None, raw_status: str | None) -> str:
    if status == TemplateStatus.UNKNOWN and raw_status:
        prefix = f"Meta status {raw_status!r}"
        return f"{prefix}: {reason_text(reason)}" if reason_text(reason) else prefix
    return reason_text(reason)


def reason_text(value: str | None) -> str:
    text = (value or "").strip()
    return "" if text.upper() in _NO_REASON else text[:500]


def category_from_meta(value: str | None, current: str | None) -> str:
    category = (value or "").strip().upper()
    if category in TemplateCategory.values:
        return category
    if current:
        return current
    # An unknown category is treated as marketing: it needs the strictest consent.
    logger.warning("unknown template category %r from Meta; using MARKETING", value)
    return TemplateCategory.MARKETING


def parameter_format_from_meta(value: str | None) -> str:
    fmt = (value or "").strip().upper()
    return fmt if fmt in TemplateParameterFormat.values else TemplateParameterFormat.POSITIONAL


def quality_from_meta(value: str | None) -> str | None:
    quality = (value or "").strip().upper()
    return quality if quality in TemplateQualityScore.values else None
