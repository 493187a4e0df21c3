"""Dispatch: claim queued messages, re-check them, personalise, send at the shared rate, record.

The order of a chunk is what makes "never twice, never without consent" hold:

1. **Claim** due messages `queued → sending` under `SELECT … FOR UPDATE SKIP LOCKED`, so
   concurrent workers never take the same row, with a lease and a claim token. The claim is
   committed before anything leaves: a crash after it leaves `sending` rows with an expiring
   lease for the reconciler, never a silent resend. The number's messaging-limit budget (unique
   recipients per rolling 24 h, across the portfolio) is reserved here, under a lock on the
   account and counting messages in flight, so workers cannot overshoot it together.
2. **Re-check** at this moment: expiry, erasure, consent (an opt-out committed mid-campaign stops
   that contact's send), quiet hours and Meta's per-recipient pair rate. What may not go now is
   deferred, skipped or expired with a reason.
3. **Personalise** the chunk (one cache round trip per data source) and validate every value
   against the template variant, so nothing Meta would answer 132000 for is sent.
4. **Send** concurrently at the slots the shared token bucket hands out, only while the claim
   holds: the lease is renewed as the chunk goes, nothing leaves after it, and the campaign's
   status (pause, cancel, stop) and each batch's consent are re-checked on the way.
5. **Record** outcomes with set-based updates grouped by outcome (and one array-bound update for
   the per-row wamids and parameters), each guarded by the claim token so a worker whose lease
   was taken over can never overwrite what the new owner did.

A chunk is sized to last a few seconds at the campaign's rate, and whatever breaks half-way
(Redis, the database, personalisation) sends back to the queue what never left.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from contacts.models import Contact
from contacts.selectors import contacts_consent_for_category
from templates_app.models import MessageTemplate, SenderNumber
from templates_app.rendering import TemplateValuesError, template_message_for
from templates_app.selectors import template_is_sendable
from whatsapp import get_provider
from whatsapp.base import ProviderError, SendAccepted, SendOutcome, StopScope
from whatsapp.errors import MARKETING_LIMIT_WAIT_SECONDS

from . import throttle
from .frequency import frequency_capped_contact_ids
from .links import attach_tracked_links
from .models import (
    Campaign,
    CampaignStatus,
    Message,
    MessageStatus,
    MessageStatusEvent,
    SkipReason,
)
from .planning import VariantChooser
from .scheduling import after_quiet_hours, zone
from .sending import SendJob, send_paced
from .status_history import campaign_status_changes_record

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
# Account-level codes that concern one business number rather than the whole WABA.
NUMBER_SCOPED_CODES = frozenset({33, 131037, 131045, 131048, 133010, 133016})
# Reasons recorded on queued messages, read back when they are claimed again.
UNCONFIRMED_RESEND = "unconfirmed_resend"
MARKETING_LIMIT_RETRY = "marketing_limit_retry"
# An attempt whose outcome stayed unknown is resent at most this many times in all.
MAX_UNCONFIRMED_ATTEMPTS = 5
# How often a chunk in flight looks at its campaign's status (pause, cancel, stop).
STATUS_POLL_SECONDS = 0.5
# Queued API messages wait this long after an account-level error before the next try.
ACCOUNT_ERROR_HOLD = dt.timedelta(minutes=5)
# pg_advisory_xact_lock namespace of the messaging-limit budget (one lock per account).
_BUDGET_LOCK_NAMESPACE = 0x7469_6401
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
    "marketing_limit_retried",
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


def lease_grace_seconds() -> float:
    """How long past a lease's end the reconciler waits: long enough for a request that left
    just before the end to be answered or to time out, so a live worker is never overtaken."""
    return (
        float(settings.WHATSAPP_HTTP_CONNECT_TIMEOUT)
        + float(settings.WHATSAPP_HTTP_READ_TIMEOUT)
        + float(settings.TIDINGS_DISPATCH_LEASE_MARGIN_SECONDS)
    )


def proof_window() -> dt.timedelta:
    """How long an attempt with an unknown outcome waits for Meta's webhook before a resend."""
    return dt.timedelta(seconds=settings.TIDINGS_UNCONFIRMED_PROOF_WINDOW_SECONDS)


