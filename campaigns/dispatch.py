"""Dispatch: claim queued messages, re-check them, personalise, send at the shared rate, record.

The order of a chunk is what makes "never twice, never without consent" hold:

1. **Claim** due messages `queued → sending` with a lease, under `SELECT … FOR UPDATE SKIP LOCKED`,
   so concurrent workers never take the same row. The claim is committed before anything leaves:
   a crash after it leaves `sending` rows with an expiring lease for the reconciler, never a
   silent resend.
2. **Re-check** at this moment: expiry, erasure, consent (an opt-out committed mid-campaign stops
   that contact's send), quiet hours, Meta's per-recipient pair rate and the number's daily
   messaging-limit budget. What may not go now is deferred, skipped or expired with a reason.
3. **Personalise** the chunk (one cache round trip per data source) and validate every value
   against the template variant, so nothing Meta would answer 132000 for is sent.
4. **Send** concurrently at the slots the shared token bucket hands out.
5. **Record** outcomes with set-based updates grouped by outcome (and one VALUES update for the
   per-row wamids and parameters), each guarded by `status = 'sending'` so a status webhook that
   got there first is never overwritten.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from contacts.models import Contact
from contacts.selectors import contacts_consent_for_category
from templates_app.models import MessageTemplate, SenderNumber
from templates_app.rendering import TemplateValuesError, template_message_for
from templates_app.selectors import template_is_sendable
from whatsapp import get_provider
from whatsapp.base import ProviderError, SendAccepted, SendOutcome

from . import throttle
from .links import attach_tracked_links
from .models import Campaign, CampaignStatus, Message, MessageStatus, SkipReason
from .scheduling import after_quiet_hours, zone
from .sending import SendJob, send_paced

logger = logging.getLogger(__name__)

PAIR_RATE_SECONDS = 6
MESSAGING_LIMITS = {
    SenderNumber.MessagingLimitTier.TIER_50: 50,
    SenderNumber.MessagingLimitTier.TIER_250: 250,
    SenderNumber.MessagingLimitTier.TIER_2K: 2_000,
    SenderNumber.MessagingLimitTier.TIER_10K: 10_000,
    SenderNumber.MessagingLimitTier.TIER_100K: 100_000,
}
PER_USER_MARKETING_LIMIT = 131049
CHUNK_MESSAGE_FIELDS = (
    "id",
    "campaign_id",
    "contact_id",
    "template_id",
    "category",
    "status",
    "attempts",
    "expires_at",
    "wamid",
)
CHUNK_CONTACT_FIELDS = (
    "id",
    "phone",
    "wa_id",
    "whatsapp_user_id",
    "name",
    "external_id",
    "language",
    "timezone",
    "attributes",
    "erased_at",
)


def callback_data_for(message_id: int) -> str:
    """What goes into `biz_opaque_callback_data`: Meta echoes it in every status webhook."""
    return f"tidings:{message_id}"


def message_id_from_callback_data(value: str | None) -> int | None:
    if not value or not value.startswith("tidings:"):
        return None
    suffix = value.removeprefix("tidings:")
    return int(suffix) if suffix.isdigit() else None


@dataclass
class ChunkResult:
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    retried: int = 0
    unknown: int = 0
    skipped: int = 0
    deferred: int = 0
    expired: int = 0
    requeued: int = 0
    stopped_reason: str = ""
    reasons: dict[str, int] = field(default_factory=lambda: defaultdict(int))


# --- 1. Claim ---------------------------------------------------------------------------------


def claim_due_messages(*, campaign_id: int, limit: int, lease_seconds: int) -> list[int]:
    """Atomically move up to `limit` due queued messages to `sending`; returns their ids."""
    now = timezone.now()
    with transaction.atomic():
        if not Campaign.objects.filter(pk=campaign_id, status=CampaignStatus.RUNNING).exists():
            return []
        ids = list(
            Message.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(campaign_id=campaign_id, status=MessageStatus.QUEUED)
            .filter(Q(not_before__isnull=True) | Q(not_before__lte=now))
            .order_by("not_before", "id")
            .values_list("id", flat=True)[:limit]
        )
        if ids:
            Message.objects.filter(id__in=ids, status=MessageStatus.QUEUED).update(
                status=MessageStatus.SENDING,
                sending_at=now,
                lease_expires_at=now + dt.timedelta(seconds=lease_seconds),
                attempts=F("attempts") + 1,
                updated_at=now,
            )
    return ids


# --- 5. Recording helpers ---------------------------------------------------------------------


def _set_where_sending(ids: Iterable[int], **values: object) -> int:
    ids = list(ids)
    if not ids:
        return 0
    values.setdefault("updated_at", timezone.now())
    return Message.objects.filter(id__in=ids, status=MessageStatus.SENDING).update(
        lease_expires_at=None, **values
    )


def _record_accepted(accepted: dict[int, tuple[str, dict]], now: dt.datetime) -> None:
    """Per-row wamids and parameters in one statement (bulk_update's CASE is far slower)."""
    if not accepted:
        return
    if connection.vendor == "postgresql":
        ids = list(accepted)
        wamids = [accepted[message_id][0] for message_id in ids]
        parameters = [json.dumps(accepted[message_id][1]) for message_id in ids]
        with connection.cursor() as cursor:
            # Three array parameters whatever the chunk size: cheap to bind and to plan.
            cursor.execute(
                """
                UPDATE campaigns_message AS m
                SET status = CASE WHEN m.status = 'sending' THEN 'sent' ELSE m.status END,
                    wamid = COALESCE(m.wamid, v.wamid),
                    parameters = v.parameters,
                    sent_at = COALESCE(m.sent_at, %s),
                    lease_expires_at = NULL,
                    updated_at = %s
                FROM unnest(%s::bigint[], %s::text[], %s::jsonb[]) AS v(id, wamid, parameters)
                WHERE m.id = v.id
                """,
                [now, now, ids, wamids, parameters],
            )
        return
    messages = list(Message.objects.filter(id__in=accepted))
    for message in messages:
        wamid, params = accepted[message.id]
        if message.status == MessageStatus.SENDING:
            message.status = MessageStatus.SENT
        message.wamid = message.wamid or wamid
        message.parameters = params
        message.sent_at = message.sent_at or now
        message.lease_expires_at = None
        message.updated_at = now
    Message.objects.bulk_update(
        messages,
        ["status", "wamid", "parameters", "sent_at", "lease_expires_at", "updated_at"],
    )


# --- The chunk ----------------------------------------------------------------------------------


class ChunkDispatcher:
    """Everything one chunk needs, loaded once: campaign, sender, variants, provider."""

    def __init__(self, campaign: Campaign) -> None:
        self.campaign = campaign
        self.sender = campaign.sender
        self.provider = get_provider()
        self.now = timezone.now()
        self.result = ChunkResult()

    # 2. Re-check -------------------------------------------------------------------------

    def recheck(self, messages: list[Message]) -> list[Message]:
        """Settle whatever may not go now; return what may."""
        now = self.now
        expired = [m.id for m in messages if m.expires_at and m.expires_at <= now]
        if expired:
            self.result.expired += _set_where_sending(
                expired, status=MessageStatus.EXPIRED, reason="expired", failed_at=now
            )
        messages = [m for m in messages if m.id not in set(expired)]

        contacts = {m.contact_id: m.contact for m in messages}
        consent = contacts_consent_for_category(
            contact_ids=list(contacts), category=self.campaign.template.category
        )
        erased = [m.id for m in messages if m.contact.erased_at is not None]
        no_consent = [
            m.id for m in messages if m.contact.erased_at is None and m.contact_id not in consent
        ]
        self._skip(erased, SkipReason.ERASED)
        self._skip(no_consent, SkipReason.OPTED_OUT)
        blocked = set(erased) | set(no_consent)
        messages = [m for m in messages if m.id not in blocked]
        for message in messages:
            message.consent_record_id = consent[message.contact_id]

        messages = self._defer_quiet_hours(messages)
        messages = self._defer_pair_rate(messages)
        return self._defer_over_budget(messages)

    def _skip(self, ids: list[int], reason: str) -> None:
        if ids:
            self.result.skipped += _set_where_sending(
                ids, status=MessageStatus.SKIPPED, reason=str(reason)
            )
            self.result.reasons[str(reason)] += len(ids)

    def _defer(self, by_time: dict[dt.datetime, list[int]], reason: str) -> None:
        for not_before, ids in by_time.items():
            self.result.deferred += _set_where_sending(
                ids, status=MessageStatus.DEFERRED, reason=reason, not_before=not_before
            )

    def _defer_quiet_hours(self, messages: list[Message]) -> list[Message]:
        start, end = self.campaign.quiet_hours_start, self.campaign.quiet_hours_end
        if start is None or end is None:
            return messages
        later: dict[dt.datetime, list[int]] = defaultdict(list)
        keep = []
        for message in messages:
            tz = zone(message.contact.timezone, settings.TIDINGS_DEFAULT_CONTACT_TIMEZONE)
            release = after_quiet_hours(self.now, tz=tz, start=start, end=end)
            if release > self.now:
                later[release].append(message.id)
            else:
                keep.append(message)
        self._defer(later, "quiet_hours")
        return keep

    def _defer_pair_rate(self, messages: list[Message]) -> list[Message]:
        """Meta allows about one message per 6 s to one user (131056): never provoke it."""
        recent = set(
            Message.objects.filter(
                contact_id__in=[m.contact_id for m in messages],
                sent_at__gte=self.now - dt.timedelta(seconds=PAIR_RATE_SECONDS),
            ).values_list("contact_id", flat=True)
        )
        if not recent:
            return messages
        release = self.now + dt.timedelta(seconds=PAIR_RATE_SECONDS)
        self._defer({release: [m.id for m in messages if m.contact_id in recent]}, "pair_rate")
        return [m for m in messages if m.contact_id not in recent]

    def _defer_over_budget(self, messages: list[Message]) -> list[Message]:
        """Unique recipients per rolling 24 h are capped by the portfolio's messaging tier."""
        limit = MESSAGING_LIMITS.get(self.sender.messaging_limit_tier)
        if limit is None or not messages:
            return messages
        since = self.now - dt.timedelta(hours=24)
        window = Message.objects.filter(
            sender__account_id=self.sender.account_id,
            sent_at__gte=since,
            template__isnull=False,
        )
        reached = set(
            window.filter(contact_id__in=[m.contact_id for m in messages]).values_list(
                "contact_id", flat=True
            )
        )
        used = window.values("contact_id").distinct().count()
        budget = max(limit - used, 0)
        keep, over = [], []
        for message in messages:
            if message.contact_id in reached:
                keep.append(message)
            elif budget > 0:
                budget -= 1
                keep.append(message)
            else:
                over.append(message.id)
        if over:
            oldest = window.order_by("sent_at").values_list("sent_at", flat=True).first()
            release = (oldest or self.now) + dt.timedelta(hours=24)
            self._defer({release: over}, "messaging_limit")
        return keep

    # 3. Personalise ------------------------------------------------------------------------

    def personalise(self, messages: list[Message]) -> list[tuple[Message, MessageTemplate, dict]]:
        from .personalisation import personalise_contacts

        campaign = self.campaign
        results = personalise_contacts(
            mapping=campaign.variable_mapping,
            fallback_mapping=(
                campaign.fallback_variable_mapping if campaign.fallback_template_id else None
            ),
            contacts=[m.contact for m in messages],
        )
        ready = []
        failed: dict[str, list[int]] = defaultdict(list)
        for message in messages:
            outcome = results.get(message.contact_id)
            if outcome is None or outcome.variant is None:
                reason = (outcome.reason if outcome else "") or SkipReason.PERSONALISATION_FAILED
                failed[str(reason)[:64]].append(message.id)
                continue
            template = (
                campaign.fallback_template if outcome.variant == "fallback" else message.template
            )
            ready.append((message, template, outcome.values))
        for reason, ids in failed.items():
            self._skip(ids, reason)
        return ready

    # 4 + 5. Send and record ----------------------------------------------------------------

    def send(self, prepared: list[tuple[Message, MessageTemplate, dict]]) -> None:
        attach_tracked_links(self.campaign.tracked_links, prepared)
        jobs: list[SendJob] = []
        params: dict[int, dict] = {}
        invalid: list[int] = []
        for message, template, values in prepared:
            try:
                outbound = template_message_for(
                    template,
                    to=message.contact.phone,
                    values=values,
                    biz_opaque_callback_data=callback_data_for(message.id),
                )
            except TemplateValuesError:
                invalid.append(message.id)
                continue
            jobs.append(SendJob(message.id, outbound))
            params[message.id] = dict(values)
        self._skip(invalid, SkipReason.INVALID_PARAMETERS)
        if not jobs:
            return
        sender = self.sender
        rate = self.campaign.effective_throughput
        outcomes = send_paced(
            provider=self.provider,
            phone_number_id=sender.phone_number_id,
            jobs=jobs,
            reserve=lambda wanted: throttle.reserve(
                sender_key=sender.phone_number_id, rate_per_second=rate, wanted=wanted
            ),
            stop=threading.Event(),
        )
        self.record(jobs, outcomes, params, {m.id: m for m, _, _ in prepared})

    def record(
        self,
        jobs: Sequence[SendJob],
        outcomes: dict[int, SendOutcome],
        params: dict[int, dict],
        messages: dict[int, Message],
    ) -> None:
        stop_error = record_outcomes(
            jobs,
            outcomes,
            params,
            messages,
            resend_unknown=self.campaign.unknown_outcome_policy == "resend",
            result=self.result,
        )
        if stop_error is not None:
            self.stop_campaign(stop_error)

    def stop_campaign(self, error: ProviderError) -> None:
        reason = (
            f"Meta error {error.code}: {error.readable_message}"
            if error.code
            else error.readable_message
        )
        self.stop_with_reason(reason)

    def stop_with_reason(self, reason: str) -> None:
        from .services import campaign_stop

        self.result.stopped_reason = reason
        campaign_stop(campaign_id=self.campaign.id, reason=reason[:500])


def retry_delay_for(error: ProviderError, attempts: int) -> float | None:
    """Seconds until a retry of a message after `attempts` tries, or None for no retry."""
    if error.code == PER_USER_MARKETING_LIMIT:
        # Meta: wait at least 24 h, and retry at most once.
        return 24 * 3600 if attempts <= 1 else None
    if not error.retryable and not error.ambiguous:
        return None
    delay = error.retry_delay(max(attempts - 1, 0))
    if delay is None:
        return None
    return delay * (0.5 + random.random() / 2)


def record_outcomes(
    jobs: Sequence[SendJob],
    outcomes: dict[int, SendOutcome],
    params: dict[int, dict],
    messages: dict[int, Message],
    *,
    resend_unknown: bool,
    result: ChunkResult,
) -> ProviderError | None:
    """Write what Meta answered, grouped by outcome; returns the account-level error, if any.

    Accepted → sent with its wamid; retryable → queued again after a jittered backoff;
    ambiguous (may have reached Meta) → unknown, unless resending is allowed; permanent → failed
    with Meta's code; account-level and never-sent → queued again with the attempt not counted.
    """
    now = timezone.now()
    accepted: dict[int, tuple[str, dict]] = {}
    failures: dict[tuple, list[int]] = defaultdict(list)
    retries: dict[dt.datetime, list[int]] = defaultdict(list)
    unknown: list[int] = []
    not_sent: list[int] = []
    stop_error: ProviderError | None = None
    marketing_opt_outs: list[int] = []
    for job in jobs:
        outcome = outcomes.get(job.message_id)
        message = messages[job.message_id]
        if outcome is None:
            not_sent.append(job.message_id)
        elif isinstance(outcome, SendAccepted):
            accepted[job.message_id] = (outcome.wamid, params[job.message_id])
        elif outcome.stops_sending:
            stop_error = stop_error or outcome
            not_sent.append(job.message_id)
        elif outcome.ambiguous and not resend_unknown:
            unknown.append(job.message_id)
        elif (delay := retry_delay_for(outcome, message.attempts)) is not None:
            retries[now + dt.timedelta(seconds=delay)].append(job.message_id)
        else:
            failures[
                (outcome.code, (outcome.title or outcome.message)[:300], outcome.details or "")
            ].append(job.message_id)
            if outcome.opt_out_marketing:
                marketing_opt_outs.append(message.contact_id)
    with transaction.atomic():
        _record_accepted(accepted, now)
        result.sent += len(accepted)
        for (code, title, details), ids in failures.items():
            result.failed += _set_where_sending(
                ids,
                status=MessageStatus.FAILED,
                reason="meta_error",
                error_code=code,
                error_title=title,
                error_details=details,
                failed_at=now,
            )
        for not_before, ids in retries.items():
            result.retried += _set_where_sending(
                ids, status=MessageStatus.QUEUED, not_before=not_before, reason="retrying"
            )
        result.unknown += _set_where_sending(
            unknown, status=MessageStatus.UNKNOWN, reason="outcome_unknown"
        )
        # Never left: back to the queue as they were, attempt not counted.
        result.requeued += _set_where_sending(
            not_sent, status=MessageStatus.QUEUED, attempts=F("attempts") - 1
        )
    if marketing_opt_outs:
        record_marketing_opt_outs(marketing_opt_outs, evidence="Meta error 131050")
    return stop_error


def record_marketing_opt_outs(contact_ids: Sequence[int], *, evidence: str) -> None:
    """Meta says the user stopped marketing messages (131050): honour it in the ledger."""
    from contacts.models import ConsentScope, ConsentSource
    from contacts.services import consent_record_opt_out

    for contact in Contact.objects.filter(id__in=set(contact_ids)):
        consent_record_opt_out(
            contact=contact,
            scope=ConsentScope.MARKETING,
            source=ConsentSource.DELIVERY_ERROR,
            evidence=evidence,
            captured_at=timezone.now(),
        )


def dispatch_chunk(*, campaign_id: int, chunk_size: int | None = None) -> ChunkResult:
    """Claim, re-check, personalise, send and record one chunk of a running campaign."""
    size = chunk_size or settings.TIDINGS_DISPATCH_CHUNK_SIZE
    ids = claim_due_messages(
        campaign_id=campaign_id, limit=size, lease_seconds=settings.TIDINGS_DISPATCH_LEASE_SECONDS
    )
    campaign = Campaign.objects.select_related(
        "template__account", "sender__account", "fallback_template"
    ).get(pk=campaign_id)
    dispatcher = ChunkDispatcher(campaign)
    dispatcher.result.claimed = len(ids)
    if not ids:
        return dispatcher.result
    messages = list(
        Message.objects.filter(id__in=ids, status=MessageStatus.SENDING)
        .select_related("contact")
        .only(*CHUNK_MESSAGE_FIELDS, *(f"contact__{name}" for name in CHUNK_CONTACT_FIELDS))
    )
    # One instance per variant for the whole chunk: components are parsed and their variables
    # extracted once, not once per recipient.
    templates = MessageTemplate.objects.in_bulk({m.template_id for m in messages if m.template_id})
    for message in messages:
        if message.template_id:
            message.template = templates[message.template_id]
    unsendable = sorted(
        {m.template for m in messages if m.template and not template_is_sendable(m.template)},
        key=lambda template: template.pk,
    )
    if unsendable:
        # Meta refuses every send of a paused or disabled template (132015/132016): hand the
        # chunk back untouched and stop until the template is approved again.
        _set_where_sending(
            [m.id for m in messages], status=MessageStatus.QUEUED, attempts=F("attempts") - 1
        )
        template = unsendable[0]
        dispatcher.stop_with_reason(
            f"Template {template.name} ({template.language}) is {template.status}; "
            "resume once Meta approves it again."
        )
        return dispatcher.result
    ready = dispatcher.recheck(messages)
    prepared = dispatcher.personalise(ready)
    dispatcher.send(prepared)
    if dispatcher.result.stopped_reason:
        logger.warning("campaign %s stopped: %s", campaign_id, dispatcher.result.stopped_reason)
    return dispatcher.result


def release_deferred(*, now: dt.datetime | None = None) -> int:
    """Deferred messages whose time has come go back to the queue."""
    now = now or timezone.now()
    return Message.objects.filter(status=MessageStatus.DEFERRED, not_before__lte=now).update(
        status=MessageStatus.QUEUED, updated_at=now
    )


def due_work_exists(campaign_id: int) -> bool:
    now = timezone.now()
    return Message.objects.filter(
        Q(not_before__isnull=True) | Q(not_before__lte=now),
        campaign_id=campaign_id,
        status=MessageStatus.QUEUED,
    ).exists()
