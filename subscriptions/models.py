"""Models of the subscriptions app: outbound event webhooks for integrators.

* `Subscription`: a receiver's URL and the event types it wants. Its signing secret is not
  stored: it is derived from the environment's master key and the subscription's `public_id`
  (see `subscriptions.signing`), so rotating the public id rotates the secret.
* `Event`: one thing that happened, taken from a source table of an app to the left by the
  change feed (`subscriptions.feed`); unique per source row, with a stable public `event_id`.
* `Delivery`: one event for one subscription (unique per pair), retried with backoff.
* `DeliveryAttempt`: the log of every HTTP attempt of a delivery.
* `FeedCursor`: how far the change feed has read each source table.
"""

from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from config.models import TimeStampedModel

from .event_types import EventType

PUBLIC_ID_PREFIX = "sub_"


def new_public_id() -> str:
    return PUBLIC_ID_PREFIX + secrets.token_urlsafe(18)


class Subscription(TimeStampedModel):
    """An integrator's endpoint that receives signed JSON for the event types it chose."""

    public_id = models.CharField(
        max_length=40,
        unique=True,
        default=new_public_id,
        editable=False,
        help_text="Identifies the subscription to its receiver; the signing secret is derived "
        "from it, so rotating it rotates the secret.",
    )
    previous_public_id = models.CharField(
        max_length=40,
        blank=True,
        editable=False,
        help_text="The public id before the last rotation: its secret still signs during the "
        "rotation grace period.",
    )
    secret_rotated_at = models.DateTimeField(null=True, blank=True, editable=False)
    target_url = models.URLField(
        "target URL", max_length=2000, help_text="Where events are POSTed (http or https)."
    )
    event_types = models.JSONField(default=list, help_text="The event types delivered.")
    active = models.BooleanField(default=True)
    description = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    consecutive_failures = models.PositiveIntegerField(
        default=0, help_text="Failed attempts in a row; any success resets it."
    )
    disabled_at = models.DateTimeField(
        null=True, blank=True, help_text="When it was disabled automatically."
    )
    disabled_reason = models.CharField(max_length=500, blank=True)
    last_delivered_at = models.DateTimeField(null=True, blank=True)
    last_failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.description or self.target_url

    @property
    def disabled_automatically(self) -> bool:
        return not self.active and self.disabled_at is not None


class Event(models.Model):
    """Something that happened, in the form every subscriber receives it.

    `source` and `source_id` name the row it was made from (a message status event, an inbound
    message, a consent record, a campaign status change); the unique constraint makes the change
    feed idempotent. `event_id` is chosen once, when the row is made, and sent with every attempt:
    receivers use it to drop the duplicates at-least-once delivery brings. `data` is the event's
    payload as sent; personal fields in it are redacted when the contact is erased.
    """

    event_id = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    type = models.CharField(max_length=40, db_index=True)
    source = models.CharField(max_length=24)
    source_id = models.BigIntegerField(null=True, blank=True)
    occurred_at = models.DateTimeField(help_text="When it happened (Meta's time where Meta says).")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    contact_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    campaign_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    data = models.JSONField(default=dict)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "source_id"],
                condition=models.Q(source_id__isnull=False),
                name="%(app_label)s_%(class)s_once_per_source_row",
            )
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"

    @property
    def type_label(self) -> str:
        return str(EventType(self.type).label) if self.type in EventType.values else self.type


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SUCCEEDED = "succeeded", "Delivered"
    FAILED = "failed", "Failed (gave up)"


class Delivery(models.Model):
    """One event for one subscription: attempted until the receiver answers 2xx, with backoff,
    at most TIDINGS_SUBSCRIPTION_MAX_ATTEMPTS times."""

    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    state = models.CharField(
        max_length=16, choices=DeliveryState.choices, default=DeliveryState.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    attempts_before = models.PositiveSmallIntegerField(
        default=0, help_text="Attempts made before it was last sent again by hand."
    )
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "event"], name="%(app_label)s_%(class)s_once_per_event"
            )
        ]
        indexes = [
            # The retry queue: pending deliveries by when they are due.
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(state="pending"),
                name="subscriptions_delivery_due_idx",
            ),
            models.Index(
                fields=["lease_expires_at"],
                condition=models.Q(state="sending"),
                name="subscriptions_delivery_lease",
            ),
            models.Index(fields=["subscription", "-created_at"], name="subscriptions_delivery_sub"),
        ]

    def __str__(self) -> str:
        return f"Delivery {self.pk} ({self.state})"


class DeliveryAttempt(models.Model):
    """One HTTP attempt of a delivery, as it went."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    succeeded = models.BooleanField(default=False)
    error = models.CharField(max_length=500, blank=True)
    response_excerpt = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["delivery", "number"], name="%(app_label)s_%(class)s_once_per_number"
            )
        ]

    def __str__(self) -> str:
        outcome = self.status_code or self.error or "?"
        return f"Attempt {self.number}: {outcome}"


class FeedCursor(models.Model):
    """How far the change feed has read one source table.

    `position` is the highest id read. `holes` are id ranges below it that were missing when it
    was read, ``[[low, high, first seen (Unix seconds)], ...]``: ids a transaction still open at
    the time had taken. They are read again on every run until they fill or age out.
    """

    source = models.CharField(max_length=24, unique=True)
    position = models.BigIntegerField(default=0)
    holes = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.source} at {self.position}"
