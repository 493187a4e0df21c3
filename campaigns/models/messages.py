"""The outbound message ledger: every send is recorded here before it leaves."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from config.models import TimeStampedModel


class MessageStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    DEFERRED = "deferred", "Deferred"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    READ = "read", "Read"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"
    EXPIRED = "expired", "Expired"
    UNKNOWN = "unknown", "Unknown"


# Statuses Meta reports move forward only; a late or duplicate event never moves a message back.
DELIVERY_RANK = {
    MessageStatus.SENT: 1,
    MessageStatus.DELIVERED: 2,
    MessageStatus.READ: 3,
}
FINAL_STATUSES = frozenset(
    {
        MessageStatus.SENT,
        MessageStatus.DELIVERED,
        MessageStatus.READ,
        MessageStatus.FAILED,
        MessageStatus.SKIPPED,
        MessageStatus.EXPIRED,
        MessageStatus.UNKNOWN,
    }
)


class SkipReason(models.TextChoices):
    NO_CONSENT = "no_consent", "No consent for this kind of message"
    FREQUENCY_CAP = "frequency_cap", "Frequency cap reached"
    ERASED = "erased", "Contact erased"
    INVALID_NUMBER = "invalid_number", "Invalid phone number"
    NO_LANGUAGE_VARIANT = "no_language_variant", "No template variant for the language"
    TEMPLATE_NOT_SENDABLE = "template_not_sendable", "Template is not approved"
    MARKETING_NOT_DELIVERED = (
        "marketing_not_delivered_in_country",
        "Meta does not deliver marketing templates to this country",
    )
    PERSONALISATION_FAILED = "personalisation_failed", "Personalisation data unavailable"
    INVALID_PARAMETERS = "invalid_parameters", "Parameters do not fit the template"
    OPTED_OUT = "opted_out", "Opted out before sending"


class Message(TimeStampedModel):
    """One template message to one contact, from queued to read (or why not).

    `parameters` holds the rendered variable values by template variable key; they are purged
    after the retention period while the metadata stays for the audit. `idempotency_key` makes
    every send unique: ``campaign:<id>:<contact id>`` for campaigns, the caller's key for API sends.
    """

    campaign = models.ForeignKey(
        "campaigns.Campaign",
        on_delete=models.PROTECT,
        related_name="messages",
        null=True,
        blank=True,
    )
    test_of_campaign = models.ForeignKey(
        "campaigns.Campaign",
        on_delete=models.PROTECT,
        related_name="test_messages",
        null=True,
        blank=True,
        help_text="Set on a test send: the campaign it previewed. A test has no `campaign`, so "
        "it is never counted in that campaign's stats or frequency caps.",
    )
    contact = models.ForeignKey(
        "contacts.Contact", on_delete=models.PROTECT, related_name="messages"
    )
    sender = models.ForeignKey(
        "templates_app.SenderNumber", on_delete=models.PROTECT, related_name="messages"
    )
    template = models.ForeignKey(
        "templates_app.MessageTemplate",
        on_delete=models.PROTECT,
        related_name="messages",
        null=True,
        blank=True,
        help_text="The variant sent; empty until chosen.",
    )
    category = models.CharField(max_length=16, help_text="Template category at send time.")
    parameters = models.JSONField(default=dict, blank=True)
    idempotency_key = models.CharField(max_length=255, unique=True)
    request_fingerprint = models.CharField(
        max_length=64, blank=True, help_text="Hash of the API request body, for idempotent replays."
    )

    status = models.CharField(
        max_length=16, choices=MessageStatus.choices, default=MessageStatus.QUEUED
    )
    reason = models.CharField(
        max_length=64, blank=True, help_text="Why skipped, failed or expired."
    )
    error_code = models.IntegerField(null=True, blank=True)
    error_title = models.CharField(max_length=300, blank=True)
    error_details = models.TextField(blank=True)
    meta_errors = models.JSONField(
        default=list,
        blank=True,
        help_text="Meta's errors for a failed status, whole: code, title, message, details, href.",
    )
    attempts = models.PositiveSmallIntegerField(default=0)

    not_before = models.DateTimeField(
        null=True, blank=True, help_text="Earliest send time (schedule, quiet hours, backoff)."
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    claim_token = models.UUIDField(
        null=True,
        blank=True,
        editable=False,
        help_text="The claim of the worker sending it: every write of a send result must carry "
        "it, so a worker whose lease was taken over can no longer change the message.",
    )
    marketing_limit_retried = models.BooleanField(
        default=False,
        help_text="Already queued again once after Meta's per-user marketing limit (131049).",
    )

    wamid = models.CharField(
        "WhatsApp message id", max_length=128, null=True, blank=True, unique=True
    )
    consent_record = models.ForeignKey(
        "contacts.ConsentRecord",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The opt-in this send relied on.",
    )

    queued_at = models.DateTimeField(null=True, blank=True)
    sending_at = models.DateTimeField(null=True, blank=True)
    handed_over_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=(
            "When the send was handed to the provider, after the last consent check: from then "
            "on it may have reached Meta."
        ),
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    replied_at = models.DateTimeField(null=True, blank=True)

    pricing_category = models.CharField(max_length=32, blank=True)
    pricing_model = models.CharField(max_length=16, blank=True)
    pricing_type = models.CharField(max_length=32, blank=True)
    billable = models.BooleanField(null=True, blank=True)
    conversation_id = models.CharField(max_length=128, blank=True)
    conversation_origin = models.CharField(max_length=32, blank=True)
    conversation_expires_at = models.DateTimeField(null=True, blank=True)

    parameters_purged_at = models.DateTimeField(null=True, blank=True)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who sent it (API sends) or launched its campaign.",
    )

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "contact"],
                condition=models.Q(campaign__isnull=False),
                name="%(app_label)s_%(class)s_once_per_campaign_contact",
            ),
        ]
        indexes = [
            # The dispatch work queue: queued messages of a campaign, oldest due first.
            models.Index(
                fields=["campaign", "not_before", "id"],
                condition=models.Q(status="queued"),
                name="campaigns_message_queue_idx",
            ),
            models.Index(
                fields=["lease_expires_at"],
                condition=models.Q(status="sending"),
                name="campaigns_message_lease_idx",
            ),
            models.Index(
                fields=["status", "not_before"],
                condition=models.Q(status="deferred"),
                name="campaigns_message_deferred_idx",
            ),
            models.Index(fields=["contact", "sent_at"], name="campaigns_message_contact_sent"),
            # The messaging-limit budget: unique recipients of a number within the last 24 h,
            # read from the index alone.
            models.Index(
                fields=["sender", "sent_at"],
                include=["contact"],
                name="campaigns_message_sender_sent",
            ),
            models.Index(fields=["campaign", "status"], name="campaigns_message_campaign_st"),
            # Operations (dashboard, /metrics): messages per day and status, from the index alone.
            models.Index(fields=["created_at", "status"], name="campaigns_message_created_st"),
            # The same for messages without a campaign (API and test sends) alone.
            models.Index(
                fields=["created_at", "status"],
                condition=models.Q(campaign__isnull=True),
                name="campaigns_message_direct_idx",
            ),
            # Failures by time, Meta error code and campaign: a small index (failures only).
            models.Index(
                fields=["failed_at"],
                include=["campaign", "error_code"],
                condition=models.Q(status="failed"),
                name="campaigns_message_failed_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"Message {self.pk} to contact {self.contact_id} ({self.status})"


class MessageStatusEvent(models.Model):
    """Each status Meta reported for a message, with its own timestamp, once.

    Meta delivers statuses late, twice and out of order; this table keeps every distinct one so
    the audit shows the real timeline while `Message.status` only ever moves forward.
    """

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="status_events")
    status = models.CharField(max_length=32)
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField(auto_now_add=True)
    error_code = models.IntegerField(null=True, blank=True)
    error_title = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["occurred_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["message", "status"], name="%(app_label)s_%(class)s_once_per_status"
            )
        ]

    def __str__(self) -> str:
        return f"{self.status} at {self.occurred_at:%Y-%m-%d %H:%M:%S}"
