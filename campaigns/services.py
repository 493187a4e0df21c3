"""Writes and business rules of the campaigns app: authoring and the campaign state machine.

Every transition locks the campaign row, checks the current state, and enqueues follow-up work
only after commit, so two clicks, two workers or two beats can never start a campaign twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from templates_app.models import (
    MessageTemplate,
    TemplateCategory,
    TemplateStatus,
    WhatsAppAccount,
)
from templates_app.rendering import variables
from templates_app.services import AccountSyncResult, template_sync_accounts
from whatsapp import WhatsAppProvider

from .errors import CampaignError, IllegalTransition
from .models import Campaign, CampaignStatus, Message, MessageStatus, ScheduleType
from .scheduling import UTC

EDITABLE_STATES = {CampaignStatus.DRAFT, CampaignStatus.SCHEDULED}
AUTHORING_FIELDS = (
    "name",
    "sender",
    "template",
    "default_language",
    "fallback_template",
    "segment",
    "variable_mapping",
    "fallback_variable_mapping",
    "tracked_links",
    "schedule_type",
    "scheduled_at",
    "local_send_time",
    "quiet_hours_start",
    "quiet_hours_end",
    "valid_until",
    "throughput_per_second",
    "frequency_cap_count",
    "frequency_cap_window_hours",
    "unknown_outcome_policy",
    "purpose",
    "lawful_basis",
)
# Meta's most easterly zone: a local-time campaign's first recipients live at UTC+14.
EARLIEST_UTC_OFFSET = dt.timedelta(hours=14)


# --- Authoring --------------------------------------------------------------------------------


def _family_variants(template: MessageTemplate) -> list[MessageTemplate]:
    return list(
        MessageTemplate.objects.filter(
            account_id=template.account_id, name=template.name, status=TemplateStatus.APPROVED
        )
    )


def _mapping_errors(
    mapping: dict[str, Any], templates: list[MessageTemplate], label: str
) -> dict[str, list[str]]:
    from .personalisation import parse_mapping

    errors: dict[str, list[str]] = {}
    try:
        parse_mapping(mapping)
    except ValidationError as error:
        for key, messages in error.message_dict.items():
            errors.setdefault(label, []).extend(f"{key}: {message}" for message in messages)
    wanted: dict[str, list[str]] = {}
    for template in templates:
        for variable in variables(template):
            wanted.setdefault(variable.key, []).append(template.language)
    for key, languages in sorted(wanted.items()):
        if key not in mapping:
            errors.setdefault(label, []).append(
                f"Variable {key} of template '{templates[0].name}' ({', '.join(languages)}) "
                "has no mapping."
            )
    for key in sorted(set(mapping) - set(wanted)):
        errors.setdefault(label, []).append(
            f"{key} is not a variable of template '{templates[0].name}'."
        )
    return errors


def _tracked_link_errors(tracked: Any, templates: list[MessageTemplate]) -> list[str]:
    """Each tracked key is a URL button variable whose template URL is our `/r/{{1}}`."""
    from templates_app.placeholders import buttons_of

    if not isinstance(tracked, dict):
        return ["Must be an object: URL button variable → target address with {value}."]
    problems = []
    for key, target in tracked.items():
        if not isinstance(target, str) or not target.startswith(("https://", "http://")):
            problems.append(f"{key}: the target must be an http(s) address.")
            continue
        for template in templates:
            button_keys = {v.key: v for v in variables(template) if v.button_index is not None}
            if key not in button_keys:
                where = f"'{template.name}' ({template.language})"
                problems.append(f"{key} is not a URL button variable of {where}.")
                continue
            url = buttons_of(template.components)[button_keys[key].button_index].get("url", "")
            if not url.rstrip("/").endswith("/r/{{1}}"):
                problems.append(
                    f"{key}: the button of '{template.name}' ({template.language}) links to "
                    f"{url}; for tracked clicks it must link to <Tidings address>/r/{{{{1}}}}."
                )
    return problems


def campaign_validation_errors(campaign: Campaign) -> dict[str, list[str]]:
    """Everything wrong with a campaign's definition, by field; empty when it can launch."""
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    template = campaign.template
    if campaign.sender.account_id != template.account_id:
        add("sender", "The sender number belongs to another WhatsApp account than the template.")
    variants = _family_variants(template)
    if not any(v.language == campaign.default_language for v in variants):
        add(
            "default_language",
            f"Template '{template.name}' has no approved variant in {campaign.default_language}.",
        )
    if variants:
        errors.update(_mapping_errors(campaign.variable_mapping, variants, "variable_mapping"))
    if campaign.tracked_links:
        problems = _tracked_link_errors(campaign.tracked_links, variants)
        if problems:
            errors["tracked_links"] = problems
    if campaign.fallback_template_id:
        fallback = campaign.fallback_template
        if fallback.account_id != template.account_id:
            add("fallback_template", "The fallback template belongs to another account.")
        elif fallback.status != TemplateStatus.APPROVED:
            add("fallback_template", f"The fallback template is {fallback.status}, not APPROVED.")
        else:
            fallback_errors = _mapping_errors(
                campaign.fallback_variable_mapping, [fallback], "fallback_variable_mapping"
            )
            uses_data_source = [
                key
                for key, spec in campaign.fallback_variable_mapping.items()
                if isinstance(spec, dict) and spec.get("source") == "data_source"
            ]
            if uses_data_source:
                fallback_errors.setdefault("fallback_variable_mapping", []).append(
                    "The fallback must not depend on a data source "
                    f"({', '.join(uses_data_source)}): it is what is sent when data is missing."
                )
            errors.update(fallback_errors)
    elif campaign.fallback_variable_mapping:
        add("fallback_variable_mapping", "Set a fallback template or leave this empty.")
    if campaign.segment_id is None:
        add("segment", "Choose the audience (a segment).")
    if campaign.schedule_type == ScheduleType.AT and not campaign.scheduled_at:
        add("scheduled_at", "Give the date and time to send at.")
    if campaign.schedule_type == ScheduleType.LOCAL_TIME:
        if not campaign.scheduled_at:
            add("scheduled_at", "Give the date to send on.")
        if not campaign.local_send_time:
            add("local_send_time", "Give the local time to send at in each recipient's timezone.")
    if (campaign.quiet_hours_start is None) != (campaign.quiet_hours_end is None):
        add("quiet_hours_end", "Quiet hours need both a start and an end.")
    if (campaign.frequency_cap_count is None) != (campaign.frequency_cap_window_hours is None):
        add("frequency_cap_window_hours", "A frequency cap needs both a count and a window.")
    if campaign.throughput_per_second and (
        campaign.throughput_per_second > campaign.sender.throughput_per_second
    ):
        add(
            "throughput_per_second",
            f"At most {campaign.sender.throughput_per_second}/s: the sender number's Meta cap.",
        )
    if (
        campaign.valid_until
        and campaign.scheduled_at
        and campaign.valid_until <= (campaign.scheduled_at)
    ):
        add("valid_until", "The validity period must end after the scheduled time.")
    return errors


