"""Writes and business rules of the subscriptions app: subscriptions, delivery attempts with
backoff, automatic disabling, secrets, test events, retention and erasure.

A delivery is attempted by a Celery task that first claims it with a conditional update
(`pending` and due → `sending`, the attempt counted and a lease set), so a task enqueued twice
(by the feed and by the beat) sends once. A failed attempt puts it back to `pending` with the
next attempt due after an exponential backoff with jitter, bounded by
`TIDINGS_SUBSCRIPTION_RETRY_MAX_SECONDS`; the beat enqueues what is due. After
`TIDINGS_SUBSCRIPTION_MAX_ATTEMPTS` it stays `failed`. Every attempt is logged. A worker lost
mid-attempt leaves the delivery `sending` past its lease: the beat puts it back to `pending`,
which is why delivery is at least once.

Failed attempts in a row are counted on the subscription (any success resets the count); at
`TIDINGS_SUBSCRIPTION_DISABLE_AFTER_FAILURES` the subscription is disabled with the reason, shown
in the admin, and nothing more is attempted or created for it until it is enabled again.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from .errors import SubscriptionError
from .event_types import EVENT_TYPES, PING
from .feed import feed_cursors_ensure
from .models import (
    Delivery,
    DeliveryAttempt,
    DeliveryState,
    Event,
    Subscription,
    new_public_id,
)
from .signing import subscription_secret
from .transport import event_body, post_event
from .validation import TargetRefused, check_target_url

logger = logging.getLogger(__name__)

EDITABLE_FIELDS = ("target_url", "event_types", "description", "active")
# A claim lasts the request's timeouts plus this margin before the beat takes the delivery back.
LEASE_MARGIN_SECONDS = 15
DUE_BATCH = 1000
PURGE_BATCH = 1000
ERASED = "[erased]"


# --- Subscriptions ----------------------------------------------------------------------------


def subscription_clean_fields(*, target_url: Any, event_types: Any) -> tuple[str, list[str]]:
    """The URL and event types as stored, or SubscriptionError naming each wrong field."""
    errors: dict[str, list[str]] = {}
    url = str(target_url or "").strip()
    try:
        check_target_url(url)
    except TargetRefused as refused:
        errors["target_url"] = [refused.message]
    types: list[str] = []
    if not isinstance(event_types, list | tuple) or not event_types:
        errors["event_types"] = ["Choose at least one event type."]
    else:
        unknown = sorted({str(name) for name in event_types} - EVENT_TYPES)
        if unknown:
            errors["event_types"] = [
                f"Unknown event type(s): {', '.join(unknown)}. "
                f"Known: {', '.join(sorted(EVENT_TYPES))}."
            ]
        types = sorted({str(name) for name in event_types})
    if errors:
        raise SubscriptionError("The subscription cannot be saved as it is.", field_errors=errors)
    return url, types


def subscription_create(
    *,
    target_url: str,
    event_types: list[str],
    description: str = "",
    active: bool = True,
    created_by: Any = None,
) -> Subscription:
    """A new subscription; it receives the events that happen from now on."""
    url, types = subscription_clean_fields(target_url=target_url, event_types=event_types)
    with transaction.atomic():
        subscription = Subscription.objects.create(
            target_url=url,
            event_types=types,
            description=(description or "")[:300],
            active=active,
            created_by=created_by if getattr(created_by, "is_authenticated", False) else None,
        )
    feed_cursors_ensure()
    return subscription


def subscription_update(*, subscription: Subscription, **fields: Any) -> Subscription:
    """Change the URL, event types, description or active flag. Setting `active` back on
    enables a disabled subscription (see `subscription_enable`)."""
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise SubscriptionError(f"These fields cannot be changed: {', '.join(sorted(unknown))}.")
    url, types = subscription_clean_fields(
        target_url=fields.get("target_url", subscription.target_url),
        event_types=fields.get("event_types", subscription.event_types),
    )
    enabling = bool(fields.get("active")) and not subscription.active
    with transaction.atomic():
        locked = Subscription.objects.select_for_update().get(pk=subscription.pk)
        locked.target_url = url
        locked.event_types = types
        if "description" in fields:
            locked.description = (fields["description"] or "")[:300]
        if "active" in fields:
            locked.active = bool(fields["active"])
        locked.save()
    if enabling:
        return subscription_enable(subscription_id=locked.pk)
    return locked


def subscription_delete(*, subscription_id: int) -> None:
    """Delete a subscription with its delivery log; its events stay for other subscribers."""
    Subscription.objects.filter(pk=subscription_id).delete()


def subscription_enable(*, subscription_id: int) -> Subscription:
    """Active again after an automatic (or manual) disabling: the failure count and the reason
    are cleared, and its pending deliveries are attempted now."""
    now = timezone.now()
    with transaction.atomic():
        subscription = Subscription.objects.select_for_update().get(pk=subscription_id)
        subscription.active = True
        subscription.consecutive_failures = 0
        subscription.disabled_at = None
        subscription.disabled_reason = ""
        subscription.save()
        pending = list(
            Delivery.objects.filter(subscription_id=subscription_id, state=DeliveryState.PENDING)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        Delivery.objects.filter(pk__in=pending).update(next_attempt_at=now)
        transaction.on_commit(lambda: deliveries_enqueue(delivery_ids=pending))
    feed_cursors_ensure()
    return subscription


def subscription_disable(*, subscription_id: int) -> Subscription:
    """Stop delivering to a subscription (by hand); pending deliveries wait until it is enabled."""
    with transaction.atomic():
        subscription = Subscription.objects.select_for_update().get(pk=subscription_id)
        subscription.active = False
        subscription.save()
    return subscription


def subscription_rotate_secret(*, subscription_id: int) -> Subscription:
    """A new public id, hence a new signing secret. The previous secret still signs (as a second
    `v1`) for TIDINGS_SUBSCRIPTION_SECRET_ROTATION_HOURS, so the receiver can switch over."""
    with transaction.atomic():
        subscription = Subscription.objects.select_for_update().get(pk=subscription_id)
        subscription.previous_public_id = subscription.public_id
        subscription.public_id = new_public_id()
        subscription.secret_rotated_at = timezone.now()
        subscription.save()
    return subscription


def subscription_signing_secrets(
    subscription: Subscription, *, now: dt.datetime | None = None
) -> list[str]:
    """The secrets that sign its events: the current one, and the previous one during the grace
    period after a rotation."""
    secrets = [subscription_secret(subscription.public_id)]
    grace = dt.timedelta(hours=settings.TIDINGS_SUBSCRIPTION_SECRET_ROTATION_HOURS)
    rotated = subscription.secret_rotated_at
    if subscription.previous_public_id and rotated and (now or timezone.now()) < rotated + grace:
        secrets.append(subscription_secret(subscription.previous_public_id))
    return secrets


@dataclass(frozen=True)
class TestOutcome:
    delivery_id: int
    succeeded: bool
    status_code: int | None
    duration_ms: int
    error: str

    @property
    def summary(self) -> str:
        if self.succeeded:
            return f"Test event delivered: HTTP {self.status_code} in {self.duration_ms} ms."
        return f"Test event not delivered: {self.error}."


def subscription_send_test(*, subscription_id: int) -> TestOutcome:
    """Send a `ping` event to this subscription now, once, and say how it went.

    Works on a disabled subscription too (to check a receiver before enabling it again); a test
    neither counts as a failure towards disabling nor resets the count.
    """
    subscription = Subscription.objects.get(pk=subscription_id)
    now = timezone.now()
    with transaction.atomic():
        event = Event.objects.create(
            type=PING,
            source=PING,
            occurred_at=now,
            data={
                "subscription": subscription.public_id,
                "message": "A test event from Tidings: the signature verifies with your secret.",
            },
        )
        delivery = Delivery.objects.create(
            subscription=subscription, event=event, next_attempt_at=now
        )
    outcome = delivery_attempt(delivery_id=delivery.pk, test=True)
    attempt = DeliveryAttempt.objects.filter(delivery_id=delivery.pk).order_by("-number").first()
    return TestOutcome(
        delivery_id=delivery.pk,
        succeeded=outcome.state == DeliveryState.SUCCEEDED,
        status_code=attempt.status_code if attempt else None,
        duration_ms=attempt.duration_ms if attempt else 0,
        error=attempt.error if attempt else outcome.state,
    )


# --- Delivery ---------------------------------------------------------------------------------


def retry_delay(attempts: int) -> float:
    """Seconds before the next attempt after `attempts` failed ones: exponential from
    TIDINGS_SUBSCRIPTION_RETRY_BASE_SECONDS, capped at TIDINGS_SUBSCRIPTION_RETRY_MAX_SECONDS,
    then jittered to between half and all of that (so receivers coming back are not hit by
    every retry at once)."""
    base = float(settings.TIDINGS_SUBSCRIPTION_RETRY_BASE_SECONDS)
    ceiling = float(settings.TIDINGS_SUBSCRIPTION_RETRY_MAX_SECONDS)
    bound = min(ceiling, base * 2 ** max(0, attempts - 1))
    return bound / 2 + random.uniform(0, bound / 2)


def event_envelope(event: Event, subscription: Subscription) -> dict[str, Any]:
    """What the receiver gets: the event's stable id, type, times and payload."""
    return {
        "id": str(event.event_id),
        "type": event.type,
        "created_at": _iso(event.created_at),
        "occurred_at": _iso(event.occurred_at),
        "subscription": subscription.public_id,
        "data": event.data,
    }


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class AttemptOutcome:
    state: str
    attempt: int = 0


