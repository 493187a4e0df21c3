"""The campaign: a template family sent to a segment, personalised, scheduled and throttled."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

from config.models import TimeStampedModel


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SCHEDULED = "scheduled", "Scheduled"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"
    STOPPED = "stopped", "Stopped"


class ScheduleType(models.TextChoices):
    NOW = "now", "As soon as it is started"
    AT = "at", "At a date and time"
    LOCAL_TIME = "local_time", "At a local time in each recipient's timezone"


class LawfulBasis(models.TextChoices):
    CONSENT = "consent", "Consent"
    CONTRACT = "contract", "Performance of a contract"
    LEGITIMATE_INTEREST = "legitimate_interest", "Legitimate interest"
    LEGAL_OBLIGATION = "legal_obligation", "Legal obligation"


class UnknownOutcomePolicy(models.TextChoices):
    """What to do with a message whose send outcome a crash left unknown."""

    AT_MOST_ONCE = "at_most_once", "Never resend (at most once)"
    RESEND = "resend", "Resend (at least once)"


class Campaign(TimeStampedModel):
    """A campaign sends one template family to the contacts of a segment.

    `template` is the family's variant in `default_language`; each recipient gets the variant in
    their own language when the family has one. `variable_mapping` maps every template variable
    key (``body.1``, ``body.first_name``, ``header.1``, ``button.0``) to where its value comes from:
    ``{"source": "contact" | "attribute" | "data_source" | "constant", "path": "...",
    "fallback": "..." | null, "format": "text" | "integer" | "money" | "date", "currency": "EUR"}``.
    """

    name = models.CharField(max_length=200)
    sender = models.ForeignKey(
        "templates_app.SenderNumber", on_delete=models.PROTECT, related_name="campaigns"
    )
    template = models.ForeignKey(
        "templates_app.MessageTemplate",
        on_delete=models.PROTECT,
        related_name="campaigns",
        help_text="The template family, in its default-language variant.",
    )
    default_language = models.CharField(max_length=16)
    fallback_template = models.ForeignKey(
        "templates_app.MessageTemplate",
        on_delete=models.PROTECT,
        related_name="fallback_for_campaigns",
        null=True,
        blank=True,
        help_text="The generic version sent when personalisation data cannot be had.",
    )
    segment = models.ForeignKey(
        "contacts.Segment", on_delete=models.PROTECT, related_name="campaigns", null=True
    )
    variable_mapping = models.JSONField(default=dict, blank=True)
    fallback_variable_mapping = models.JSONField(default=dict, blank=True)
    tracked_links = models.JSONField(
        default=dict,
        blank=True,
        help_text='URL button variables to track, e.g. {"button.0": '
        '"https://shop.example.com/orders/{value}"}: the button then carries a per-message '
        "token for /r/<token>, which counts the click and redirects to this address with the "
        "variable's value in place of {value}.",
    )

    schedule_type = models.CharField(
        max_length=16, choices=ScheduleType.choices, default=ScheduleType.NOW
    )
    scheduled_at = models.DateTimeField(
        null=True, blank=True, help_text="For 'at': the instant; for 'local time': the date used."
    )
    local_send_time = models.TimeField(
        null=True, blank=True, help_text="For 'local time': the wall-clock time in each timezone."
    )
    quiet_hours_start = models.TimeField(null=True, blank=True)
    quiet_hours_end = models.TimeField(null=True, blank=True)
    valid_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Messages not sent by then expire instead of going out late.",
    )

    throughput_per_second = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Messages per second; empty means the sender number's cap.",
    )
    frequency_cap_count = models.PositiveIntegerField(
        null=True, blank=True, help_text="At most this many marketing messages per contact…"
    )
    frequency_cap_window_hours = models.PositiveIntegerField(
        null=True, blank=True, help_text="…within this rolling window, across all campaigns."
    )
    unknown_outcome_policy = models.CharField(
        max_length=16,
        choices=UnknownOutcomePolicy.choices,
        default=UnknownOutcomePolicy.AT_MOST_ONCE,
    )

    purpose = models.CharField(max_length=300, blank=True)
    lawful_basis = models.CharField(
        max_length=32, choices=LawfulBasis.choices, default=LawfulBasis.CONSENT
    )

    status = models.CharField(
        max_length=16, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT, db_index=True
    )
    status_reason = models.CharField(max_length=500, blank=True)
    planned_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at"]
        permissions = [("launch_campaign", "Can launch (schedule, start, resume) campaigns")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(throughput_per_second__isnull=True)
                | models.Q(throughput_per_second__gte=1),
                name="%(app_label)s_%(class)s_throughput_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def effective_throughput(self) -> int:
        return self.throughput_per_second or self.sender.throughput_per_second


class CampaignStatusChange(models.Model):
    """Each change of a campaign's status, appended in the same transaction as the change.

    Written by `campaigns.status_history.campaign_status_changes_record` at every place the
    status moves (the state machine, completion, reopening for retries), never changed or
    deleted: it is the campaign's timeline, and the feed the outbound event subscriptions read
    for `campaign.status_changed` events.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=16, choices=CampaignStatus.choices)
    to_status = models.CharField(max_length=16, choices=CampaignStatus.choices)
    reason = models.CharField(max_length=500, blank=True)
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["changed_at", "id"]
        indexes = [
            models.Index(fields=["campaign", "changed_at"], name="campaigns_status_change_idx")
        ]

    def __str__(self) -> str:
        return f"{self.from_status} → {self.to_status} at {self.changed_at:%Y-%m-%d %H:%M:%S}"