def _check_definition(campaign: Campaign) -> None:
    errors = campaign_validation_errors(campaign)
    if errors:
        raise CampaignError("The campaign cannot be saved as it is.", field_errors=errors)


def campaign_create(*, created_by: Any = None, **fields: Any) -> Campaign:
    """Create a draft campaign; every field is checked, and refusals name the field."""
    unknown = set(fields) - set(AUTHORING_FIELDS)
    if unknown:
        raise CampaignError(f"Unknown fields: {', '.join(sorted(unknown))}.")
    campaign = Campaign(created_by=created_by, **fields)
    if not campaign.default_language and campaign.template_id:
        campaign.default_language = campaign.template.language
    _full_clean(campaign)
    _check_definition(campaign)
    campaign.save()
    return campaign


def campaign_update(*, campaign: Campaign, **fields: Any) -> Campaign:
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if locked.status not in EDITABLE_STATES:
            raise IllegalTransition(
                f"A {locked.get_status_display().lower()} campaign cannot be edited."
            )
        for name, value in fields.items():
            if name not in AUTHORING_FIELDS:
                raise CampaignError(f"Unknown field: {name}.")
            setattr(locked, name, value)
        _full_clean(locked)
        _check_definition(locked)
        locked.save()
    return locked


def _full_clean(campaign: Campaign) -> None:
    try:
        campaign.full_clean(exclude=["created_by", "status"])
    except ValidationError as error:
        raise CampaignError(
            "The campaign cannot be saved as it is.", field_errors=error.message_dict
        ) from error


