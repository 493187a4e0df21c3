"""Models of the webhooks app: what Meta delivered, and what we could not match yet.

* `WebhookDelivery`: every validly signed POST body, stored raw before it is acknowledged, so
  nothing Meta sends is ever lost (Meta cannot resend what it thinks we received). Processing
  happens later, in Celery, and can be replayed.
* `UnmatchedStatus`: a status whose message we could not find yet (the status webhook won the
  race against our send result); retried for a bounded time, then kept for an operator.
* `InboundMessage`: what users sent us, kept for a limited time (it is personal data).
* `WebhookEvent`: every other event (template and account updates, user preferences, Meta's
  errors, unknown fields), once per content, so replays and duplicates change nothing and the
  admin shows what happened.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Processing"
    PROCESSED = "processed", "Processed"
    FAILED = "failed", "Failed (replayable)"
    QUARANTINED = "quarantined", "Quarantined (not understood)"


class WebhookDelivery(models.Model):
    """One POST from Meta, byte for byte. Identical redeliveries are stored once (by sha256)."""

    body = models.BinaryField(help_text="The raw request body, exactly as signed by Meta.")
    sha256 = models.CharField(max_length=64, unique=True)
    size = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    from_users = models.BooleanField(
        default=False,
        help_text="The body holds what users sent or chose (messages, STOP keywords, marketing "
        "preferences): processed before pending receipts and account events.",
    )
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    claimed_at = models.DateTimeField(
        null=True, blank=True, help_text="When processing last started."
    )
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    summary = models.JSONField(
        default=dict, blank=True, help_text="Events processed, by kind and outcome."
    )

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            # The sweep's work queue: deliveries whose processing never started or never ended.
            models.Index(
                fields=["received_at"],
                condition=models.Q(status__in=["pending", "processing"]),
                name="webhooks_delivery_open_idx",
            ),
            models.Index(fields=["status", "received_at"], name="webhooks_delivery_status_idx"),
            # The drain's order: what users sent first, then by arrival.
            models.Index(
                fields=["-from_users", "received_at", "id"],
                condition=models.Q(status="pending"),
                name="webhooks_delivery_drain_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"Delivery {self.pk} ({self.status}, {self.size} bytes)"

    @property
    def body_text(self) -> str:
        return bytes(self.body).decode("utf-8", errors="replace")


class UnmatchedStatusState(models.TextChoices):
    RETRYING = "retrying", "Retrying"
    UNMATCHED = "unmatched", "Unmatched (gave up)"
    APPLIED = "applied", "Applied"


class UnmatchedStatus(models.Model):
    """A status Meta reported for a message we could not find, with its raw JSON.

    Kept whole (`payload`) so that applying it later — by the bounded retry, the sweep, the
    admin action or `manage.py replay_webhooks --unmatched` — is exactly the original report.
    """

    delivery = models.ForeignKey(
        WebhookDelivery,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="unmatched_statuses",
    )
    wamid = models.CharField("WhatsApp message id", max_length=128, blank=True)
    status = models.CharField(max_length=32)
    callback_data = models.CharField(max_length=512, blank=True)
    recipient_id = models.CharField(max_length=64, blank=True)
    waba_id = models.CharField("WABA id", max_length=64, blank=True)
    phone_number_id = models.CharField(max_length=64, blank=True)
    occurred_at = models.DateTimeField(null=True, blank=True)
    payload = models.JSONField(default=dict)
    state = models.CharField(
        max_length=16, choices=UnmatchedStatusState.choices, default=UnmatchedStatusState.RETRYING
    )
    attempts = models.PositiveIntegerField(default=0)
    first_seen_at = models.DateTimeField(default=timezone.now, db_index=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-first_seen_at", "-id"]
        verbose_name_plural = "unmatched statuses"
        constraints = [
            models.UniqueConstraint(
                fields=["wamid", "status"],
                condition=~models.Q(wamid=""),
                name="%(app_label)s_%(class)s_once_per_wamid_status",
            )
        ]
        indexes = [
            models.Index(
                fields=["first_seen_at"],
                condition=models.Q(state="retrying"),
                name="webhooks_unmatched_retry_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.status} for {self.wamid or self.callback_data or '?'} ({self.state})"


class ConsentReplyStatus(models.TextChoices):
    """The reply to a consent keyword (TIDINGS_CONSENT_KEYWORD_REPLY), sent at most once."""

    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    UNCERTAIN = "uncertain", "Outcome unknown (not sent again)"


class InboundMessage(models.Model):
    """A message a user sent to one of our numbers. Personal data: purged after a retention."""

    wamid = models.CharField("WhatsApp message id", max_length=128, unique=True)
    contact = models.ForeignKey(
        "contacts.Contact",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="inbound_messages",
    )
    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    phone_number_id = models.CharField(max_length=64, blank=True)
    from_wa_id = models.CharField("from (WhatsApp id)", max_length=32, blank=True)
    from_user_id = models.CharField("from (user id)", max_length=160, blank=True)
    message_type = models.CharField("type", max_length=32, blank=True)
    text = models.TextField(blank=True)
    button_payload = models.CharField(max_length=1000, blank=True)
    button_text = models.CharField(max_length=1000, blank=True)
    interactive_type = models.CharField(max_length=32, blank=True)
    interactive_id = models.CharField("interactive reply id", max_length=256, blank=True)
    interactive_title = models.CharField("interactive reply title", max_length=256, blank=True)
    context_wamid = models.CharField("in reply to", max_length=128, blank=True)
    sent_at = models.DateTimeField(help_text="When the user sent it (Meta's timestamp).")
    recorded_at = models.DateTimeField(default=timezone.now, db_index=True)
    consent_action = models.CharField(
        max_length=32, blank=True, help_text="The opt-out or opt-in it was read as, if any."
    )
    replied_to = models.ForeignKey(
        "campaigns.Message",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The campaign message this counts as a reply to.",
    )
    consent_reply_status = models.CharField(
        max_length=16,
        choices=ConsentReplyStatus.choices,
        blank=True,
        help_text="The configured reply to its opt-out or opt-in keyword, if one is due.",
    )
    consent_reply_wamid = models.CharField("consent reply id", max_length=128, blank=True)
    consent_reply_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-sent_at", "-id"]
        indexes = [
            models.Index(fields=["contact", "sent_at"], name="webhooks_inbound_contact"),
            # The sweep's work queue: consent replies whose task was lost.
            models.Index(
                fields=["recorded_at"],
                condition=models.Q(consent_reply_status="pending"),
                name="webhooks_inbound_reply_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.message_type or 'message'} {self.wamid}"


class WebhookEvent(models.Model):
    """An event other than a status or an inbound message, recorded once per content.

    `key` is the event's fingerprint: inserting it in the same transaction as the event's
    effects makes every effect happen exactly once, however often Meta (or a replay) repeats it.
    """

    key = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=32, db_index=True)
    field = models.CharField(max_length=100, blank=True)
    waba_id = models.CharField("WABA id", max_length=64, blank=True)
    phone_number_id = models.CharField(max_length=64, blank=True)
    occurred_at = models.DateTimeField(null=True, blank=True)
    recorded_at = models.DateTimeField(default=timezone.now, db_index=True)
    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.SET_NULL, null=True, blank=True, related_name="events"
    )
    payload = models.JSONField(default=dict)
    outcome = models.CharField(max_length=500, blank=True, help_text="What Tidings did about it.")

    class Meta:
        ordering = ["-recorded_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.field} ({self.recorded_at:%Y-%m-%d %H:%M})"