def delivery_attempt(*, delivery_id: int, test: bool = False) -> AttemptOutcome:
    """Attempt one delivery if it is due and its subscription active (a `test` needs neither);
    returns its state afterwards ("not_due" when another run has it or it is not due)."""
    now = timezone.now()
    lease = dt.timedelta(
        seconds=settings.TIDINGS_SUBSCRIPTION_CONNECT_TIMEOUT
        + settings.TIDINGS_SUBSCRIPTION_READ_TIMEOUT
        + LEASE_MARGIN_SECONDS
    )
    due = Delivery.objects.filter(
        pk=delivery_id, state=DeliveryState.PENDING, next_attempt_at__lte=now
    )
    if not test:
        due = due.filter(subscription__active=True)
    claimed = due.update(
        state=DeliveryState.SENDING,
        lease_expires_at=now + lease,
        attempts=F("attempts") + 1,
        last_attempt_at=now,
    )
    if not claimed:
        return AttemptOutcome(state="not_due")
    delivery = Delivery.objects.select_related("event", "subscription").get(pk=delivery_id)
    subscription = delivery.subscription
    number = delivery.attempts
    body = event_body(event_envelope(delivery.event, subscription))
    result = post_event(
        url=subscription.target_url,
        body=body,
        secrets=subscription_signing_secrets(subscription, now=now),
        event_id=str(delivery.event.event_id),
        event_type=delivery.event.type,
        attempt=number,
    )
    finished = timezone.now()
    if result.succeeded:
        state, next_at = DeliveryState.SUCCEEDED, None
    elif test or number - delivery.attempts_before >= settings.TIDINGS_SUBSCRIPTION_MAX_ATTEMPTS:
        state, next_at = DeliveryState.FAILED, None
    else:
        state = DeliveryState.PENDING
        next_at = finished + dt.timedelta(seconds=retry_delay(number))
    with transaction.atomic():
        DeliveryAttempt.objects.create(
            delivery_id=delivery_id,
            number=number,
            started_at=now,
            duration_ms=result.duration_ms,
            status_code=result.status_code,
            succeeded=result.succeeded,
            error=result.error[:500],
            response_excerpt=result.response_excerpt[:500],
        )
        # Only while the claim is ours: the beat may have taken an expired one back meanwhile.
        Delivery.objects.filter(
            pk=delivery_id, state=DeliveryState.SENDING, attempts=number
        ).update(
            state=state,
            next_attempt_at=next_at,
            lease_expires_at=None,
            succeeded_at=finished if result.succeeded else None,
            last_status_code=result.status_code,
            last_error=result.error[:500],
        )
        if not test:
            _count_outcome(subscription.pk, result.succeeded, result.error, finished)
    return AttemptOutcome(state=state, attempt=number)