# --- State machine ----------------------------------------------------------------------------


def _enqueue(task: Callable[..., Any], *args: Any) -> None:
    transaction.on_commit(partial(task.delay, *args))


def _transition(
    campaign_id: int,
    *,
    allowed_from: set[str],
    to: str,
    action: str,
    reason: str = "",
    extra: Callable[[Campaign], None] | None = None,
) -> Campaign:
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
        if campaign.status not in allowed_from:
            raise IllegalTransition(
                f"Cannot {action} a {campaign.get_status_display().lower()} campaign."
            )
        campaign.status = to
        campaign.status_reason = reason
        if extra:
            extra(campaign)
        campaign.save(
            update_fields=["status", "status_reason", "started_at", "finished_at", "updated_at"]
        )
    return campaign


def campaign_start_instant(campaign: Campaign) -> dt.datetime:
    """When a scheduled campaign is due to start (and be planned)."""
    now = timezone.now()
    if campaign.schedule_type == ScheduleType.AT and campaign.scheduled_at:
        return campaign.scheduled_at
    if campaign.schedule_type == ScheduleType.LOCAL_TIME and campaign.scheduled_at:
        wall = dt.datetime.combine(campaign.scheduled_at.date(), campaign.local_send_time)
        return (wall - EARLIEST_UTC_OFFSET).replace(tzinfo=UTC)
    return now


def campaign_schedule(*, campaign_id: int) -> Campaign:
    """Draft → scheduled: the beat starts it when due. The definition must be valid."""
    campaign = Campaign.objects.select_related("template", "sender").get(pk=campaign_id)
    _check_definition(campaign)
    return _transition(
        campaign_id,
        allowed_from={CampaignStatus.DRAFT},
        to=CampaignStatus.SCHEDULED,
        action="schedule",
    )


def campaign_start(*, campaign_id: int) -> Campaign:
    """Draft or scheduled → running now: plan the audience, then dispatch."""
    from . import tasks

    campaign = Campaign.objects.select_related("template", "sender").get(pk=campaign_id)
    _check_definition(campaign)

    def started(locked: Campaign) -> None:
        locked.started_at = timezone.now()
        _enqueue(tasks.plan_campaign, locked.pk)

    return _transition(
        campaign_id,
        allowed_from={CampaignStatus.DRAFT, CampaignStatus.SCHEDULED},
        to=CampaignStatus.RUNNING,
        action="start",
        extra=started,
    )


def campaign_pause(*, campaign_id: int, reason: str = "") -> Campaign:
    """Running → paused. Messages already handed to Meta finish; nothing else is claimed."""
    return _transition(
        campaign_id,
        allowed_from={CampaignStatus.RUNNING},
        to=CampaignStatus.PAUSED,
        action="pause",
        reason=reason,
    )


def campaign_resume(*, campaign_id: int) -> Campaign:
    """Paused or stopped → running; continues with what is still queued, never resends."""
    from . import tasks

    campaign = Campaign.objects.select_related("template", "sender").get(pk=campaign_id)
    _check_definition(campaign)

    def resumed(locked: Campaign) -> None:
        _enqueue(tasks.dispatch_campaign, locked.pk)

    return _transition(
        campaign_id,
        allowed_from={CampaignStatus.PAUSED, CampaignStatus.STOPPED},
        to=CampaignStatus.RUNNING,
        action="resume",
        extra=resumed,
    )


