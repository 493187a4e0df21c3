"""Models of the templates app: WhatsApp Business accounts, sender numbers and message templates.

Accounts and numbers are here because every template belongs to a WhatsApp Business Account (WABA)
and every campaign sends from one of its numbers.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

from config.models import TimeStampedModel


class WhatsAppAccount(TimeStampedModel):
    """A WhatsApp Business Account (WABA) as Meta knows it."""

    waba_id = models.CharField("WABA id", max_length=64, unique=True)
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["name"]
        verbose_name = "WhatsApp account"

    def __str__(self) -> str:
        return f"{self.name} ({self.waba_id})"


class SenderNumber(TimeStampedModel):
    """A business phone number messages are sent from (Meta's phone-number id)."""

    class QualityRating(models.TextChoices):
        GREEN = "GREEN", "Green (high)"
        YELLOW = "YELLOW", "Yellow (medium)"
        RED = "RED", "Red (low)"
        UNKNOWN = "UNKNOWN", "Unknown"

    class MessagingLimitTier(models.TextChoices):
        TIER_50 = "TIER_50", "50 users / 24 h"
        TIER_250 = "TIER_250", "250 users / 24 h"
        TIER_2K = "TIER_2K", "2,000 users / 24 h"
        TIER_10K = "TIER_10K", "10,000 users / 24 h"
        TIER_100K = "TIER_100K", "100,000 users / 24 h"
        TIER_UNLIMITED = "TIER_UNLIMITED", "Unlimited"
        TIER_NOT_SET = "TIER_NOT_SET", "Not set"

    account = models.ForeignKey(WhatsAppAccount, on_delete=models.PROTECT, related_name="numbers")
    phone_number_id = models.CharField("phone-number id", max_length=64, unique=True)
    display_phone_number = models.CharField(max_length=32)
    verified_name = models.CharField(max_length=200, blank=True)
    throughput_per_second = models.PositiveIntegerField(
        default=80,
        validators=[MinValueValidator(1)],
        help_text="Meta's per-number cap: 80 msg/s by default, 1,000 after the automatic upgrade.",
    )
    quality_rating = models.CharField(
        max_length=16, choices=QualityRating.choices, default=QualityRating.UNKNOWN
    )
    messaging_limit_tier = models.CharField(
        max_length=16, choices=MessagingLimitTier.choices, default=MessagingLimitTier.TIER_250
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["display_phone_number"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(throughput_per_second__gte=1),
                name="%(app_label)s_%(class)s_throughput_positive",
            )
        ]

    def __str__(self) -> str:
        label = self.verified_name or self.account.name
        return f"{self.display_phone_number} ({label})"


# Meta's template names: lowercase letters, digits and underscores, at most 512 characters.
TEMPLATE_NAME_PATTERN = r"^[a-z0-9_]{1,512}$"


def normalize_language(code: str) -> str:
    """Meta's locale form: `en_US` (language in lowercase, region in uppercase, an underscore).

    Webhooks have been seen sending `en-US` for a template created as `en_US`, and people type
    `en-us`, so every code is stored and matched in this one form."""
    language, _, region = (code or "").strip().replace("-", "_").partition("_")
    return f"{language.lower()}_{region.upper()}" if region else language.lower()


class TemplateStatus(models.TextChoices):
    """Meta's template statuses (API values and webhook events), a local DRAFT, and UNKNOWN for any
    value Meta adds later."""

    DRAFT = "DRAFT", "Draft (not submitted)"
    PENDING = "PENDING", "Pending review"
    APPROVED = "APPROVED", "Approved"
    REJECTED = "REJECTED", "Rejected"
    PAUSED = "PAUSED", "Paused"
    DISABLED = "DISABLED", "Disabled"
    IN_APPEAL = "IN_APPEAL", "In appeal"
    FLAGGED = "FLAGGED", "Flagged"
    REINSTATED = "REINSTATED", "Reinstated"
    PENDING_DELETION = "PENDING_DELETION", "Pending deletion"
    DELETED = "DELETED", "Deleted"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED", "Limit exceeded"
    LOCKED = "LOCKED", "Locked"
    ARCHIVED = "ARCHIVED", "Archived"
    UNARCHIVED = "UNARCHIVED", "Unarchived"
    UNKNOWN = "UNKNOWN", "Unknown"


class TemplateCategory(models.TextChoices):
    MARKETING = "MARKETING", "Marketing"
    UTILITY = "UTILITY", "Utility"
    AUTHENTICATION = "AUTHENTICATION", "Authentication"


class TemplateParameterFormat(models.TextChoices):
    POSITIONAL = "POSITIONAL", "Positional ({{1}})"
    NAMED = "NAMED", "Named ({{first_name}})"


class TemplateQualityScore(models.TextChoices):
    GREEN = "GREEN", "Green (high)"
    YELLOW = "YELLOW", "Yellow (medium)"
    RED = "RED", "Red (low)"
    UNKNOWN = "UNKNOWN", "Unknown"


class MessageTemplate(TimeStampedModel):
    """A WhatsApp message template as Meta knows it (or a local draft not yet submitted).

    Templates with the same name in several languages form one *family*; each row is one language
    variant. `components` is kept in Meta's JSON shape (HEADER/BODY/FOOTER/BUTTONS) so it can be
    submitted, compared with what Meta lists and rendered without translation.
    """

    Status = TemplateStatus
    Category = TemplateCategory
    ParameterFormat = TemplateParameterFormat
    QualityScore = TemplateQualityScore

    account = models.ForeignKey(WhatsAppAccount, on_delete=models.PROTECT, related_name="templates")
    name = models.CharField(
        max_length=512,
        validators=[
            RegexValidator(
                TEMPLATE_NAME_PATTERN,
                "Use only lowercase letters, digits and underscores (Meta's template name rule).",
            )
        ],
    )
    language = models.CharField(
        max_length=16, help_text="Meta's locale code, for example en_US, pt_BR or es."
    )
    category = models.CharField(max_length=16, choices=TemplateCategory.choices)
    parameter_format = models.CharField(
        max_length=16,
        choices=TemplateParameterFormat.choices,
        default=TemplateParameterFormat.POSITIONAL,
    )
    components = models.JSONField(
        default=list, help_text="Header, body, footer and buttons in Meta's JSON shape."
    )
    status = models.CharField(
        max_length=20, choices=TemplateStatus.choices, default=TemplateStatus.DRAFT, db_index=True
    )
    rejection_reason = models.CharField(max_length=500, blank=True)
    quality_score = models.CharField(
        max_length=16, choices=TemplateQualityScore.choices, default=TemplateQualityScore.UNKNOWN
    )
    meta_template_id = models.CharField("Meta template id", max_length=64, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name", "language"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "name", "language"],
                name="%(app_label)s_%(class)s_unique_name_language",
            ),
            # Meta's ids are global, but the sandbox serves its demo catalogue with the same ids
            # to every account, so uniqueness is per account.
            models.UniqueConstraint(
                fields=["account", "meta_template_id"],
                condition=~models.Q(meta_template_id=""),
                name="%(app_label)s_%(class)s_unique_meta_template_id",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=TemplateStatus.values),
                name="%(app_label)s_%(class)s_status_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(category__in=TemplateCategory.values),
                name="%(app_label)s_%(class)s_category_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(parameter_format__in=TemplateParameterFormat.values),
                name="%(app_label)s_%(class)s_parameter_format_valid",
            ),
            # A draft exists only here; every other status came from (or went to) Meta.
            models.CheckConstraint(
                condition=models.Q(status=TemplateStatus.DRAFT) | ~models.Q(meta_template_id=""),
                name="%(app_label)s_%(class)s_submitted_has_meta_id",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.language})"

    @property
    def is_sendable(self) -> bool:
        """Meta accepts sends of APPROVED templates only (132001/132015/132016 otherwise)."""
        return self.status == TemplateStatus.APPROVED


class TemplateStatusChange(models.Model):
    """One change of a template's status, kept for template governance (append-only).

    `source` says what changed it (a sync, a webhook, a submission, a person creating a draft);
    `changed_by` is the person when there was one.
    """

    class Source(models.TextChoices):
        DRAFT = "draft", "Draft created"
        SUBMIT = "submit", "Submitted to Meta"
        SYNC = "sync", "Sync with Meta"
        WEBHOOK = "webhook", "Meta webhook"

    template = models.ForeignKey(
        MessageTemplate, on_delete=models.CASCADE, related_name="status_changes"
    )
    from_status = models.CharField(max_length=20, choices=TemplateStatus.choices, blank=True)
    to_status = models.CharField(max_length=20, choices=TemplateStatus.choices)
    source = models.CharField(max_length=16, choices=Source.choices)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    reason = models.CharField(max_length=500, blank=True)
    changed_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-changed_at", "-id"]
        get_latest_by = "changed_at"
        verbose_name = "template status change"

    def __str__(self) -> str:
        return f"{self.template}: {self.from_status or '-'} -> {self.to_status}"
