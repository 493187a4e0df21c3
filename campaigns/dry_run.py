"""Dry run: exactly what a campaign would send, and to whom not and why, without sending."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils import timezone

from templates_app.rendering import TemplateValuesError, render, template_message_for

from .dispatch import callback_data_for
from .models import Campaign, MessageStatus
from .planning import PlanSummary, VariantChooser, audience_chunks, decide_chunk
from .services import campaign_validation_errors

DEFAULT_SAMPLE = 10
MAX_SAMPLE = 100


@dataclass
class RenderedSample:
    contact_id: int
    phone: str
    language: str
    template: str
    variant: str  # primary | fallback
    parameters: dict[str, str]
    text: str
    payload: dict


@dataclass
class SkippedSample:
    contact_id: int
    reason: str


@dataclass
class DryRun:
    definition_errors: dict[str, list[str]]
    audience: int = 0
    would_send: int = 0
    excluded: dict[str, int] = field(default_factory=dict)
    samples: list[RenderedSample] = field(default_factory=list)
    skipped_samples: list[SkippedSample] = field(default_factory=list)


def campaign_dry_run(*, campaign_id: int, sample_size: int = DEFAULT_SAMPLE) -> DryRun:
    """Plan the whole audience in memory (nothing written) and render the first messages.

    Personalisation of the sampled messages goes through the real data sources and cache, so
    what the dry run shows is what would be sent now; a sampled message that cannot be
    personalised is counted among the exclusions with its reason.
    """
    from whatsapp.payloads import template_message_body

    from .personalisation import personalise_contacts

    sample_size = max(0, min(sample_size, MAX_SAMPLE))
    campaign = Campaign.objects.select_related("template__account", "sender").get(pk=campaign_id)
    result = DryRun(definition_errors=campaign_validation_errors(campaign))
    if campaign.segment_id is None:
        return result
    variants = VariantChooser(campaign)
    summary = PlanSummary()
    now = timezone.now()
    for contacts in audience_chunks(campaign):
        by_id = {contact.id: contact for contact in contacts}
        decisions = decide_chunk(campaign, contacts, variants=variants, now=now)
        for decision in decisions:
            summary.add(decision)
            if decision.status != MessageStatus.QUEUED and len(result.skipped_samples) < 20:
                result.skipped_samples.append(SkippedSample(decision.contact_id, decision.reason))
        wanted = sample_size - len(result.samples)
        queued = [d for d in decisions if d.status == MessageStatus.QUEUED][:wanted]
        if not queued:
            continue
        chosen = [by_id[d.contact_id] for d in queued]
        personalised = personalise_contacts(
            mapping=campaign.variable_mapping,
            fallback_mapping=(
                campaign.fallback_variable_mapping if campaign.fallback_template_id else None
            ),
            contacts=chosen,
        )
        for contact in chosen:
            outcome = personalised[contact.id]
            if outcome.variant is None:
                summary.reasons[outcome.reason] = summary.reasons.get(outcome.reason, 0) + 1
                result.skipped_samples.append(SkippedSample(contact.id, outcome.reason))
                continue
            template = (
                campaign.fallback_template
                if outcome.variant == "fallback"
                else variants.for_language(contact.language or "")
            )
            try:
                message = template_message_for(
                    template,
                    to=contact.phone,
                    values=outcome.values,
                    biz_opaque_callback_data=callback_data_for(0),
                )
            except TemplateValuesError as error:
                result.skipped_samples.append(
                    SkippedSample(contact.id, f"invalid_parameters: {'; '.join(error.problems)}")
                )
                continue
            result.samples.append(
                RenderedSample(
                    contact_id=contact.id,
                    phone=contact.phone,
                    language=template.language,
                    template=template.name,
                    variant=outcome.variant,
                    parameters=dict(outcome.values),
                    text=render(template, outcome.values).text,
                    payload=template_message_body(message),
                )
            )
    result.audience = summary.queued + summary.skipped
    result.would_send = summary.queued
    result.excluded = dict(sorted(summary.reasons.items()))
    return result