def campaign_cancel(*, campaign_id: int) -> Campaign:
    """Cancel for good: whatever has not gone out is skipped with the reason `cancelled`."""

    def cancelled(locked: Campaign) -> None:
        locked.finished_at = timezone.now()
        Message.objects.filter(
            campaign_id=locked.pk, status__in=[MessageStatus.QUEUED, MessageStatus.DEFERRED]
        ).update(status=MessageStatus.SKIPPED, reason="cancelled", updated_at=timezone.now())

    return _transition(
        campaign_id,
        allowed_from={
            CampaignStatus.DRAFT,
            CampaignStatus.SCHEDULED,
            CampaignStatus.RUNNING,
            CampaignStatus.PAUSED,
            CampaignStatus.STOPPED,
        },
        to=CampaignStatus.CANCELLED,
        action="cancel",
        extra=cancelled,
    )


def campaign_stop(*, campaign_id: int, reason: str) -> Campaign | None:
    """Stop with a reason (account-level error, template paused); resume continues later.

    Returns None when the campaign was not in a state that can be stopped, so callers reacting
    to a burst of identical errors need no pre-check.
    """
    try:
        return _transition(
            campaign_id,
            allowed_from={CampaignStatus.RUNNING, CampaignStatus.SCHEDULED, CampaignStatus.PAUSED},
            to=CampaignStatus.STOPPED,
            action="stop",
            reason=reason,
        )
    except IllegalTransition:
        return None


def campaign_complete_if_done(*, campaign_id: int) -> bool:
    """Running → completed once nothing is queued, deferred or in flight."""
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
        if campaign.status != CampaignStatus.RUNNING or campaign.planned_at is None:
            return False
        pending = Message.objects.filter(
            campaign_id=campaign_id,
            status__in=[MessageStatus.QUEUED, MessageStatus.DEFERRED, MessageStatus.SENDING],
        ).exists()
        if pending:
            return False
        campaign.status = CampaignStatus.COMPLETED
        campaign.finished_at = timezone.now()
        campaign.save(update_fields=["status", "finished_at", "updated_at"])
    return True


_DONE_BY_META = {
    TemplateStatus.PAUSED: "paused by Meta",
    TemplateStatus.DISABLED: "disabled by Meta",
    TemplateStatus.DELETED: "deleted on Meta",
    TemplateStatus.PENDING_DELETION: "being deleted on Meta",
    TemplateStatus.REJECTED: "rejected by Meta",
}


def campaigns_stop_using_template(*, template: MessageTemplate, reason: str = "") -> list[int]:
    """A template became unsendable (paused, disabled…): stop every running, scheduled or
    paused campaign using its family, with `reason` on each (by default, that the template was
    paused, disabled... by Meta). Paused campaigns are stopped too so that the reason they show
    is the template's, and a resume is refused until Meta approves the template again (resuming
    checks the definition, which needs an approved variant). Returns the stopped campaigns' ids.
    """
    if not reason:
        done = _DONE_BY_META.get(template.status, f"set to {template.status} by Meta")
        reason = (
            f"Template {template.name} ({template.language}) was {done}; resume the campaign "
            "once Meta approves the template again."
        )
    ids = list(
        Campaign.objects.filter(
            status__in=[CampaignStatus.RUNNING, CampaignStatus.SCHEDULED, CampaignStatus.PAUSED],
        )
        .filter(template__account_id=template.account_id, template__name=template.name)
        .order_by("pk")
        .values_list("id", flat=True)
    )
    stopped = []
    for campaign_id in ids:
        if campaign_stop(campaign_id=campaign_id, reason=reason[:500]):
            stopped.append(campaign_id)
    return stopped


