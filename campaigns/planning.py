"""Planning: turn a campaign's audience into ledger rows, queued or skipped with a reason.

The audience is streamed in id chunks, so a 1,000,000-contact segment is never held in memory.
Rows are bulk-created with conflicts ignored on the (campaign, contact) constraint, which makes
re-planning idempotent: running it twice (a retried task, two overlapping beats) adds nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import phonenumbers
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from contacts.models import Contact
from contacts.selectors import contacts_consent_for_category, iter_id_chunks, segment_contacts
from templates_app.models import MessageTemplate, TemplateCategory, TemplateStatus
from templates_app.selectors import template_variant_for

from .frequency import frequency_capped_contact_ids
from .models import Campaign, Message, MessageStatus, ScheduleType, SkipReason
from .scheduling import after_quiet_hours, local_send_instant, zone

PLAN_CHUNK_SIZE = 2000
CONTACT_FIELDS = ("id", "phone", "language", "timezone", "erased_at")


@dataclass
class PlanDecision:
    contact_id: int
    template_id: int | None
    status: str
    reason: str = ""
    not_before: dt.datetime | None = None
    consent_record_id: int | None = None


@dataclass
class PlanSummary:
    queued: int = 0
    skipped: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def add(self, decision: PlanDecision) -> None:
        if decision.status == MessageStatus.QUEUED:
            self.queued += 1
        else:
            self.skipped += 1
            self.reasons[decision.reason] = self.reasons.get(decision.reason, 0) + 1


def campaign_idempotency_key(campaign_id: int, contact_id: int) -> str:
    return f"campaign:{campaign_id}:{contact_id}"


class VariantChooser:
    """The family's approved variant per contact language, looked up once per language.

    The fallback template is a family too: a contact gets its variant by the same rules as the
    main template's (exact language, base language, the campaign's default language), else the
    fallback variant the campaign names.
    """

    def __init__(self, campaign: Campaign) -> None:
        self._campaign = campaign
        self._by_language: dict[str, MessageTemplate | None] = {}
        self._fallback_by_language: dict[str, MessageTemplate | None] = {}

    def for_language(self, language: str) -> MessageTemplate | None:
        if language not in self._by_language:
            template = self._campaign.template
            self._by_language[language] = template_variant_for(
                account=template.account,
                name=template.name,
                language=language or None,
                default_language=self._campaign.default_language,
            )
        return self._by_language[language]

    def fallback_for_language(self, language: str) -> MessageTemplate | None:
        """The fallback family's variant for `language`; None without a sendable one.

        A variant whose category differs from the main template's is never used: consent was
        checked for the main template's category (Meta can recategorise a template).
        """
        if language not in self._fallback_by_language:
            fallback = self._campaign.fallback_template
            variant = None
            if fallback is not None:
                variant = template_variant_for(
                    account=fallback.account,
                    name=fallback.name,
                    language=language or None,
                    default_language=self._campaign.default_language,
                )
                if variant is None and fallback.status == TemplateStatus.APPROVED:
                    variant = fallback
                if variant is not None and variant.category != self._campaign.template.category:
                    variant = None
            self._fallback_by_language[language] = variant
        return self._fallback_by_language[language]

    def template_for(self, *, language: str, variant: str) -> MessageTemplate | None:
        """The variant to send for a personalisation outcome ("primary" or "fallback")."""
        if variant == "fallback":
            return self.fallback_for_language(language)
        return self.for_language(language)


def _marketing_undeliverable(phone: str) -> bool:
    regions = getattr(settings, "TIDINGS_MARKETING_UNDELIVERABLE_REGIONS", ["US"])
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.region_code_for_number(number) in regions


def _valid_phone(phone: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(phone, None))
    except phonenumbers.NumberParseException:
        return False


def campaign_first_send_instant(campaign: Campaign, now: dt.datetime) -> dt.datetime:
    if campaign.schedule_type == ScheduleType.AT and campaign.scheduled_at:
        return max(campaign.scheduled_at, now)
    return now


def send_instant_for(campaign: Campaign, contact: Contact, now: dt.datetime) -> dt.datetime:
    """When this contact's message may first go out: schedule, local time, then quiet hours."""
    tz = zone(contact.timezone, settings.TIDINGS_DEFAULT_CONTACT_TIMEZONE)
    instant = campaign_first_send_instant(campaign, now)
    if campaign.schedule_type == ScheduleType.LOCAL_TIME and campaign.local_send_time:
        day = (campaign.scheduled_at or now).date()
        instant = local_send_instant(
            day=day, wall_time=campaign.local_send_time, tz=tz, not_before=now
        )
    return after_quiet_hours(
        instant, tz=tz, start=campaign.quiet_hours_start, end=campaign.quiet_hours_end
    )