def _count_outcome(subscription_id: int, succeeded: bool, error: str, at: dt.datetime) -> None:
    if succeeded:
        Subscription.objects.filter(pk=subscription_id).update(
            consecutive_failures=0, last_delivered_at=at
        )
        return
    subscription = Subscription.objects.select_for_update().get(pk=subscription_id)
    subscription.consecutive_failures += 1
    subscription.last_failed_at = at
    limit = settings.TIDINGS_SUBSCRIPTION_DISABLE_AFTER_FAILURES
    fields = ["consecutive_failures", "last_failed_at", "updated_at"]
    if subscription.active and subscription.consecutive_failures >= limit:
        subscription.active = False
        subscription.disabled_at = at
        subscription.disabled_reason = (
            f"Disabled automatically after {subscription.consecutive_failures} failed delivery "
            f"attempts in a row; the last one: {error or 'no answer'}. Fix the receiver, send a "
            "test event, then enable it again."
        )[:500]
        fields += ["active", "disabled_at", "disabled_reason"]
        logger.warning("subscription %s disabled: %s", subscription_id, error)
    subscription.save(update_fields=fields)


def deliveries_enqueue(*, delivery_ids: list[int]) -> None:
    """Publish one delivery task per id; a broker failure is logged (the beat catches up)."""
    from .tasks import deliver_event

    for delivery_id in delivery_ids:
        try:
            deliver_event.delay(delivery_id)
        except Exception:
            logger.exception("could not enqueue delivery %s; the beat will", delivery_id)
            return