def campaigns_sync_templates(
    *,
    accounts: Iterable[WhatsAppAccount] | None = None,
    provider: WhatsAppProvider | None = None,
) -> list[AccountSyncResult]:
    """The templates sync every entry point runs (TIDINGS_TEMPLATE_SYNC_SERVICE): sync, then stop
    the campaigns using each template the sync found unsendable (paused, disabled, deleted...),
    as Meta's status webhooks do. Noted on the account's result, so the person syncing sees it.
    """
    results = template_sync_accounts(accounts=accounts, provider=provider)
    for result in results:
        for update in result.status_updates:
            if not update.stops_campaigns:
                continue
            stopped = campaigns_stop_using_template(template=update.template)
            if stopped:
                ids = ", ".join(str(campaign_id) for campaign_id in stopped)
                result.notes.append(
                    f"{update.template} is {update.new_status}: stopped campaign(s) {ids}"
                )
    return results


def consent_category_for(campaign: Campaign) -> str:
    """Marketing templates need marketing consent; utility and authentication need utility."""
    if campaign.template.category == TemplateCategory.MARKETING:
        return "marketing"
    return "utility"


def _retryable_code(code: int | None) -> bool:
    from whatsapp.base import ErrorClass
    from whatsapp.errors import lookup

    if code is None:
        return True  # a transport failure that ran out of attempts
    spec = lookup(code)
    return spec is not None and spec.error_class == ErrorClass.RETRYABLE


def campaign_retry_failed(*, campaign_id: int) -> Campaign:
    """Queue again the messages that failed for a reason worth retrying (not opted out, not
    unreachable); a completed campaign runs again for them."""
    from . import tasks

    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
        allowed = {
            CampaignStatus.RUNNING,
            CampaignStatus.PAUSED,
            CampaignStatus.COMPLETED,
            CampaignStatus.STOPPED,
        }
        if campaign.status not in allowed:
            raise IllegalTransition(
                f"Cannot retry failures of a {campaign.get_status_display().lower()} campaign."
            )
        failed = Message.objects.filter(campaign_id=campaign_id, status=MessageStatus.FAILED)
        codes = set(failed.values_list("error_code", flat=True).distinct())
        retryable = [code for code in codes if _retryable_code(code)]
        if not retryable:
            raise CampaignError("No failed message of this campaign is worth retrying.")
        condition = Q(error_code__in=[c for c in retryable if c is not None])
        if None in retryable:
            condition |= Q(error_code__isnull=True)
        now = timezone.now()
        failed.filter(condition).update(
            status=MessageStatus.QUEUED,
            reason="retry_requested",
            not_before=now,
            failed_at=None,
            updated_at=now,
        )
        if campaign.status == CampaignStatus.COMPLETED:
            campaign.status = CampaignStatus.RUNNING
            campaign.finished_at = None
            campaign.save(update_fields=["status", "finished_at", "updated_at"])
        if campaign.status == CampaignStatus.RUNNING:
            _enqueue(tasks.dispatch_campaign, campaign.pk)
    return campaign


def campaign_test_send(*, campaign_id: int, contact: Any, triggered_by: Any = None) -> Message:
    """Send the campaign's message, personalised, to one (staff) contact now.

    It goes through the same consent, personalisation and validation rules as the real thing,
    so a test send never reaches anyone who has not opted in.
    """
    import uuid

    from .personalisation import personalise_contacts
    from .planning import VariantChooser
    from .transactional import message_send_transactional

    campaign = Campaign.objects.select_related("template__account", "sender").get(pk=campaign_id)
    outcome = personalise_contacts(
        mapping=campaign.variable_mapping,
        fallback_mapping=(
            campaign.fallback_variable_mapping if campaign.fallback_template_id else None
        ),
        contacts=[contact],
    )[contact.id]
    if outcome.variant is None:
        raise CampaignError(f"This contact's message cannot be personalised: {outcome.reason}")
    template = (
        campaign.fallback_template
        if outcome.variant == "fallback"
        else VariantChooser(campaign).for_language(contact.language or "")
    )
    if template is None:
        raise CampaignError("The template has no approved variant for this contact.")
    return message_send_transactional(
        contact=contact,
        template=template,
        sender=campaign.sender,
        values=outcome.values,
        idempotency_key=f"test:{campaign.pk}:{uuid.uuid4().hex}",
        fingerprint="",
        triggered_by=triggered_by,
    ).message