def proof_of_sending() -> Exists:
    """A status event recorded since the message's latest attempt started: it left."""
    return Exists(
        MessageStatusEvent.objects.filter(
            message_id=OuterRef("pk"), recorded_at__gte=OuterRef("sending_at")
        )
    )


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


@dataclass
class Claim:
    """Messages one worker owns for a while: `token` is written on each of them, and every
    result write must carry it. `deadline` (time.monotonic()) is when the lease ends as the
    worker must assume it: it is taken before the database sets the lease, so it errs early."""

    token: uuid.UUID
    ids: list[int]
    lease_seconds: float
    deadline: float
    deferred: int = 0
    proven: int = 0

    def renew_if_due(self) -> bool:
        """Extend the lease once a third of it is used; False once any message of the claim
        was taken over (by the reconciler), after which nothing more may be sent."""
        started = time.monotonic()
        if self.deadline - started > self.lease_seconds * 2 / 3:
            return True
        now = timezone.now()
        Message.objects.filter(claim_token=self.token, status=MessageStatus.SENDING).update(
            lease_expires_at=now + dt.timedelta(seconds=self.lease_seconds)
        )
        if Message.objects.filter(id__any=self.ids).exclude(claim_token=self.token).exists():
            logger.error("claim %s was taken over; its worker stops sending", self.token)
            return False
        self.deadline = started + self.lease_seconds
        return True


def claim_due_messages(*, campaign_id: int, limit: int, lease_seconds: float) -> Claim:
    """Atomically move up to `limit` due queued messages to `sending` under a new claim.

    Queued messages whose earlier attempt's outcome was unknown are first checked for proof that
    the attempt left (a status webhook since): those are sent, not sent again. Recipients beyond
    the number's messaging-limit budget are deferred to when the rolling window frees up.
    """
    token = uuid.uuid4()
    started = time.monotonic()
    now = timezone.now()
    claim = Claim(token, [], lease_seconds, started + lease_seconds)
    with transaction.atomic():
        campaign = (
            Campaign.objects.filter(pk=campaign_id, status=CampaignStatus.RUNNING)
            .select_related("sender")
            .first()
        )
        if campaign is None:
            return claim
        limit_of_tier = MESSAGING_LIMITS.get(campaign.sender.messaging_limit_tier)
        if limit_of_tier is not None:
            # Before any row lock, in the same order everywhere: one budget count at a time.
            _lock_budget(campaign.sender.account_id)
        rows = list(
            Message.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(campaign_id=campaign_id, status=MessageStatus.QUEUED)
            .filter(Q(not_before__isnull=True) | Q(not_before__lte=now))
            .order_by("not_before", "id")
            .values_list("id", "contact_id", "reason")[:limit]
        )
        candidates = [(message_id, contact_id) for message_id, contact_id, _ in rows]
        proven = proven_messages_settle(
            [message_id for message_id, _, reason in rows if reason == UNCONFIRMED_RESEND], now
        )
        claim.proven = len(proven)
        candidates = [row for row in candidates if row[0] not in proven]
        if limit_of_tier is not None and candidates:
            candidates, claim.deferred = _admit_within_budget(
                campaign.sender, candidates, limit_of_tier, now
            )
        claim.ids = [message_id for message_id, _ in candidates]
        if claim.ids:
            Message.objects.filter(id__any=claim.ids, status=MessageStatus.QUEUED).update(
                status=MessageStatus.SENDING,
                sending_at=now,
                lease_expires_at=now + dt.timedelta(seconds=lease_seconds),
                claim_token=token,
                attempts=F("attempts") + 1,
                updated_at=now,
            )
    return claim


