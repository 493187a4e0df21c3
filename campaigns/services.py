"""Writes and business rules of the campaigns app: authoring and the campaign state machine.

Every transition locks the campaign row, checks the current state, and enqueues follow-up work
only after commit, so two clicks, two workers or two beats can never start a campaign twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from contacts.models import Contact
from templates_app.models import MessageTemplate, TemplateStatus, WhatsAppAccount
from templates_app.rendering import (
    TemplateValuesError,
    template_message_for,
    validate_values,
    variables,
)
from templates_app.services import AccountSyncResult, template_sync_accounts
from whatsapp import WhatsAppProvider

from .errors import CampaignError, IllegalTransition
from .models import Campaign, CampaignStatus, Message, MessageStatus, ScheduleType, SkipReason
from .scheduling import UTC
from .status_history import campaign_status_changes_record

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
        before_value = urlsplit(target.split("{value}", 1)[0])
        if not before_value.netloc or not (before_value.path or before_value.query):
            # The host must be fixed: a rendered value there could send clicks anywhere, and
            # retention could not cut the address back to the campaign's own.
            problems.append(
                f"{key}: put {{value}} in the path or query, after the host "
                "(https://shop.example.com/orders/{value})."
            )
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


def campaign_validation_errors(
    campaign: Campaign, *, resuming: bool = False
) -> dict[str, list[str]]:
    """Everything wrong with a campaign's definition, by field; empty when it can launch.

    `resuming` leaves out the validity period: a campaign resumed after it ended expires what
    is left instead of being stuck in pause."""
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
        errors.update(_fallback_errors(campaign, template))
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
    if campaign.valid_until and not resuming:
        problem = _validity_problem(campaign)
        if problem:
            add("valid_until", problem)
    return errors


def _fallback_errors(campaign: Campaign, template: MessageTemplate) -> dict[str, list[str]]:
    """The fallback is a family like the main template, of the same category: consent is checked
    for the main template's category, so a marketing fallback on a utility campaign would reach
    people who never agreed to marketing."""
    fallback = campaign.fallback_template
    if fallback.account_id != template.account_id:
        return {"fallback_template": ["The fallback template belongs to another account."]}
    if fallback.status != TemplateStatus.APPROVED:
        return {"fallback_template": [f"The fallback template is {fallback.status}, not APPROVED."]}
    variants = _family_variants(fallback)
    other_category = sorted(
        f"{variant.language} is {variant.category}"
        for variant in variants
        if variant.category != template.category
    )
    if other_category:
        return {
            "fallback_template": [
                f"The fallback template '{fallback.name}' must be {template.category} like "
                f"'{template.name}', whose consent is checked ({', '.join(other_category)})."
            ]
        }
    errors = _mapping_errors(
        campaign.fallback_variable_mapping, variants, "fallback_variable_mapping"
    )
    uses_data_source = [
        key
        for key, spec in campaign.fallback_variable_mapping.items()
        if isinstance(spec, dict) and spec.get("source") == "data_source"
    ]
    if uses_data_source:
        errors.setdefault("fallback_variable_mapping", []).append(
            "The fallback must not depend on a data source "
            f"({', '.join(uses_data_source)}): it is what is sent when data is missing."
        )
    return errors


def _validity_problem(campaign: Campaign) -> str:
    """Whether the validity period ends before the campaign would have sent to everyone."""
    valid_until = campaign.valid_until
    if valid_until <= timezone.now():
        return "The validity period is already over."
    scheduled = campaign.scheduled_at
    if campaign.schedule_type == ScheduleType.AT and scheduled and valid_until <= scheduled:
        return "The validity period must end after the scheduled time."
    last = (
        campaign_last_local_send(campaign)
        if campaign.schedule_type == ScheduleType.LOCAL_TIME
        and scheduled
        and campaign.local_send_time
        else None
    )
    if last is not None:
        last_zone, last_instant = last
        if valid_until <= last_instant:
            local = campaign.local_send_time.strftime("%H:%M")
            return (
                f"The validity period must end after {local} in {last_zone} "
                f"({last_instant:%Y-%m-%d %H:%M} UTC), the audience's last timezone to reach "
                "that time; otherwise those messages all expire."
            )
    return ""


def campaign_last_local_send(campaign: Campaign) -> tuple[str, dt.datetime] | None:
    """For a recipient-local campaign: the audience's timezone whose send time comes last, and
    that instant (quiet hours included); None while the audience is empty."""
    from django.conf import settings

    from contacts.selectors import segment_contacts

    from .scheduling import after_quiet_hours, local_send_instant, zone

    if campaign.segment_id is None:
        return None
    names = (
        segment_contacts(campaign.segment).order_by().values_list("timezone", flat=True).distinct()
    )
    zones = {zone(name, settings.TIDINGS_DEFAULT_CONTACT_TIMEZONE).key for name in names}
    if not zones:
        return None
    day = campaign.scheduled_at.date()
    # The send date's own occurrence, however far in the past the date is.
    beginning = dt.datetime.combine(day, dt.time.min, tzinfo=UTC) - dt.timedelta(days=1)

    def instant(name: str) -> dt.datetime:
        tz = zone(name)
        sent = local_send_instant(
            day=day, wall_time=campaign.local_send_time, tz=tz, not_before=beginning
        )
        return after_quiet_hours(
            sent, tz=tz, start=campaign.quiet_hours_start, end=campaign.quiet_hours_end
        )

    last = max(zones, key=lambda name: (instant(name), name))
    return last, instant(last)


def _check_definition(campaign: Campaign, *, resuming: bool = False) -> None:
    errors = campaign_validation_errors(campaign, resuming=resuming)
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
        before = campaign.status
        campaign.status = to
        campaign.status_reason = reason
        if extra:
            extra(campaign)
        campaign.save(
            update_fields=["status", "status_reason", "started_at", "finished_at", "updated_at"]
        )
        campaign_status_changes_record(changes=[(campaign.pk, before, to, reason)])
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
    _check_definition(campaign, resuming=True)

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
        campaign_status_changes_record(
            changes=[(campaign.pk, CampaignStatus.RUNNING, CampaignStatus.COMPLETED, "")]
        )
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


def campaign_required_consent_scope(campaign: Campaign) -> str:
    """The consent a recipient must have given: the main template's category decides (marketing
    templates need marketing consent; utility and authentication need utility consent)."""
    from contacts.selectors import CATEGORY_SCOPES

    return str(CATEGORY_SCOPES[campaign.template.category.upper()])


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
            campaign_status_changes_record(
                changes=[
                    (
                        campaign.pk,
                        CampaignStatus.COMPLETED,
                        CampaignStatus.RUNNING,
                        "retrying failed messages",
                    )
                ]
            )
        if campaign.status == CampaignStatus.RUNNING:
            _enqueue(tasks.dispatch_campaign, campaign.pk)
    return campaign


def campaign_delete(*, campaign_id: int) -> None:
    """Delete a draft. Anything further along stays for the audit (cancel it instead)."""
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
        if campaign.status != CampaignStatus.DRAFT:
            raise IllegalTransition(
                f"Only drafts can be deleted; cancel a {campaign.get_status_display().lower()} "
                "campaign instead."
            )
        if campaign.messages.exists() or campaign.test_messages.exists():
            raise CampaignError(
                "This draft has messages in the ledger (test sends), which keep it for the "
                "audit; cancel it instead."
            )
        campaign.delete()


# --- Test sends -------------------------------------------------------------------------------

TEST_SEND_LEASE_SECONDS = 120


def campaign_test_send(
    *,
    campaign_id: int,
    contact: Contact | None = None,
    phone: str | None = None,
    triggered_by: Any = None,
) -> Message:
    """Send the campaign's message now, as a test, to one contact or to a staff number.

    * To a contact: personalised with that contact's own data, and only if it has the consent the
      campaign needs, as for a real send.
    * To a phone number (a staff member's): personalised with the data of the campaign's first
      recipient, so staff see exactly what that customer would get. No consent is checked for the
      staff number, so only people who may launch the campaign may do this.

    The message is recorded in the ledger as a test of the campaign (`test_of_campaign`, with no
    `campaign`), so it never counts in the campaign's stats or in frequency caps. Tracked links
    get a token as in the campaign. It is sent at once, at the sender number's shared rate, and
    comes back sent (with its wamid) or failed with Meta's error; it is never retried.
    """
    from contacts.selectors import contacts_consent_for_category

    from .personalisation import personalise_contacts
    from .planning import VariantChooser

    if (contact is None) == (not phone):
        raise CampaignError(
            "Give either a staff phone number or a contact to send the test to.",
            field_errors={"phone": ["Give either a phone number or a contact, not both."]},
        )
    campaign = Campaign.objects.select_related(
        "template__account", "sender", "fallback_template__account"
    ).get(pk=campaign_id)
    errors = campaign_validation_errors(campaign, resuming=True)
    if errors:
        raise CampaignError("Fix the campaign before sending a test.", field_errors=errors)
    scope = campaign_required_consent_scope(campaign)
    if phone:
        recipient = _staff_recipient(phone=phone, triggered_by=triggered_by)
        subject = _first_recipient(campaign)
    else:
        if contact.erased_at is not None:
            raise CampaignError(
                "This contact was erased and can never be messaged.",
                field_errors={"contact": ["This contact was erased."]},
            )
        recipient = subject = contact
    consent = contacts_consent_for_category(
        contact_ids=[recipient.pk], category=campaign.template.category
    )
    if not phone and recipient.pk not in consent:
        raise CampaignError(
            f"The contact has not opted in to {scope} messages.",
            field_errors={"contact": [f"No {scope} consent."]},
        )
    outcome = personalise_contacts(
        mapping=campaign.variable_mapping,
        fallback_mapping=(
            campaign.fallback_variable_mapping if campaign.fallback_template_id else None
        ),
        contacts=[subject],
    )[subject.pk]
    if outcome.variant is None:
        raise CampaignError(f"The message cannot be personalised: {outcome.reason}")
    template = VariantChooser(campaign).template_for(
        language=subject.language or "", variant=outcome.variant
    )
    if template is None:
        raise CampaignError(
            f"The template has no approved variant for {subject.language or 'this contact'}."
        )
    values = dict(outcome.values)
    problems = validate_values(template, values, allow_extra=True)
    if problems:
        raise CampaignError(
            "The personalised message does not fit the template.",
            field_errors={"variable_mapping": problems},
        )
    message = _record_test_message(
        campaign=campaign,
        recipient=recipient,
        template=template,
        values=values,
        consent_record_id=consent.get(recipient.pk),
        triggered_by=triggered_by,
    )
    _send_test_message(campaign=campaign, message=message, template=template, values=values)
    message.refresh_from_db()
    return message


def _staff_recipient(*, phone: str, triggered_by: Any) -> Contact:
    from contacts.phones import InvalidPhoneNumber, normalise_phone
    from contacts.selectors import phone_was_erased
    from contacts.services import contact_create

    if triggered_by is None or not triggered_by.has_perm("campaigns.launch_campaign"):
        raise CampaignError(
            "Only people who may launch campaigns can send a test to a staff number.",
            field_errors={
                "phone": [
                    "A test to a staff number skips the consent check: it needs the permission "
                    "to launch campaigns."
                ]
            },
        )
    try:
        number = normalise_phone(phone)
    except InvalidPhoneNumber as error:
        raise CampaignError(
            "That is not a phone number.", field_errors={"phone": [str(error)]}
        ) from error
    if phone_was_erased(number):
        raise CampaignError(
            "This number belongs to an erased contact and can never be messaged.",
            field_errors={"phone": ["This number was erased."]},
        )
    found = Contact.objects.filter(phone=number, erased_at__isnull=True).first()
    if found is not None:
        return found
    return contact_create(phone=number, name="Staff test number", tags=["staff"])


def _first_recipient(campaign: Campaign) -> Contact:
    """The first contact of the audience the campaign would be sent to, as planning decides."""
    from .planning import VariantChooser, audience_chunks, decide_chunk

    variants = VariantChooser(campaign)
    now = timezone.now()
    if campaign.segment_id is not None:
        for contacts in audience_chunks(campaign):
            for decision in decide_chunk(campaign, contacts, variants=variants, now=now):
                if decision.status == MessageStatus.QUEUED:
                    return Contact.objects.get(pk=decision.contact_id)
    raise CampaignError(
        "Nobody in the audience would get this campaign, so there is no one whose data the test "
        "could show; send the test to a contact instead.",
        field_errors={"phone": ["The audience has no recipient to personalise the test with."]},
    )


def _record_test_message(
    *,
    campaign: Campaign,
    recipient: Contact,
    template: MessageTemplate,
    values: dict[str, str],
    consent_record_id: int | None,
    triggered_by: Any,
) -> Message:
    """The ledger row, already claimed (`sending` with a lease) and committed before it leaves:
    a crash mid-send leaves it to the reconciler, never to a second send."""
    import uuid

    from .links import attach_tracked_links

    now = timezone.now()
    with transaction.atomic():
        message = Message.objects.create(
            test_of_campaign=campaign,
            contact=recipient,
            sender=campaign.sender,
            template=template,
            category=template.category,
            parameters=values,
            idempotency_key=f"test:{campaign.pk}:{uuid.uuid4().hex}",
            status=MessageStatus.SENDING,
            attempts=1,
            consent_record_id=consent_record_id,
            queued_at=now,
            not_before=now,
            sending_at=now,
            lease_expires_at=now + dt.timedelta(seconds=TEST_SEND_LEASE_SECONDS),
            triggered_by=triggered_by if getattr(triggered_by, "pk", None) else None,
        )
        attach_tracked_links(campaign.tracked_links, [(message, template, values)])
        Message.objects.filter(pk=message.pk).update(parameters=values)
    return message


def _send_test_message(
    *, campaign: Campaign, message: Message, template: MessageTemplate, values: dict[str, str]
) -> None:
    from whatsapp import get_provider
    from whatsapp.base import SendAccepted

    from . import throttle
    from .dispatch import callback_data_for, messages_hand_over, record_marketing_opt_outs
    from .sending import SendJob, send_paced

    now = timezone.now()
    sending = Message.objects.filter(pk=message.pk, status=MessageStatus.SENDING)
    try:
        outbound = template_message_for(
            template,
            to=message.contact.phone,
            values=values,
            biz_opaque_callback_data=callback_data_for(message.pk),
        )
    except TemplateValuesError:
        sending.update(
            status=MessageStatus.SKIPPED,
            reason=SkipReason.INVALID_PARAMETERS,
            lease_expires_at=None,
            updated_at=now,
        )
        return
    job = SendJob(message.pk, outbound)
    sender = campaign.sender
    outcome = send_paced(
        provider=get_provider(),
        phone_number_id=sender.phone_number_id,
        jobs=[job],
        reserve=lambda wanted, horizon: throttle.reserve(
            sender_key=sender.phone_number_id,
            rate_per_second=campaign.effective_throughput,
            wanted=wanted,
            horizon_seconds=horizon,
        ),
        # Consent (or the launch permission, for a staff number) was checked moments ago.
        hand_over=lambda batch: messages_hand_over(
            batch, token=None, contact_of={message.pk: message.contact_id}, category=None
        )[0],
    ).outcomes.get(message.pk)
    now = timezone.now()
    if isinstance(outcome, SendAccepted):
        sending.update(
            status=MessageStatus.SENT,
            wamid=outcome.wamid,
            sent_at=now,
            lease_expires_at=None,
            updated_at=now,
        )
        return
    if outcome is None:
        sending.update(
            status=MessageStatus.FAILED,
            reason="not_sent",
            failed_at=now,
            lease_expires_at=None,
            updated_at=now,
        )
        return
    sending.update(
        status=MessageStatus.FAILED,
        reason="meta_error",
        error_code=outcome.code,
        error_title=(outcome.title or outcome.message)[:300],
        error_details=outcome.details or "",
        failed_at=now,
        lease_expires_at=None,
        updated_at=now,
    )
    if outcome.opt_out_marketing:
        record_marketing_opt_outs([message.contact_id], evidence=f"Meta error {outcome.code}")
