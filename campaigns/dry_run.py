"""Dry run: exactly what a campaign would send, and to whom not and why, without sending."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.utils import timezone

from templates_app.rendering import TemplateValuesError, render, template_message_for

from .dispatch import callback_data_for
from .models import Campaign, MessageStatus, SkipReason
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
    not_before: dt.datetime | None  # when it would go out (schedule, local time, quiet hours)
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
    what the dry run shows is what would be sent now. A sampled message that cannot be
    personalised, has no variant or does not fit the template moves from `would_send` to
    `excluded` under its reason (`personalisation_failed`, `no_language_variant`,
    `invalid_parameters`; the details are in `skipped_samples`), so `would_send` plus every
    exclusion is always the audience. Messages beyond the sample are not personalised: their
    data is only fetched at send time.
    """
    from whatsapp.payloads import template_message_body

    from .personalisation import personalise_contacts

    sample_size = max(0, min(sample_size, MAX_SAMPLE))
    campaign = Campaign.objects.select_related(
        "template__account", "sender", "fallback_template__account"
    ).get(pk=campaign_id)
    result = DryRun(definition_errors=campaign_validation_errors(campaign))
    if campaign.segment_id is None:
        return result
    variants = VariantChooser(campaign)
    summary = PlanSummary()
    now = timezone.now()

    def exclude(contact_id: int, reason: str, detail: str) -> None:
        summary.queued -= 1
        summary.skipped += 1
        summary.reasons[str(reason)] = summary.reasons.get(str(reason), 0) + 1
        result.skipped_samples.append(SkippedSample(contact_id, detail))

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
        personalised = personalise_contacts(
            mapping=campaign.variable_mapping,
            fallback_mapping=(
                campaign.fallback_variable_mapping if campaign.fallback_template_id else None
            ),
            contacts=[by_id[d.contact_id] for d in queued],
        )
        for decision in queued:
            contact = by_id[decision.contact_id]
            outcome = personalised[contact.id]
            if outcome.variant is None:
                exclude(contact.id, SkipReason.PERSONALISATION_FAILED, outcome.reason)
                continue
            template = variants.template_for(
                language=contact.language or "", variant=outcome.variant
            )
            if template is None:
                exclude(
                    contact.id,
                    SkipReason.NO_LANGUAGE_VARIANT,
                    f"{SkipReason.NO_LANGUAGE_VARIANT}: no approved {outcome.variant} variant",
                )
                continue
            try:
                message = template_message_for(
                    template,
                    to=contact.phone,
                    values=outcome.values,
                    biz_opaque_callback_data=callback_data_for(0),
                )
            except TemplateValuesError as error:
                exclude(
                    contact.id,
                    SkipReason.INVALID_PARAMETERS,
                    f"{SkipReason.INVALID_PARAMETERS}: {'; '.join(error.problems)}",
                )
                continue
            result.samples.append(
                RenderedSample(
                    contact_id=contact.id,
                    phone=contact.phone,
                    language=template.language,
                    template=template.name,
                    variant=outcome.variant,
                    not_before=decision.not_before,
                    parameters=dict(outcome.values),
                    text=render(template, outcome.values).text,
                    payload=template_message_body(message),
                )
            )
    result.audience = summary.queued + summary.skipped
    result.would_send = summary.queued
    result.excluded = dict(sorted(summary.reasons.items()))
    return result