def proven_messages_settle(ids: list[int], now: dt.datetime) -> set[int]:
    """Of these queued messages, those whose unknown attempt turns out to have left: sent."""
    if not ids:
        return set()
    proven = set(
        Message.objects.filter(id__any=ids)
        .filter(Q(wamid__isnull=False) | proof_of_sending())
        .values_list("id", flat=True)
    )
    if proven:
        Message.objects.filter(id__any=proven, status=MessageStatus.QUEUED).update(
            status=MessageStatus.SENT,
            reason="",
            sent_at=Coalesce(F("sent_at"), F("sending_at"), now),
            not_before=None,
            updated_at=now,
        )
    return proven


def _lock_budget(account_id: int) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)", [_BUDGET_LOCK_NAMESPACE, account_id]
            )
    # SQLite: the claim's IMMEDIATE transaction already holds the one write lock.


def _admit_within_budget(
    sender: SenderNumber, candidates: list[tuple[int, int]], limit: int, now: dt.datetime
) -> tuple[list[tuple[int, int]], int]:
    """Unique recipients per rolling 24 h are capped by the portfolio's messaging tier.

    Counted under the account's budget lock, including messages in flight (`sending`: claimed by
    some worker, so already admitted), so a recipient is admitted only if the budget really has
    room. Messages that end up not sent (skipped, deferred, failed) give their place back.
    """
    since = now - dt.timedelta(hours=24)
    senders = list(
        SenderNumber.objects.filter(account_id=sender.account_id).values_list("id", flat=True)
    )
    sent = Message.objects.filter(sender_id__in=senders, sent_at__gte=since)
    in_flight = Message.objects.filter(sender_id__in=senders, status=MessageStatus.SENDING)
    contact_ids = [contact_id for _, contact_id in candidates]
    reached = set(
        sent.filter(contact_id__any=contact_ids).values_list("contact_id", flat=True)
    ) | set(in_flight.filter(contact_id__any=contact_ids).values_list("contact_id", flat=True))
    used = sent.values("contact_id").union(in_flight.values("contact_id")).count()
    budget = max(limit - used, 0)
    admitted, over = [], []
    for message_id, contact_id in candidates:
        if contact_id in reached:
            admitted.append((message_id, contact_id))
        elif budget > 0:
            budget -= 1
            reached.add(contact_id)
            admitted.append((message_id, contact_id))
        else:
            over.append(message_id)
    if over:
        oldest = sent.order_by("sent_at").values_list("sent_at", flat=True).first()
        Message.objects.filter(id__any=over, status=MessageStatus.QUEUED).update(
            status=MessageStatus.DEFERRED,
            reason="messaging_limit",
            not_before=(oldest or now) + dt.timedelta(hours=24),
            updated_at=now,
        )
    return admitted, len(over)


def messages_hand_over(
    jobs: Sequence[SendJob],
    *,
    token: uuid.UUID | None,
    contact_of: dict[int, int],
    category: str | None,
) -> tuple[list[SendJob], list[int]]:
    """The last step before requests leave: consent once more, then mark them handed over.

    Returns the jobs that may leave now and the message ids whose consent was withdrawn. The
    contacts are share-locked while consent is read and the messages marked: an opt-out (which
    locks its contact for update) either committed before, and is seen, or waits until these sends
    are handed over, so no send is decided after an opt-out committed. Only messages still under
    `token` are handed over; `handed_over_at` tells the reconciler which sends may have left.
    A `category` of None skips the consent check (a test send to a staff number).
    """
    if not jobs:
        return [], []
    now = timezone.now()
    contact_ids = sorted({contact_of[job.message_id] for job in jobs})
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT id FROM {Contact._meta.db_table} "  # noqa: S608 - the model's table
                    "WHERE id = ANY(%s) ORDER BY id FOR SHARE",
                    [contact_ids],
                )
        consent = (
            set(contact_ids)
            if category is None
            else contacts_consent_for_category(contact_ids=contact_ids, category=category)
        )
        withdrawn = [job.message_id for job in jobs if contact_of[job.message_id] not in consent]
        allowed = [job.message_id for job in jobs if contact_of[job.message_id] in consent]
        owned = set(
            Message.objects.select_for_update(of=("self",))
            .filter(id__any=allowed, claim_token=token, status=MessageStatus.SENDING)
            .values_list("id", flat=True)
        )
        if owned:
            Message.objects.filter(id__any=owned).update(handed_over_at=now)
    return [job for job in jobs if job.message_id in owned], withdrawn