def decide_chunk(
    campaign: Campaign,
    contacts: Sequence[Contact],
    *,
    variants: VariantChooser,
    now: dt.datetime,
) -> list[PlanDecision]:
    """Who in this chunk gets the campaign, and why each of the others does not."""
    category = campaign.template.category
    ids = [contact.id for contact in contacts]
    consent = contacts_consent_for_category(contact_ids=ids, category=category)
    decisions: list[PlanDecision] = []
    for contact in contacts:
        variant = variants.for_language(contact.language or "")
        template_id = variant.id if variant else None
        reason = ""
        if contact.erased_at is not None:
            reason = SkipReason.ERASED
        elif not contact.phone or not _valid_phone(contact.phone):
            reason = SkipReason.INVALID_NUMBER
        elif contact.id not in consent:
            reason = SkipReason.NO_CONSENT
        elif variant is None:
            reason = SkipReason.NO_LANGUAGE_VARIANT
        elif category == TemplateCategory.MARKETING and _marketing_undeliverable(contact.phone):
            reason = SkipReason.MARKETING_NOT_DELIVERED
        if reason:
            decisions.append(
                PlanDecision(contact.id, template_id, MessageStatus.SKIPPED, str(reason))
            )
        else:
            decisions.append(
                PlanDecision(
                    contact.id,
                    template_id,
                    MessageStatus.QUEUED,
                    not_before=send_instant_for(campaign, contact, now),
                    consent_record_id=consent[contact.id],
                )
            )
    # The cap is checked at each contact's own send time, which may be a day away.
    queued = [d for d in decisions if d.status == MessageStatus.QUEUED]
    capped = frequency_capped_contact_ids(
        campaign=campaign,
        contact_ids=[d.contact_id for d in queued],
        at={d.contact_id: d.not_before or now for d in queued},
        include_planned=True,
    )
    for decision in queued:
        if decision.contact_id in capped:
            decision.status = MessageStatus.SKIPPED
            decision.reason = str(SkipReason.FREQUENCY_CAP)
            decision.not_before = None
            decision.consent_record_id = None
    return decisions


def audience_chunks(campaign: Campaign, size: int = PLAN_CHUNK_SIZE) -> Iterable[list[Contact]]:
    queryset = segment_contacts(campaign.segment)
    for ids in iter_id_chunks(queryset, size=size):
        yield list(Contact.objects.filter(id__in=ids).only(*CONTACT_FIELDS).order_by("id"))


def campaign_plan(
    *, campaign_id: int, on_first_chunk: Callable[[], None] | None = None
) -> PlanSummary:
    """Create the campaign's ledger rows. Idempotent; safe to run again after a crash.

    `on_first_chunk` is called once the first chunk is committed (to start sending early).
    """
    campaign = Campaign.objects.select_related("template__account", "sender").get(pk=campaign_id)
    now = timezone.now()
    variants = VariantChooser(campaign)
    summary = PlanSummary()
    for contacts in audience_chunks(campaign):
        decisions = decide_chunk(campaign, contacts, variants=variants, now=now)
        rows = [
            Message(
                campaign_id=campaign.id,
                contact_id=decision.contact_id,
                sender_id=campaign.sender_id,
                template_id=decision.template_id,
                category=campaign.template.category,
                idempotency_key=campaign_idempotency_key(campaign.id, decision.contact_id),
                status=decision.status,
                reason=decision.reason,
                not_before=decision.not_before,
                expires_at=campaign.valid_until,
                consent_record_id=decision.consent_record_id,
                queued_at=now,
                triggered_by_id=campaign.created_by_id,
            )
            for decision in decisions
        ]
        with transaction.atomic():
            Message.objects.bulk_create(rows, ignore_conflicts=True, batch_size=PLAN_CHUNK_SIZE)
        for decision in decisions:
            summary.add(decision)
        if on_first_chunk is not None:
            on_first_chunk()
            on_first_chunk = None
    Campaign.objects.filter(pk=campaign.pk, planned_at__isnull=True).update(planned_at=now)
    return summary