def deliveries_enqueue_due(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Beat: take back deliveries whose worker was lost (lease expired), then enqueue those due
    for an attempt (retries after their backoff, and any whose task was lost)."""
    now = now or timezone.now()
    limit = settings.TIDINGS_SUBSCRIPTION_MAX_ATTEMPTS
    expired = Delivery.objects.filter(state=DeliveryState.SENDING, lease_expires_at__lt=now)
    gave_up = expired.filter(attempts__gte=F("attempts_before") + limit).update(
        state=DeliveryState.FAILED,
        lease_expires_at=None,
        last_error="The worker was lost during the last attempt",
    )
    taken_back = expired.update(
        state=DeliveryState.PENDING,
        lease_expires_at=None,
        next_attempt_at=now,
        last_error="The worker was lost during the attempt; attempted again",
    )
    due = list(
        Delivery.objects.filter(
            state=DeliveryState.PENDING, next_attempt_at__lte=now, subscription__active=True
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:DUE_BATCH]
    )
    deliveries_enqueue(delivery_ids=due)
    return {"enqueued": len(due), "taken_back": taken_back, "gave_up": gave_up}


def delivery_redeliver(*, delivery_id: int) -> Delivery:
    """Attempt again a delivery that gave up (or that the receiver lost after a success):
    pending, due now, with a fresh budget of TIDINGS_SUBSCRIPTION_MAX_ATTEMPTS attempts."""
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().select_related("event").get(pk=delivery_id)
        if delivery.state in (DeliveryState.PENDING, DeliveryState.SENDING):
            raise SubscriptionError("This delivery is still being attempted.")
        if delivery.event.type == PING:
            raise SubscriptionError("Test events are not delivered again; send a new one.")
        delivery.state = DeliveryState.PENDING
        delivery.next_attempt_at = timezone.now()
        delivery.attempts_before = delivery.attempts
        delivery.save(update_fields=["state", "next_attempt_at", "attempts_before"])
        transaction.on_commit(lambda: deliveries_enqueue(delivery_ids=[delivery_id]))
    return delivery


# --- Retention and erasure --------------------------------------------------------------------


def events_purge(*, now: dt.datetime | None = None) -> int:
    """Delete events (with their deliveries and attempt logs) older than
    TIDINGS_SUBSCRIPTION_EVENT_RETENTION_DAYS; returns how many events went."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=settings.TIDINGS_SUBSCRIPTION_EVENT_RETENTION_DAYS)
    total = 0
    while True:
        ids = list(
            Event.objects.filter(created_at__lt=cutoff)
            .exclude(deliveries__state=DeliveryState.SENDING)
            .order_by("pk")
            .values_list("pk", flat=True)[:PURGE_BATCH]
        )
        if not ids:
            return total
        with transaction.atomic():
            DeliveryAttempt.objects.filter(delivery__event_id__in=ids).delete()
            Delivery.objects.filter(event_id__in=ids).delete()
            total += Event.objects.filter(pk__in=ids).delete()[0]


_CONTACT_KEYS = ("phone", "external_id", "whatsapp_user_id")


def events_erase_for_contact(contact_id: int) -> None:
    """Erasure step (registered with contacts): the contact's identifiers and what they wrote
    are redacted in every stored event, so no later attempt sends them."""
    for event in Event.objects.filter(Q(contact_id=contact_id)).only("pk", "data"):
        data = event.data
        contact = data.get("contact")
        if isinstance(contact, dict):
            for key in _CONTACT_KEYS:
                if contact.get(key):
                    contact[key] = None
            contact["erased"] = True
        inbound = data.get("inbound_message")
        if isinstance(inbound, dict):
            inbound["text"] = ERASED if inbound.get("text") else ""
            for block in ("button", "interactive"):
                if isinstance(inbound.get(block), dict):
                    inbound[block] = dict.fromkeys(inbound[block], "")
        Event.objects.filter(pk=event.pk).update(data=data)