def release_unsent(claim: Claim, *, keep: Iterable[int] = ()) -> int:
    """Back to the queue, attempt not counted: what the claim holds that never left."""
    keep = set(keep)
    ids = [message_id for message_id in claim.ids if message_id not in keep]
    return claimed_messages_update(
        ids, claim.token, status=MessageStatus.QUEUED, attempts=F("attempts") - 1
    )


# --- 5. Recording helpers ---------------------------------------------------------------------


def claimed_messages_update(ids: Iterable[int], token: uuid.UUID, **values: object) -> int:
    """Update messages this claim still owns (still `sending` under its token)."""
    ids = list(ids)
    if not ids:
        return 0
    values.setdefault("updated_at", timezone.now())
    return Message.objects.filter(
        id__any=ids, status=MessageStatus.SENDING, claim_token=token
    ).update(lease_expires_at=None, **values)


def _record_accepted(
    accepted: dict[int, tuple[str, dict]], now: dt.datetime, *, token: uuid.UUID
) -> set[int]:
    """Per-row wamids and parameters in one statement (bulk_update's CASE is far slower).

    Returns the ids written. A status webhook may have moved a message on already (its status is
    kept); a message no longer under this claim is left to `_record_late_acceptance`.
    """
    if not accepted:
        return set()
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
                WHERE m.id = v.id AND m.claim_token = %s
                RETURNING m.id
                """,
                [now, now, ids, wamids, parameters, token],
            )
            return {row[0] for row in cursor.fetchall()}
    messages = list(Message.objects.filter(id__any=accepted, claim_token=token))
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
    return {message.id for message in messages}


def _record_late_acceptance(accepted: dict[int, tuple[str, dict]], now: dt.datetime) -> int:
    """Meta accepted messages after their claim was taken over: the acceptance is still proof
    they left, so one the reconciler queued again or marked unknown is sent after all."""
    recorded = 0
    for message_id, (wamid, params) in accepted.items():
        logger.warning("message %s was accepted after its lease was taken over", message_id)
        recorded += Message.objects.filter(
            id=message_id,
            status__in=[MessageStatus.QUEUED, MessageStatus.UNKNOWN],
            wamid__isnull=True,
        ).update(
            status=MessageStatus.SENT,
            reason="",
            wamid=wamid,
            parameters=params,
            sent_at=Coalesce(F("sent_at"), now),
            updated_at=now,
        )
    return recorded


# --- The chunk ----------------------------------------------------------------------------------


class ChunkDispatcher:
    """Everything one chunk needs, loaded once: campaign, sender, variants, provider, claim."""

    def __init__(self, campaign: Campaign, claim: Claim) -> None:
        self.campaign = campaign
        self.claim = claim
        self.sender = campaign.sender
        self.provider = get_provider()
        self.now = timezone.now()
        self.result = ChunkResult()
        self.submitted: set[int] = set()
        self.halted_status: str | None = None
        self._next_status_check = 0.0
        self._contact_of: dict[int, int] = {}

    # 2. Re-check -------------------------------------------------------------------------

    def recheck(self, messages: list[Message]) -> list[Message]:
        """Settle whatever may not go now; return what may."""
        now = self.now
        expired = [m.id for m in messages if m.expires_at and m.expires_at <= now]
        if expired:
            self.result.expired += self._set(
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

        # Planning checked the cap at each message's planned time; other campaigns may have sent
        # since, so what was sent by now decides.
        capped = frequency_capped_contact_ids(
            campaign=self.campaign, contact_ids=[m.contact_id for m in messages], at=now
        )
        if capped:
            self._skip([m.id for m in messages if m.contact_id in capped], SkipReason.FREQUENCY_CAP)
            messages = [m for m in messages if m.contact_id not in capped]

        messages = self._defer_quiet_hours(messages)
        return self._defer_pair_rate(messages)

    def _set(self, ids: Iterable[int], **values: object) -> int:
        return claimed_messages_update(ids, self.claim.token, **values)

    def _skip(self, ids: list[int], reason: str) -> None:
        if ids:
            self.result.skipped += self._set(ids, status=MessageStatus.SKIPPED, reason=str(reason))
            self.result.reasons[str(reason)] += len(ids)

    def _defer(self, by_time: dict[dt.datetime, list[int]], reason: str) -> None:
        for not_before, ids in by_time.items():
            self.result.deferred += self._set(
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
                contact_id__any=[m.contact_id for m in messages],
                sent_at__gte=self.now - dt.timedelta(seconds=PAIR_RATE_SECONDS),
            ).values_list("contact_id", flat=True)
        )
        if not recent:
            return messages
        release = self.now + dt.timedelta(seconds=PAIR_RATE_SECONDS)
        self._defer({release: [m.id for m in messages if m.contact_id in recent]}, "pair_rate")
        return [m for m in messages if m.contact_id not in recent]

    # 3. Personalise ------------------------------------------------------------------------

    @cached_property
    def _variants(self) -> VariantChooser:
        return VariantChooser(self.campaign)

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
            if outcome.variant == "fallback":
                # The fallback is a family too: the contact gets its language's variant.
                template = self._variants.fallback_for_language(message.contact.language or "")
                if template is None:
                    failed[str(SkipReason.NO_LANGUAGE_VARIANT)].append(message.id)
                    continue
            else:
                template = message.template
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
            self._contact_of[message.id] = message.contact_id
        self._skip(invalid, SkipReason.INVALID_PARAMETERS)
        if not jobs:
            return
        sender = self.sender
        rate = self.campaign.effective_throughput
        paced = send_paced(
            provider=self.provider,
            phone_number_id=sender.phone_number_id,
            jobs=jobs,
            reserve=lambda wanted, horizon: throttle.reserve(
                sender_key=sender.phone_number_id,
                rate_per_second=rate,
                wanted=wanted,
                horizon_seconds=horizon,
            ),
            keep_going=self.keep_going,
            hand_over=self.hand_over,
        )
        self.submitted = paced.submitted
        self.record(jobs, paced.outcomes, params, {m.id: m for m, _, _ in prepared})
        if paced.error is not None:
            raise paced.error

    def keep_going(self) -> float | None:
        """Asked by the sender before each batch: the instant nothing may leave after (the
        lease's end, renewed as needed), or None once the campaign no longer runs or the claim
        was taken over."""
        if not self.claim.renew_if_due():
            return None
        now = time.monotonic()
        if now >= self._next_status_check:
            self._next_status_check = now + STATUS_POLL_SECONDS
            status = (
                Campaign.objects.filter(pk=self.campaign.pk)
                .values_list("status", flat=True)
                .first()
            )
            if status != CampaignStatus.RUNNING:
                self.halted_status = status
                return None
        return self.claim.deadline

    def hand_over(self, batch: list[SendJob]) -> list[SendJob]:
        """Just before this batch leaves: an opt-out committed since the chunk started stops
        the send (see `messages_hand_over`)."""
        leaving, withdrawn = messages_hand_over(
            batch,
            token=self.claim.token,
            contact_of=self._contact_of,
            category=self.campaign.template.category,
        )
        self._skip(withdrawn, SkipReason.OPTED_OUT)
        return leaving

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
            token=self.claim.token,
            resend_unknown=self.campaign.unknown_outcome_policy == "resend",
            result=self.result,
            cancelled=self.halted_status == CampaignStatus.CANCELLED,
        )
        if stop_error is not None:
            self.stop_campaign(stop_error)

    def stop_campaign(self, error: ProviderError) -> None:
        reason = stop_reason_for(error)
        if error.stop_scope == StopScope.ALL_SENDING:
            sending_stop_for_account_error(error=error, sender=self.sender)
        self.stop_with_reason(reason)

    def stop_with_reason(self, reason: str) -> None:
        from .services import campaign_stop

        self.result.stopped_reason = reason
        campaign_stop(campaign_id=self.campaign.id, reason=reason[:500])


def stop_reason_for(error: ProviderError) -> str:
    if error.code:
        return f"Meta error {error.code}: {error.readable_message}"
    return error.readable_message


def sending_stop_for_account_error(*, error: ProviderError, sender: SenderNumber) -> list[int]:
    """An error no send through this number (or its whole WABA) can get past: stop every running
    campaign there with the reason, and hold its queued API messages instead of retrying them at
    once. Returns the ids of the campaigns stopped."""
    from .services import campaign_stop

    reason = stop_reason_for(error)[:500]
    if error.code in NUMBER_SCOPED_CODES:
        scope = Q(sender_id=sender.pk)
    else:
        scope = Q(sender__account_id=sender.account_id)
    stopped = []
    running = Campaign.objects.filter(scope, status=CampaignStatus.RUNNING)
    for campaign_id in running.values_list("id", flat=True):
        if campaign_stop(campaign_id=campaign_id, reason=reason):
            stopped.append(campaign_id)
    now = timezone.now()
    Message.objects.filter(scope, campaign__isnull=True, status=MessageStatus.QUEUED).update(
        not_before=now + ACCOUNT_ERROR_HOLD, reason=f"account_error_{error.code}"[:64]
    )
    return stopped


def retry_delay_for(error: ProviderError, attempts: int) -> float | None:
    """Seconds until a retry of a message after `attempts` tries, or None for no retry."""
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
    token: uuid.UUID,
    resend_unknown: bool,
    result: ChunkResult,
    cancelled: bool = False,
) -> ProviderError | None:
    """Write what Meta answered, grouped by outcome; returns the account-level error, if any.

    Accepted → sent with its wamid; retryable → queued again after a jittered backoff;
    ambiguous (may have reached Meta) → unknown, or, when resending is allowed (or Meta itself
    answered with a retryable error), queued again
    once Meta had time to prove by webhook that it arrived; 131049 → queued once for a day later;
    permanent → failed with Meta's code; account-level and never-sent → queued again with the
    attempt not counted (skipped instead when the campaign was cancelled meanwhile). Only
    messages still under `token` are written.
    """
    now = timezone.now()
    accepted: dict[int, tuple[str, dict]] = {}
    failures: dict[tuple, list[int]] = defaultdict(list)
    retries: dict[tuple[dt.datetime, str], list[int]] = defaultdict(list)
    marketing_limit: list[int] = []
    unknown: list[int] = []
    not_sent: list[int] = []
    stop_error: ProviderError | None = None
    marketing_opt_outs: list[int] = []
    window = proof_window().total_seconds()
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
        elif outcome.ambiguous:
            # A 5xx carrying Meta's own error (131000 "Something went wrong", 2 "Service
            # temporarily unavailable") is Meta telling us the request failed: its table says
            # retry, and the proof window still guards the retry. A timeout, a dropped connection
            # or a 5xx that is not Meta's answer says nothing: only the resend policy retries it.
            answered_by_meta = outcome.code is not None and outcome.retryable
            may_resend = resend_unknown or answered_by_meta
            delay = retry_delay_for(outcome, message.attempts) if may_resend else None
            if delay is None:
                unknown.append(job.message_id)
            else:
                at = now + dt.timedelta(seconds=max(delay, window))
                retries[(at, UNCONFIRMED_RESEND)].append(job.message_id)
        elif outcome.code == PER_USER_MARKETING_LIMIT and not message.marketing_limit_retried:
            marketing_limit.append(job.message_id)
        elif (delay := retry_delay_for(outcome, message.attempts)) is not None:
            retries[(now + dt.timedelta(seconds=delay), "retrying")].append(job.message_id)
        else:
            failures[
                (outcome.code, (outcome.title or outcome.message)[:300], outcome.details or "")
            ].append(job.message_id)
            if outcome.opt_out_marketing:
                marketing_opt_outs.append(message.contact_id)
    with transaction.atomic():
        written = _record_accepted(accepted, now, token=token)
        result.sent += len(written)
        late = {key: value for key, value in accepted.items() if key not in written}
        if late:
            _record_late_acceptance(late, now)
        for (code, title, details), ids in failures.items():
            result.failed += claimed_messages_update(
                ids,
                token,
                status=MessageStatus.FAILED,
                reason="meta_error",
                error_code=code,
                error_title=title,
                error_details=details,
                failed_at=now,
            )
        for (not_before, reason), ids in retries.items():
            result.retried += claimed_messages_update(
                ids, token, status=MessageStatus.QUEUED, not_before=not_before, reason=reason
            )
        result.retried += claimed_messages_update(
            marketing_limit,
            token,
            status=MessageStatus.QUEUED,
            not_before=now + dt.timedelta(seconds=MARKETING_LIMIT_WAIT_SECONDS),
            reason=MARKETING_LIMIT_RETRY,
            error_code=PER_USER_MARKETING_LIMIT,
            marketing_limit_retried=True,
        )
        result.unknown += claimed_messages_update(
            unknown, token, status=MessageStatus.UNKNOWN, reason="outcome_unknown"
        )
        if cancelled:
            result.skipped += claimed_messages_update(
                not_sent, token, status=MessageStatus.SKIPPED, reason="cancelled"
            )
        else:
            # Never left: back to the queue as they were, attempt not counted.
            result.requeued += claimed_messages_update(
                not_sent, token, status=MessageStatus.QUEUED, attempts=F("attempts") - 1
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


def marketing_limit_retries_schedule(*, messages: Iterable[Message]) -> int:
    """Status webhooks just failed these messages: those Meta held back for its per-user
    marketing limit (131049) get one retry a day later; a second 131049 stays failed.

    Called by the status ledger in its transaction, after the messages were written. The message
    stays `failed` (with its wamid) until the retry is due, so Meta's late or repeated reports of
    the first attempt still match it and are judged as reports of that attempt: a late `sent`
    changes nothing, a `delivered` proves the first attempt arrived and cancels the retry.
    `release_deferred` queues the retry when it is due.
    """
    ids = [
        message.pk
        for message in messages
        if message.status == MessageStatus.FAILED and message.error_code == PER_USER_MARKETING_LIMIT
    ]
    if not ids:
        return 0
    now = timezone.now()
    return (
        Message.objects.filter(
            id__in=ids,
            status=MessageStatus.FAILED,
            error_code=PER_USER_MARKETING_LIMIT,
            marketing_limit_retried=False,
        )
        .exclude(campaign__status=CampaignStatus.CANCELLED)
        .update(
            reason=MARKETING_LIMIT_RETRY,
            not_before=now + dt.timedelta(seconds=MARKETING_LIMIT_WAIT_SECONDS),
            marketing_limit_retried=True,
            updated_at=now,
        )
    )


def _release_marketing_limit_retries(now: dt.datetime) -> int:
    """Failed-with-131049 messages whose day has passed are queued for their one retry."""
    due = Message.objects.filter(
        status=MessageStatus.FAILED, reason=MARKETING_LIMIT_RETRY, not_before__lte=now
    ).exclude(campaign__status=CampaignStatus.CANCELLED)
    with transaction.atomic():
        ids = list(due.select_for_update(of=("self",)).values_list("id", flat=True))
        if not ids:
            return 0
        # The retry is a new send with its own wamid and time: the failed one's are let go.
        Message.objects.filter(id__in=ids).update(
            status=MessageStatus.QUEUED,
            wamid=None,
            sent_at=None,
            failed_at=None,
            lease_expires_at=None,
            claim_token=None,
            updated_at=now,
        )
        # A campaign that completed meanwhile runs again for its retries.
        reopened = list(
            Campaign.objects.select_for_update()
            .filter(
                status=CampaignStatus.COMPLETED,
                id__in=Message.objects.filter(id__in=ids, campaign__isnull=False).values(
                    "campaign_id"
                ),
            )
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if reopened:
            Campaign.objects.filter(pk__in=reopened).update(
                status=CampaignStatus.RUNNING, finished_at=None, updated_at=now
            )
            campaign_status_changes_record(
                changes=[
                    (
                        campaign_id,
                        CampaignStatus.COMPLETED,
                        CampaignStatus.RUNNING,
                        "retrying messages after Meta's per-user marketing limit",
                    )
                    for campaign_id in reopened
                ]
            )
    return len(ids)


def chunk_size_for(campaign: Campaign, requested: int | None = None) -> int:
    """At most a few seconds of sends at the campaign's rate, so a chunk ends well within its
    lease and a pause or a crash leaves little in flight."""
    size = requested or settings.TIDINGS_DISPATCH_CHUNK_SIZE
    seconds_of_sends = int(campaign.effective_throughput * settings.TIDINGS_DISPATCH_CHUNK_SECONDS)
    return max(1, min(size, seconds_of_sends))


def dispatch_chunk(*, campaign_id: int, chunk_size: int | None = None) -> ChunkResult:
    """Claim, re-check, personalise, send and record one chunk of a running campaign.

    Whatever goes wrong half-way, what the claim holds that never left goes back to the queue,
    attempt not counted; what did leave is recorded, or (if even that fails) left to the
    reconciler. The error is raised again afterwards.
    """
    campaign = Campaign.objects.select_related(
        "template__account", "sender__account", "fallback_template"
    ).get(pk=campaign_id)
    claim = claim_due_messages(
        campaign_id=campaign_id,
        limit=chunk_size_for(campaign, chunk_size),
        lease_seconds=settings.TIDINGS_DISPATCH_LEASE_SECONDS,
    )
    dispatcher = ChunkDispatcher(campaign, claim)
    dispatcher.result.claimed = len(claim.ids)
    dispatcher.result.deferred = claim.deferred
    if not claim.ids:
        return dispatcher.result
    try:
        _dispatch_claimed(dispatcher)
    except BaseException:
        try:
            release_unsent(claim, keep=dispatcher.submitted)
        except Exception:
            logger.exception("could not hand back chunk %s; the reconciler will", claim.token)
        raise
    if dispatcher.result.stopped_reason:
        logger.warning("campaign %s stopped: %s", campaign_id, dispatcher.result.stopped_reason)
    return dispatcher.result


def _dispatch_claimed(dispatcher: ChunkDispatcher) -> None:
    claim = dispatcher.claim
    messages = list(
        Message.objects.filter(id__any=claim.ids, status=MessageStatus.SENDING)
        .order_by("not_before", "id")
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
        release_unsent(claim)
        template = unsendable[0]
        dispatcher.stop_with_reason(
            f"Template {template.name} ({template.language}) is {template.status}; "
            "resume once Meta approves it again."
        )
        return
    ready = dispatcher.recheck(messages)
    # Personalisation may wait on a data source: keep the lease fresh before it starts.
    claim.renew_if_due()
    prepared = dispatcher.personalise(ready)
    dispatcher.send(prepared)


def release_deferred(*, now: dt.datetime | None = None) -> int:
    """Deferred messages whose time has come go back to the queue, and so do the 131049
    retries that are due."""
    now = now or timezone.now()
    released = Message.objects.filter(status=MessageStatus.DEFERRED, not_before__lte=now).update(
        status=MessageStatus.QUEUED, updated_at=now
    )
    return released + _release_marketing_limit_retries(now)


def due_work_exists(campaign_id: int) -> bool:
    now = timezone.now()
    return Message.objects.filter(
        Q(not_before__isnull=True) | Q(not_before__lte=now),
        campaign_id=campaign_id,
        status=MessageStatus.QUEUED,
    ).exists()
